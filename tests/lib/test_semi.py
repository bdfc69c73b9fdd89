"""MSNet (Qiu et al., semi-supervised de-raining) and its feature-statistics matching loss.

The matching loss is checked against an independent float64 NumPy computation of the formulas in Sec. 3.1:
``L_mean = ||M_s - M_r||_F`` and ``L_cov = (1/d) ||(F_s - M_s)(F_s - M_s)^T - (F_r - M_r)(F_r - M_r)^T||_F``.
"""
import numpy as np
import pytest
import torch

from derain_lib.models import build_model
from derain_lib.models.semi import PAPER_SCHEDULE, MultiScaleUnit, feature_vectors, training_loss

try:  # the matching loss lives in the lead's losses.py; the model tests do not need it
    from derain_lib.losses import mean_cov_matching
except ImportError:  # pragma: no cover
    mean_cov_matching = None
needs_loss = pytest.mark.skipif(mean_cov_matching is None, reason="derain_lib.losses.mean_cov_matching missing")


def small(**kw):
    cfg = {"channels": 8, "match_blocks": 1, "units": 2}
    cfg.update(kw)
    return build_model("msnet", **cfg)


# ---------------------------------------------------------------- reference for L_match (float64, NumPy)
def ref_match(fs: np.ndarray, fr: np.ndarray, normalise: bool):
    """fs: (n_s, d), fr: (n_r, d) rows are samples. Returns (total, mean_term, cov_term)."""
    fs, fr = fs.astype(np.float64), fr.astype(np.float64)
    d = fs.shape[1]
    ms, mr = fs.mean(0), fr.mean(0)
    l_mean = np.sqrt(((ms - mr) ** 2).sum())
    cs = (fs - ms).T @ (fs - ms)  # (d, d): the formula's (F - M)(F - M)^T with F stored d x n
    cr = (fr - mr).T @ (fr - mr)
    if normalise:
        cs, cr = cs / len(fs), cr / len(fr)
    l_cov = np.sqrt(((cs - cr) ** 2).sum()) / d
    return l_mean + l_cov, l_mean, l_cov


# ---------------------------------------------------------------- model shapes and contract
def test_paper_defaults_and_param_count():
    m = build_model("msnet")
    cfg = m.config
    assert (cfg.channels, cfg.scales, cfg.match_weight) == (32, 3, 1.0)
    assert m.scale == 1 and m.tile_multiple == 4
    c = 32
    conv3 = 9 * c * c + c
    n_blocks = cfg.match_blocks * cfg.match_convs + cfg.units * cfg.scales * cfg.unit_convs
    expected = (9 * 3 * c + c) + n_blocks * conv3                       # head + all cascade convs
    expected += sum(c * (k + 1) * c + c for k in range(1, cfg.units))  # dense 1x1 fusions
    expected += c * (cfg.units + 1) * c + c                            # final fusion
    expected += 9 * c * 3 + 3                                          # tail
    assert sum(p.numel() for p in m.parameters()) == expected == 214531
    assert PAPER_SCHEDULE["lr"] == 5e-4 and PAPER_SCHEDULE["batch"] == 16 and PAPER_SCHEDULE["patch"] == 64


@pytest.mark.parametrize("hw", [(37, 53), (64, 64), (1, 1), (5, 3), (4, 9)])
def test_any_size_and_features_exposed(hw):
    torch.manual_seed(0)
    m = small().eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y, aux = m(x, return_stages=True)
        f = m.match_features(x)
    assert y.shape == x.shape
    assert aux["features"].shape == (2, 8, *hw)
    assert torch.equal(f, aux["features"])
    assert len(aux["units"]) == 2 and aux["units"][0].shape == (2, 8, *hw)
    assert torch.allclose(aux["rain"], x - y, atol=1e-6)
    assert feature_vectors(f).shape == (2 * hw[0] * hw[1], 8)


def test_bad_input_is_a_clear_error():
    m = small()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        m(torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match="unknown config"):
        build_model("msnet", chanels=8)


