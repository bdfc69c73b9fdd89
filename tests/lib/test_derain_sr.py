"""Tests for the joint heavy-rain removal + super-resolution model (Vu & Kim) and its parts."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from derain_lib import mser, perceptual
from derain_lib.layers.dense import DenseBlock, dense_block_param_count
from derain_lib.layers.rcab import RCAB, rcab_param_count
from derain_lib.models.derain_sr import (
    PAPER_SCHEDULE,
    VARIANTS,
    AttentionFusion,
    OperationLayer,
    SmallUNet,
    StreakNet,
    TransmissionNet,
    invert_heavy_rain,
    synthesize_heavy_rain,
    training_loss,
)
from derain_lib.models.registry import build_model
from derain_lib.paths import data_root

SMALL = {"features": 8, "n_rcab": 1, "rcab_reduction": 4, "stage1_features": 8, "dense_growth": 4, "dense_layers": 2,
             "unet_features": 4}


def nparams(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (5, 3), (1, 1)])
def test_any_size_any_scale(scale, hw):
    torch.manual_seed(0)
    m = build_model("derain_sr", scale=scale, **SMALL).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y, aux = m(x, return_stages=True)
    assert m.scale == scale and m.tile_multiple == 4
    assert y.shape == (2, 3, scale * hw[0], scale * hw[1])
    for k in ("J0", "J1", "J2", "T", "A", "R1", "R2", "attention", "fused", "guidance"):
        assert aux[k].shape[-2:] == hw, k
    assert aux["S"].shape == (2, 1, 3, *hw)
    assert aux["names"] == ["J0", "J1", "J2"]
    assert torch.isfinite(y).all()


def test_issue_example_default_model():
    m = build_model("derain_sr", scale=2).eval()
    with torch.no_grad():
        assert m(torch.rand(1, 3, 37, 53)).shape == (1, 3, 74, 106)


def test_bad_input_and_config():
    m = build_model("derain_sr", **SMALL)
    with pytest.raises(ValueError, match="B, 3, H, W"):
        m(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        m(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="variant"):
        build_model("derain_sr", variant="ats")
    with pytest.raises(ValueError, match="scale"):
        build_model("derain_sr", scale=5)


# ---------------------------------------------------------------------------------------------- parameter counts


def test_param_counts_pinned():
    # closed forms (written independently of the modules) agree with the modules
    assert nparams(RCAB(64, 16)) == rcab_param_count(64, 16) == 2 * (9 * 64 * 64 + 64) + (64 * 4 + 4) + (4 * 64 + 64)
    assert nparams(DenseBlock(32, 16, 4)) == dense_block_param_count(32, 16, 4)
    # the default (x2, full "ats+add+mul") model; changes to the architecture must be deliberate
    assert nparams(build_model("derain_sr")) == 1_231_715
    # x4 adds exactly one more sub-pixel stage: conv 64 -> 256 (3x3)
    assert nparams(build_model("derain_sr", scale=4)) - nparams(build_model("derain_sr")) == 9 * 64 * 256 + 256


# ---------------------------------------------------------------------------------------------- ATS / J0


def test_j0_inverts_known_physics_exactly():
    """Build I = T (J + S) + (1 - T) A with known T, A, S in NumPy (float64) and invert it."""
    rng = np.random.default_rng(0)
    J = rng.uniform(0, 1, (2, 3, 9, 11))
    S = rng.uniform(0, 0.3, (2, 3, 9, 11)) * (rng.uniform(size=(2, 1, 9, 11)) > 0.8)
    T = rng.uniform(0.2, 1.0, (2, 1, 9, 11))
    A = rng.uniform(0.6, 1.0, (2, 3, 1, 1))
    I = T * (J + S) + (1 - T) * A  # the heavy-rain model, written out independently
    t = lambda a: torch.from_numpy(a)
    J0 = invert_heavy_rain(t(I), t(T), t(A), t(S))
    np.testing.assert_allclose(J0.numpy(), J, rtol=0, atol=1e-12)
    np.testing.assert_allclose(synthesize_heavy_rain(t(J), t(T), t(A), t(S)).numpy(), I, atol=1e-12)


def test_division_guard():
    I = torch.rand(1, 3, 4, 4)
    T = torch.zeros(1, 1, 4, 4)
    J0 = invert_heavy_rain(I, T, torch.ones(1, 3, 1, 1), torch.zeros_like(I), eps=1e-3)
    assert torch.isfinite(J0).all()
    # and the model's T never goes below t_min, even for extreme inputs
    net = TransmissionNet(8, t_min=0.05)
    with torch.no_grad():
        for p in net.out.parameters():
            p.fill_(-1e3)
        T = net(torch.rand(2, 3, 8, 8))
    assert T.min() >= 0.05 - 1e-7 and T.max() <= 1.0


def test_model_j0_is_the_physics_inverse_of_its_own_components():
    torch.manual_seed(1)
    m = build_model("derain_sr", **SMALL).double().eval()
    x = torch.rand(1, 3, 13, 18, dtype=torch.float64)
    with torch.no_grad():
        _, aux = m(x, return_stages=True)
    I_rec = synthesize_heavy_rain(aux["J0"], aux["T"], aux["A"], aux["S"].sum(1))
    torch.testing.assert_close(I_rec, x, atol=1e-10, rtol=0)


def test_ats_components_shapes_and_ranges():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 24)
    S = StreakNet(8, n_layers=3, growth=4, dense_layers=2)(x)
    assert S.shape == (2, 3, 3, 16, 24)
    A = SmallUNet(4, depth=2)(x)
    assert A.shape == (2, 3, 16, 24) and A.min() > 0 and A.max() < 1
    tnet = TransmissionNet(8, t_min=0.1)
    T = tnet(x)
    assert T.shape == (2, 1, 16, 24) and T.min() >= 0.1 and T.max() <= 1
    # GAP + FC make T global: changing a corner changes T far away from it, which the two 3x3
    # convolutions alone (5x5 receptive field) could not see
    x2 = x.clone()
    x2[:, :, :4, :4] = 1 - x2[:, :, :4, :4]
    tnet = tnet.double()
    x, x2 = x.double(), x2.double()
    assert (tnet(x2)[..., 8:, 12:] - tnet(x)[..., 8:, 12:]).abs().max() > 1e-9
    with torch.no_grad():
        tnet.fc2.weight.zero_()  # gate constant -> T becomes local again
        tnet.fc2.bias.zero_()
        torch.testing.assert_close(tnet(x2)[..., 8:, 12:], tnet(x)[..., 8:, 12:], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------- operation layers


def test_operation_layers_formulas_and_identity_start():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 10, 12)
    g = torch.rand(2, 1, 10, 12)
    mul, add = OperationLayer("mul", 4, 8), OperationLayer("add", 4, 8)
    J1, R1 = mul(x, g)
    J2, R2 = add(x, g)
    torch.testing.assert_close(J1, x * R1)
    torch.testing.assert_close(J2, x + R2)
    # R1 starts near 1 and R2 near 0: both candidates start as the input
    assert (J1 - x).abs().max() < 0.05 and (J2 - x).abs().max() < 0.05
    # the guidance channel is really used
    assert not torch.allclose(mul(x, torch.zeros_like(g))[0], J1)
    with pytest.raises(ValueError):
        OperationLayer("sub", 4, 8)


# ---------------------------------------------------------------------------------------------- attention fusion


def test_attention_weights_sum_to_one_and_fuse():
    torch.manual_seed(0)
    fus = AttentionFusion(3, 8)
    cands = [torch.rand(2, 3, 7, 9) for _ in range(3)]
    fused, W = fus(cands)
    assert W.shape == (2, 3, 7, 9) and (W >= 0).all()
    torch.testing.assert_close(W.sum(1), torch.ones(2, 7, 9))
    ref = sum(W[:, k:k + 1] * cands[k] for k in range(3))
    torch.testing.assert_close(fused, ref)
    # a convex combination stays inside the candidates' range, pixelwise
    lo = torch.minimum(torch.minimum(cands[0], cands[1]), cands[2])
    hi = torch.maximum(torch.maximum(cands[0], cands[1]), cands[2])
    assert (fused >= lo - 1e-6).all() and (fused <= hi + 1e-6).all()


# ---------------------------------------------------------------------------------------------- MSER guidance


def test_mser_guidance_finds_a_blob_and_nothing_on_flat():
    import cv2

    yy, xx = np.mgrid[:64, :96]
    img = np.where((yy - 33) ** 2 + (xx - 43) ** 2 <= 36, 0.9, 0.2)  # one bright disk: an extremal region
    img = np.repeat(cv2.GaussianBlur(img, (0, 0), 1.0)[..., None], 3, axis=2)  # a camera's soft edge
    g = mser.guidance_map(img)
    assert g.shape == (64, 96) and g.dtype == np.float32
    assert g.max() == 1.0 and g[33, 43] == 1.0
    assert g[0, 0] == 0 and g[60, 5] == 0  # far from the blob
    ph, pw = mser.patch_size(64, 96)
    assert (ph, pw) == (4, 6)
    assert (g > 0).sum() <= 4 * ph * pw  # patches of the paper's size, not the whole image
    assert mser.guidance_map(np.full((32, 32, 3), 0.5)).max() == 0.0


def test_mser_guidance_on_a_real_rainy_image():
    folder = data_root() / "outdoor_rain_sample" / "rainy"
    files = sorted(folder.glob("*.png")) if folder.exists() else []
    if not files:
        pytest.skip(f"no outdoor_rain_sample images under {folder}")
    from PIL import Image

    arr = np.asarray(Image.open(files[0]).convert("RGB"))[::2, ::2]  # the x2 low-resolution input
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    g = mser.mser_guidance(x)
    assert g.shape == (1, 1, *arr.shape[:2])
    assert g.min() >= 0 and g.max() == 1
    covered = float((g > 0).float().mean())
    assert 0.02 < covered < 0.95, covered  # informative: neither empty nor everything
    regions, boxes = mser.mser_regions(arr)
    assert len(regions) == len(boxes) > 5


def test_model_without_mser_has_three_channel_operation_input():
    m = build_model("derain_sr", use_mser=False, **SMALL)
    assert m.mul.conv1.in_channels == 3
    _, aux = m(torch.rand(1, 3, 12, 12), return_stages=True)
    assert "guidance" not in aux


# ---------------------------------------------------------------------------------------------- variants + loss


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_ablation_variants_build_run_and_train(variant):
    torch.manual_seed(0)
    m = build_model("derain_sr", variant=variant, **SMALL)
    batch = {"rainy": torch.rand(2, 3, 12, 16), "clean": torch.rand(2, 3, 24, 32)}
    loss, logs = training_loss(m, batch)
    loss.backward()
    want = set(VARIANTS[variant])
    assert {k[3:] for k in logs if k.startswith("l2_J")} == want
    assert m.fusion.k == len(want)
    assert (m.streaks is not None) == ("J0" in want)
    # every parameter of the built branches receives a gradient
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing, missing
    assert np.isfinite(loss.item())


def test_training_loss_stage_terms_and_size_check():
    torch.manual_seed(0)
    m = build_model("derain_sr", lambda_vgg=0.0, **SMALL)
    clean = torch.rand(1, 3, 16, 16)
    clean_lr = torch.nn.functional.interpolate(clean, scale_factor=0.5, mode="bicubic", antialias=True)
    loss, logs = training_loss(m, {"rainy": clean_lr, "clean": clean, "clean_lr": clean_lr})
    s1 = logs["l2_J0"] + logs["l2_J1"] + logs["l2_J2"]
    assert logs["l_stage1"] == pytest.approx(s1, rel=1e-5)
    assert loss.item() == pytest.approx(s1 + logs["l2_sr"], rel=1e-5)
    with pytest.raises(ValueError, match="scale=2"):
        training_loss(m, {"rainy": torch.rand(1, 3, 8, 8), "clean": torch.rand(1, 3, 8, 8)})


def test_paper_schedule():
    assert PAPER_SCHEDULE["lr"] == 5e-5 and PAPER_SCHEDULE["batch"] == 4
    assert PAPER_SCHEDULE["epochs"] == 500 and PAPER_SCHEDULE["milestones"] == (100,)
    assert PAPER_SCHEDULE["gamma"] == 0.5 and PAPER_SCHEDULE["patch"] == (200, 300)


# ---------------------------------------------------------------------------------------------- VGG perceptual


@pytest.fixture
def vgg_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DERAIN_VGG16", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(perceptual, "candidate_paths",
                        lambda orig=perceptual.candidate_paths: [p for p in orig() if str(tmp_path) in str(p)])
    perceptual.reset_cache()
    yield tmp_path
    perceptual.reset_cache()


def test_vgg_missing_term_skipped_with_one_line(vgg_home, caplog):
    m = build_model("derain_sr", **SMALL)
    batch = {"rainy": torch.rand(1, 3, 8, 8), "clean": torch.rand(1, 3, 16, 16)}
    with caplog.at_level(logging.WARNING, logger="derain_lib.perceptual"):
        _, logs1 = training_loss(m, batch)
        _, logs2 = training_loss(m, batch)
    assert "l_vgg" not in logs1 and "l_vgg" not in logs2
    lines = [r for r in caplog.records if r.name == "derain_lib.perceptual"]
    assert len(lines) == 1 and "skipped" in lines[0].getMessage()


def test_vgg_present_loads_torchvision_layout(vgg_home):
    torch.manual_seed(0)
    full = perceptual.VGG16Features("pool5")  # all 13 convs, torchvision's key names
    state = {k: v for k, v in full.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # extra keys of the full model are ignored
    ckpt = vgg_home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(state, ckpt / perceptual.VGG16_FILE)
    net = perceptual.load_vgg16_features("relu3_3")
    assert len([k for k in net.state_dict() if k.endswith("weight")]) == 7  # conv1_1 .. conv3_3
    torch.testing.assert_close(net.features[14].weight, full.features[14].weight)
    m = build_model("derain_sr", **SMALL)
    loss, logs = training_loss(m, {"rainy": torch.rand(1, 3, 8, 8), "clean": torch.rand(1, 3, 16, 16)})
    assert logs["l_vgg"] > 0
    loss.backward()
    assert all(p.grad is None for p in net.parameters())


def test_vgg_feature_layout_matches_torchvision_indices():
    assert perceptual.LAYER_NAMES[15] == "relu3_3" and perceptual.LAYER_NAMES[8] == "relu2_2"
    assert len(perceptual.LAYER_NAMES) == 31  # len(torchvision.models.vgg16().features)


# ---------------------------------------------------------------------------------------------- checkpoint


def test_checkpoint_round_trip(tmp_path):
    from derain_lib.checkpoint import load_model, save_weights

    torch.manual_seed(0)
    m = build_model("derain_sr", scale=4, variant="ats+add", **SMALL).eval()
    p = save_weights(m, tmp_path / "x.safetensors", {"note": "test"})
    m2 = load_model(p, device="cpu")
    assert m2.scale == 4 and m2.config.variant == "ats+add"
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))


def test_derain_api_upscales_with_and_without_tiles():
    infer = pytest.importorskip("derain_lib.infer")
    torch.manual_seed(0)
    m = build_model("derain_sr", scale=2, **SMALL).eval()
    img = (np.random.default_rng(0).uniform(size=(45, 70, 3)) * 255).astype(np.uint8)
    out = infer.derain(img, m, tile=None)
    assert out.shape == (90, 140, 3) and out.dtype == np.uint8
    tiled = infer.derain(img, m, tile=32, overlap=8)
    assert tiled.shape == (90, 140, 3)
