"""PSNR and SSIM as deraining papers report them.

* ``y_channel=True`` (the default, as in the papers' MATLAB scripts): compare the luma of MATLAB's
  ``rgb2ycbcr`` (ITU-R BT.601, range 16-235), ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, computed
  in float64 and *not* rounded, like BasicSR's ``bgr2ycbcr(y_only=True)``.
* ``y_channel=False``: all three RGB channels on the 0-255 scale (SSIM is averaged over channels).
* SSIM is the standard Wang et al. (2004) form: 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03,
  L=255, "valid" filtering (no padding), as in BasicSR's ``calculate_ssim``.

Inputs are uint8 RGB arrays (H, W, 3).  Always label which variant a number is.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64) / 255.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 luma in [16, 235] (MATLAB ``rgb2ycbcr``)."""
    img = np.asarray(image, dtype=np.float64)
    return img @ _Y_WEIGHTS + 16.0


def _prepare(pred: np.ndarray, ref: np.ndarray, y_channel: bool, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"image shapes differ: {pred.shape} vs {ref.shape}")
    if pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"expected uint8 RGB arrays (H, W, 3), got shape {pred.shape}")
    if pred.dtype != np.uint8 or ref.dtype != np.uint8:
        raise ValueError(f"expected uint8 arrays, got {pred.dtype} and {ref.dtype}")
    if crop_border:
        pred = pred[crop_border:-crop_border, crop_border:-crop_border]
        ref = ref[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb_to_y(pred)[..., None], rgb_to_y(ref)[..., None]
    return pred.astype(np.float64), ref.astype(np.float64)


def psnr(pred: np.ndarray, ref: np.ndarray, y_channel: bool = True, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    a, b = _prepare(pred, ref, y_channel, crop_border)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 ** 2 / mse))


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    # separable Gaussian filter, then keep only positions where the 11x11 window fits ("valid")
    out = correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1, mode="constant")
    r = len(g) // 2
    return out[r:-r, r:-r]


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    g = _gaussian_1d()
    mu_a = _filter_valid(a, g)
    mu_b = _filter_valid(b, g)
    s_aa = _filter_valid(a * a, g) - mu_a ** 2
    s_bb = _filter_valid(b * b, g) - mu_b ** 2
    s_ab = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (s_aa + s_bb + c2)
    return float(np.mean(num / den))


def ssim(pred: np.ndarray, ref: np.ndarray, y_channel: bool = True, crop_border: int = 0) -> float:
    """Structural similarity (Gaussian 11x11, sigma 1.5); images must be at least 11x11."""
    a, b = _prepare(pred, ref, y_channel, crop_border)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def all_metrics(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """The four figures we always report, labelled."""
    return {
        "psnr_y": psnr(pred, ref, True),
        "ssim_y": ssim(pred, ref, True),
        "psnr_rgb": psnr(pred, ref, False),
        "ssim_rgb": ssim(pred, ref, False),
    }