def test_global_residual_zero_tail_is_identity():
    m = small()
    torch.nn.init.zeros_(m.tail.weight)
    torch.nn.init.zeros_(m.tail.bias)
    x = torch.rand(1, 3, 21, 30)
    assert torch.equal(m(x), x)


def test_multiscale_unit_is_sum_of_scales():
    torch.manual_seed(1)
    u = MultiScaleUnit(4, scales=3, convs=1)
    f = torch.rand(2, 4, 16, 12)
    out, zs = u(f, return_scales=True)
    assert len(zs) == 3 and all(z.shape == f.shape for z in zs)
    assert torch.allclose(out, zs[0] + zs[1] + zs[2])
    # the coarsest branch sees only the 4x4 max-pooled map: a change that leaves every 4x4 max unchanged
    # (lowering a non-maximal pixel) leaves Z_3 unchanged
    g = f.clone()
    g[0, 0, 0, 0] = -1.0
    _, zs2 = u(g, return_scales=True)
    assert torch.allclose(zs2[2], zs[2])
    assert not torch.allclose(zs2[0], zs[0])


def test_padding_does_not_leak_into_crop_region_size():
    """Output for a 37x53 image equals the crop of the output for its own reflect-padded 40x56 version."""
    torch.manual_seed(2)
    m = small().eval()
    x = torch.rand(1, 3, 37, 53)
    xp = torch.nn.functional.pad(x, (0, 3, 0, 3), mode="reflect")
    with torch.no_grad():
        assert torch.allclose(m(x), m(xp)[..., :37, :53], atol=1e-6)


# ---------------------------------------------------------------- matching loss vs reference
@needs_loss
@pytest.mark.parametrize("ns,nr,d", [(32, 32, 8), (50, 20, 5), (7, 7, 1)])
def test_matching_loss_matches_float64_reference(ns, nr, d):
    rng = np.random.default_rng(ns + nr + d)
    fs = rng.normal(size=(ns, d))
    fr = rng.normal(loc=0.3, scale=1.7, size=(nr, d)) + rng.normal(size=(1, d))
    total, m, c = mean_cov_matching(torch.from_numpy(fs), torch.from_numpy(fr))
    rt, rm, rc = ref_match(fs, fr, normalise=True)  # losses.py divides scatter by n (documented)
    assert float(m) == pytest.approx(rm, rel=1e-9, abs=1e-12)
    assert float(c) == pytest.approx(rc, rel=1e-9, abs=1e-12)
    assert float(total) == pytest.approx(rt, rel=1e-9)
    # float32 inputs give the same numbers to float32 precision
    t32, _, _ = mean_cov_matching(torch.from_numpy(fs).float(), torch.from_numpy(fr).float())
    assert float(t32) == pytest.approx(rt, rel=1e-4)


@needs_loss
def test_matching_loss_conv_features_are_per_pixel_samples():
    """(B, C, H, W) input means one C-dim sample per pixel, the same as feature_vectors() rows."""
    g = torch.Generator().manual_seed(7)
    a = torch.randn(2, 5, 6, 7, generator=g, dtype=torch.float64)
    b = torch.randn(3, 5, 4, 4, generator=g, dtype=torch.float64)
    got = [float(t) for t in mean_cov_matching(a, b)]
    ref = ref_match(feature_vectors(a).numpy(), feature_vectors(b).numpy(), normalise=True)
    assert got == pytest.approx(list(ref), rel=1e-9)


@needs_loss
def test_matching_loss_zero_for_identical_and_order_invariant():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(40, 6, generator=g)
    b = torch.randn(40, 6, generator=g) + 0.5
    total, m, _c = mean_cov_matching(a, a.clone())
    assert float(total) == pytest.approx(0.0, abs=1e-6) and float(m) == pytest.approx(0.0, abs=1e-6)
    t0 = mean_cov_matching(a, b)[0]
    t1 = mean_cov_matching(a[torch.randperm(40, generator=g)], b[torch.randperm(40, generator=g)])[0]
    assert float(t1) == pytest.approx(float(t0), rel=1e-5)
    # shifting both sets by the same vector changes neither term; scaling one changes the cov term
    shift = torch.randn(1, 6, generator=g)
    assert float(mean_cov_matching(a + shift, b + shift)[0]) == pytest.approx(float(t0), rel=1e-5)
    assert float(mean_cov_matching(a, 3 * a)[2]) > 0.1


