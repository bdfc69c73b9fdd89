"""Rain synthesis: seeded, the imaging model holds exactly, angles go where asked, presets look like the sets."""
import numpy as np
import pytest
import torch

from derain_lib.metrics import psnr
from derain_lib.rain import PRESETS, RainParams, add_rain, downsample, rain_batch, streak_layer


def _orientation_deg(s: np.ndarray) -> float:
    """Dominant streak direction from the structure tensor (independent of the synthesizer's code)."""
    gy, gx = np.gradient(s.astype(np.float64))
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    # gradient direction is perpendicular to the streaks; angle of the gradient's principal axis:
    theta = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # 0 = gradients along x = vertical streaks
    return -theta


@pytest.mark.parametrize("angle", [-30.0, 0.0, 20.0, 45.0])
def test_streak_angle(angle):
    g = torch.Generator().manual_seed(1)
    one = lambda v: torch.tensor([float(v)])
    s = streak_layer(1, 160, 160, one(angle), one(0.002), one(40), one(0.8), one(0.8), one(0.0), g)
    est = _orientation_deg(s[0, 0].numpy())
    assert est == pytest.approx(angle, abs=4.0)


def test_seeded_and_reproducible(photo):
    a = add_rain(photo, angle=10, seed=3)
    b = add_rain(photo, angle=10, seed=3)
    c = add_rain(photo, angle=10, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    assert a.dtype == np.uint8 and a.shape == photo.shape


def test_additive_model_only_brightens(photo):
    r = add_rain(photo, density=0.003, seed=0)
    assert np.all(r.astype(int) >= photo.astype(int))
    assert psnr(r, photo) < 40


def test_heavy_rain_model_identity():
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 48, 40) * 0.5
    rainy, parts = rain_batch(clean, "heavy_haze", torch.Generator().manual_seed(0))
    t, a, s = parts["transmission"], parts["atmospheric_light"], parts["streaks"]
    assert s.shape[:3] == (2, s.shape[1], 1) and t.shape == (2, 1, 48, 40) and a.shape == (2, 3, 1, 1)
    assert float(t.min()) > 0 and float(t.max()) < 1
    expected = (t * (clean + s.sum(1)) + (1 - t) * a).clamp(0, 1)
    torch.testing.assert_close(rainy, expected)


@pytest.mark.parametrize("preset,lo,hi", [("light", 22, 33), ("heavy", 10, 18), ("heavy_thin", 10, 18),
                                          ("heavy_cross", 10, 18), ("heavy_haze", 11, 20)])
def test_presets_match_benchmark_difficulty(preset, lo, hi):
    """Mean input PSNR over real photos lands near the benchmarks' (Rain100L ~27-30, Rain100H 13.6, Outdoor 15.6)."""
    from skimage import data
    imgs = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    g = torch.Generator().manual_seed(0)
    vals = []
    from derain_lib.io import to_tensor, to_uint8
    for im in imgs:
        r, _ = rain_batch(to_tensor(im), preset, g)
        vals.append(psnr(to_uint8(r), im))
    assert lo < np.mean(vals) < hi


def test_angle_range_override():
    g = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 3, 160, 160)
    _, parts = rain_batch(clean, "heavy", g, angle_range=(60.0, 60.0))
    est = _orientation_deg(parts["streaks"].sum(1)[0, 0].numpy())
    assert est == pytest.approx(60.0, abs=5.0)


def test_downsample_and_validation(photo):
    x = torch.rand(1, 3, 64, 48)
    assert downsample(x, 2).shape == (1, 3, 32, 24)
    assert downsample(x, 1) is x
    with pytest.raises(ValueError, match="haze"):
        add_rain(photo, haze=1.5)
    with pytest.raises(ValueError, match="preset"):
        rain_batch(x, "drizzle")
    assert isinstance(PRESETS["heavy"], RainParams)


def test_joined_presets_draw_each_image_from_one_of_them():
    """'a+b' gives every image the rain of a or of b: with light+heavy_cross on a black batch, each image's
    streak coverage is either light's (sparse) or heavy_cross's (dense), and both occur."""
    g = torch.Generator().manual_seed(3)
    clean = torch.zeros(24, 3, 96, 96)
    rainy, parts = rain_batch(clean, "light+heavy_cross", g)
    layers = (parts["streaks"].flatten(2).amax(2) > 0).sum(1)   # active layers per image
    assert set(layers.tolist()) <= {1, 2, 3, 4, 5}
    assert (layers == 1).any() and (layers >= 2).any()            # light has 1 layer, heavy_cross 2-5
    cover = (rainy.mean(1) > 0.08).float().mean((1, 2))
    assert cover[layers == 1].max() < cover[layers >= 2].min()
    with pytest.raises(ValueError, match="join them with"):
        rain_batch(clean, "heavy+drizzle")
    with pytest.raises(ValueError, match="preset"):
        rain_batch(clean, "mixed+heavy")
