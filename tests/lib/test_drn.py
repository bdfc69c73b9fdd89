"""DRN (Cai et al., ICIP 2019): parameter count, shapes, weight sharing, fast path, loss vs a float64 reference."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from helpers import randomised
from skimage.metrics import structural_similarity

from derain_lib.models.drn import DRN, PAPER_SCHEDULE, stage_weights, training_loss
from derain_lib.models.registry import build_model, config_dict


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_count_matches_paper_table1():
    # conv0 6->16: 880, four 16->16 convs: 4 * 2320, conv 16->3: 435  (paper Table 1: 10,595)
    assert n_params(DRN()) == 10_595
    assert 6 * 16 * 9 + 16 + 4 * (16 * 16 * 9 + 16) + 16 * 3 * 9 + 3 == 10_595


@pytest.mark.parametrize("T,R", [(1, 1), (3, 2), (12, 0)])
def test_parameter_count_independent_of_recursions(T, R):
    assert n_params(DRN(DRN.Config(stages=T, recursions=R))) == 10_595


def test_defaults_are_paper_config_and_json_serialisable():
    m = build_model("drn")
    assert (m.config.stages, m.config.recursions, m.config.features) == (7, 7, 16)
    assert m.scale == 1 and m.tile_multiple == 1
    json.dumps(config_dict(m))
    assert PAPER_SCHEDULE["lr"] == 1e-3 and PAPER_SCHEDULE["batch"] == 16 and PAPER_SCHEDULE["patch"] == 100
    assert PAPER_SCHEDULE["milestones"] == [30, 50, 80] and PAPER_SCHEDULE["gamma"] == 0.5
    with pytest.raises(TypeError):
        build_model("drn", stage=3)  # typo must not pass silently


@pytest.mark.parametrize("train_mode", [True, False])
def test_odd_sizes_batch_and_stages(train_mode):
    m = randomised(DRN(DRN.Config(stages=3, recursions=2)))
    m.train(train_mode)
    x = torch.rand(2, 3, 37, 53)
    with torch.set_grad_enabled(train_mode):
        out, stages = m(x, return_stages=True)
        out_only = m(x)
    assert out.shape == (2, 3, 37, 53)
    assert len(stages) == 3 and all(s.shape == x.shape for s in stages)
    assert torch.equal(stages[-1], out)
    assert torch.allclose(out_only, out, atol=1e-6)
    assert not torch.allclose(stages[0], stages[1])  # stages really differ


def test_fast_inference_path_equals_training_path():
    m = randomised(DRN(DRN.Config(stages=4, recursions=3)), seed=1, std=0.05).eval()
    x = torch.rand(1, 3, 29, 41, generator=torch.Generator().manual_seed(2))
    ref = m.forward_reference(x)               # autograd-capable path, NCHW, torch.cat per stage
    with torch.no_grad():
        _out, fast = m(x, return_stages=True)    # eval + no_grad -> _forward_fast
    assert len(fast) == len(ref) == 4
    for a, b in zip(fast, ref):
        assert a.is_contiguous() and b.abs().max() < 5  # image-scale values, so 1e-4 is a meaningful bound
        assert (a - b).abs().max().item() < 1e-4
    # and it really is a different code path, not the same function called twice
    assert m.config.fast_inference and not m.training


def test_weights_shared_across_stages():
    """Stages share one set of weights: a T=3 model with T=7 weights gives the T=7 model's first 3 stages."""
    m7 = randomised(DRN(), seed=3, std=0.05)
    m3 = DRN(DRN.Config(stages=3))
    assert m3.state_dict().keys() == m7.state_dict().keys()
    m3.load_state_dict(m7.state_dict(), strict=True)
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        _, s7 = m7.eval()(x, return_stages=True)
        _, s3 = m3.eval()(x, return_stages=True)
    for a, b in zip(s3, s7[:3]):
        assert torch.allclose(a, b, atol=1e-6)


def test_stage_weights_paper_and_generalised():
    assert stage_weights(7) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.7])
    assert stage_weights(1) == [1.7]
    w = stage_weights(4)
    assert w == pytest.approx([0.2, 0.4, 0.6, 1.7]) and len(stage_weights(12)) == 12
    with pytest.raises(ValueError):
        stage_weights(0)


def ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Independent float64 SSIM: skimage, Gaussian 11x11 sigma 1.5, population covariance, data range 1."""
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=0)


def test_training_loss_matches_float64_reference():
    pytest.importorskip("derain_lib.losses")
    torch.manual_seed(0)
    m = randomised(DRN(DRN.Config(stages=3, recursions=1)), seed=4, std=0.05).train()
    clean = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(5))
    rainy = (clean + 0.3 * torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    loss, logs = training_loss(m, {"rainy": rainy, "clean": clean})

    # reference: stage outputs in float64, SSIM from skimage per image, lambda from the paper's rule
    m64 = DRN(DRN.Config(stages=3, recursions=1)).double()
    m64.load_state_dict(m.state_dict())
    with torch.no_grad():
        _, stages = m64.train()(rainy.double(), return_stages=True)
    lam = stage_weights(3)
    ref = 0.0
    for t, s in enumerate(stages):
        per_image = [ssim_reference(s[i].numpy(), clean[i].double().numpy()) for i in range(len(clean))]
        ref += -lam[t] * float(np.mean(per_image))
    assert loss.item() == pytest.approx(ref, abs=2e-5)
    assert set(logs) >= {"ssim_last"} and all(isinstance(v, float) for v in logs.values())

    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def test_bad_input_raises_clear_error():
    m = DRN()
    with pytest.raises(ValueError, match="expects"):
        m(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="expects"):
        m(torch.rand(3, 8, 8))
    with pytest.raises(ValueError):
        DRN(DRN.Config(stages=0))


def test_config_roundtrip():
    cfg = DRN.Config(stages=5, recursions=3)
    m = build_model("drn", **dataclasses.asdict(cfg))
    assert m.config == cfg


def test_shipped_weights_load_strictly():
    from derain_lib.checkpoint import list_weights, load_model

    names = [n for n in list_weights() if n.startswith("drn")]
    if not names:
        pytest.skip("no DRN weights shipped")
    for n in names:
        m = load_model(n, device="cpu")
        assert n_params(m) == 10_595 and m.config.stages == 7 and m.config.recursions == 7
        x = torch.rand(1, 3, 17, 23, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = m(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("concat", ["input_first", "x_first"])
def test_authors_reference_equals_both_of_our_paths(concat):
    """The authors' forward (either concatenation order, weights arranged by from_drn) equals our training
    path and our fused inference path, stage by stage, on odd sizes and a batch of two."""
    from derain_lib.models.drn_reference import from_drn

    model = randomised(DRN(DRN.Config(stages=4, recursions=3)), seed=8, std=0.05).eval()
    ref = from_drn(model, concat=concat)
    x = torch.rand(2, 3, 19, 26, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        _want, want_stages = ref(x)
        _, fast = model(x, return_stages=True)
        aten = model._forward_fast_aten(x, keep_stages=True)
        again = model(x)
    slow = model.forward_reference(x)
    for a, b, c, d in zip(want_stages, fast, aten, slow):
        assert (a - b).abs().max() < 1e-5 and (a - c).abs().max() < 1e-5 and (a - d.detach()).abs().max() < 1e-5
    assert torch.equal(fast[-1], again)  # deterministic; return_stages does not change the result
