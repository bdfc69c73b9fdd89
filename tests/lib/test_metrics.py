"""PSNR/SSIM against independent references (scikit-image), and the Rain100H rainy-input figure."""
import numpy as np
import pytest
from helpers import require_data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from derain_lib.metrics import all_metrics, psnr, rgb_to_y, ssim


def _pair(rng, h=64, w=80):
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    noise = rng.normal(0, 12, a.shape)
    b = np.clip(a.astype(float) + noise, 0, 255).astype(np.uint8)
    return a, b


def test_y_matches_skimage_rgb2ycbcr(rng):
    a, _ = _pair(rng)
    np.testing.assert_allclose(rgb_to_y(a), rgb2ycbcr(a)[..., 0], atol=1e-9)
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)


def test_psnr_matches_skimage(rng):
    a, b = _pair(rng)
    ref_y = peak_signal_noise_ratio(rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0], data_range=255)
    ref_rgb = peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(b, a, y_channel=True) == pytest.approx(ref_y, abs=1e-9)
    assert psnr(b, a, y_channel=False) == pytest.approx(ref_rgb, abs=1e-9)


def test_ssim_matches_skimage_gaussian(rng):
    a, b = _pair(rng)
    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    ref_y = structural_similarity(rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0], **kw)
    ref_rgb = structural_similarity(a.astype(float), b.astype(float), channel_axis=2, **kw)
    assert ssim(b, a, y_channel=True) == pytest.approx(ref_y, abs=1e-9)
    assert ssim(b, a, y_channel=False) == pytest.approx(ref_rgb, abs=1e-9)


def test_identical_and_errors(rng):
    a, b = _pair(rng)
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(b, a) < psnr(a, a)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, a[:10])
    with pytest.raises(ValueError, match="uint8"):
        psnr(a.astype(float), a)
    with pytest.raises(ValueError, match="11x11"):
        ssim(a[:8, :8], a[:8, :8])
    m = all_metrics(b, a)
    assert set(m) == {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}


def test_crop_border(rng):
    a, b = _pair(rng)
    b2 = b.copy()
    b2[:4] = 0  # damage only the border
    assert psnr(b2, a, crop_border=4) == pytest.approx(psnr(b[4:-4, 4:-4], a[4:-4, 4:-4]))


@pytest.mark.slow
@require_data("rain100H")
def test_rain100h_rainy_input_matches_literature():
    """The literature's 'rainy input' figure for Rain100H is 13.56 dB Y-PSNR (PReNet/DRN tables)."""
    from derain_lib.evaluate import evaluate
    r = evaluate(None, "rain100H")
    assert r["images"] == 100
    assert r["mean"]["input_psnr_y"] == pytest.approx(13.56, abs=0.005)