@needs_loss
def test_matching_loss_gradients_flow():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(30, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(30, 5, generator=g, dtype=torch.float64, requires_grad=True)
    total, _, _ = mean_cov_matching(a, b * 2 + 1)
    total.backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert b.grad is not None and torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0
    # gradient agrees with finite differences (float64)
    a2, b2 = a.detach().clone().requires_grad_(True), (b.detach() * 2 + 1)
    assert torch.autograd.gradcheck(lambda t: mean_cov_matching(t, b2)[0], (a2,), eps=1e-6, atol=1e-5)


# ---------------------------------------------------------------- training loss
@needs_loss
def test_training_loss_with_and_without_real():
    torch.manual_seed(5)
    m = small()
    batch = {"rainy": torch.rand(2, 3, 24, 20), "clean": torch.rand(2, 3, 24, 20)}
    loss, logs = training_loss(m, batch)
    assert set(logs) == {"sup"} and loss.item() == pytest.approx(logs["sup"])
    with torch.no_grad():
        assert logs["sup"] == pytest.approx(float(((m(batch["rainy"]) - batch["clean"]) ** 2).mean()), rel=1e-5)
    batch["real"] = torch.rand(3, 3, 16, 16) * 0.5
    loss2, logs2 = training_loss(m, batch)
    assert {"sup", "match", "match_mean", "match_cov"} <= set(logs2)
    assert logs2["match"] == pytest.approx(logs2["match_mean"] + logs2["match_cov"], rel=1e-5)
    assert loss2.item() == pytest.approx(logs2["sup"] + logs2["match"], rel=1e-5)
    loss2.backward()
    # the matching term reaches the semi-matching network's weights
    assert m.head.weight.grad.abs().sum() > 0
    m.zero_grad()
    m.config.match_weight = 0.0
    _loss3, logs3 = training_loss(m, batch)
    assert set(logs3) == {"sup"}


@needs_loss
def test_matching_term_moves_features_together():
    """A few Adam steps on L_match alone shrink the synthetic-vs-real feature gap (the mechanism works)."""
    from derain_lib.models.semi import feature_gap

    torch.manual_seed(6)
    m = small()
    syn = torch.rand(4, 3, 16, 16)
    real = torch.rand(4, 3, 16, 16) * 0.3 + 0.6
    before = feature_gap(m, syn, real)["total"]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(20):
        t, _, _ = mean_cov_matching(feature_vectors(m.match_features(syn)), feature_vectors(m.match_features(real)))
        opt.zero_grad()
        t.backward()
        opt.step()
    assert feature_gap(m, syn, real)["total"] < 0.5 * before


# ---------------------------------------------------------------- no-reference rain measure
def test_rain_residual_sees_oriented_streaks_not_isotropic_texture():
    from derain_lib.nr_quality import rain_residual

    rng = np.random.default_rng(0)
    base = (rng.random((160, 200)) * 60 + 90).astype(np.uint8)          # isotropic texture
    img = np.repeat(base[..., None], 3, 2)
    rainy = img.astype(np.int32)
    for _ in range(60):                                # thin (2 px) bright streaks falling down-right at 15 deg
        x0, y0 = rng.integers(0, 200), rng.integers(0, 130)
        for t in range(25):
            x = round(x0 + t * np.tan(np.deg2rad(15)))
            rainy[y0 + t, x:x + 2] += 90
    rainy = rainy.clip(0, 255).astype(np.uint8)
    r0, r1 = rain_residual(img), rain_residual(rainy)
    assert r1["rain_excess"] > 5 * max(r0["rain_excess"], 0.5)
    assert abs(r1["angle"] - 15) <= 10
    with pytest.raises(ValueError, match="uint8"):
        rain_residual(img.astype(np.float32))
