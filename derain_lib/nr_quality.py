"""A no-reference rain-residual measure for photos without ground truth.

Standard blind IQA scores (NIQE, BRISQUE) need model parameters fitted on a pristine image corpus that we cannot
ship or download here, so for real rainy photos we use a measure built from what makes rain streaks rain:

* they are **bright and thin**: a white top-hat of the luma (``Y - opening(Y, w x w square)``) keeps structures
  brighter than their surroundings and thinner than ``w`` pixels;
* they are **long and share one direction** across the photo: opening that top-hat with a line of length ``L``
  at angle theta keeps only what is elongated along theta.

For angles theta in [-max_angle, max_angle] (degrees from vertical) we compute ``e(theta)`` = mean of the
line-opened top-hat.  Natural texture is spread over many directions; rain piles up in one.  So

* ``rain_excess`` = ``max_theta e(theta) - median_theta e(theta)`` (x 1000, luma in [0, 1]) -- the thin bright
  elongated energy along the dominant direction beyond what a typical direction has.  Lower is better.
* ``texture`` = ``median_theta e(theta)`` (x 1000) -- thin bright structure in a typical direction.  A de-rainer
  that also erases texture lowers it; comparing it to the input's value tells whether a lower ``rain_excess``
  came from removing rain or from blurring everything.

This is a heuristic, not a perceptual quality score.  :func:`validate_on_pairs` checks it where the truth is
known: on paired synthetic sets, the rainy image should score higher ``rain_excess`` than its clean image.
Near-vertical bright man-made lines (window frames, poles) also raise it; read it together with the pictures.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["rain_residual", "validate_on_pairs"]


def _luma(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    x = img.astype(np.float32) / 255.0
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A thin (8-connected, one pixel per step) line of about ``length`` pixels at ``angle_deg`` from vertical.

    Same convention as :mod:`derain_lib.rain`: positive angles fall down and to the right.  One pixel per row
    (or per column for flat lines) matters: a 4-connected staircase would not fit inside a 1-pixel streak.
    """
    r = length // 2
    k = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
    t = np.deg2rad(angle_deg)
    dx, dy = np.sin(t), np.cos(t)  # direction (columns, rows)
    if abs(dy) >= abs(dx):  # steep: one pixel per row
        n = round(r * abs(dy))
        for i in range(-n, n + 1):
            k[r + i, r + round(i * dx / dy)] = 1
    else:  # flat: one pixel per column
        n = round(r * abs(dx))
        for j in range(-n, n + 1):
            k[r + round(j * dy / dx), r + j] = 1
    return k


def rain_residual(img: np.ndarray, width: int = 7, length: int = 15, max_angle: float = 60.0,
                  step: float = 7.5, max_side: int = 640) -> dict:
    """``{"rain_excess", "texture", "angle"}`` of one HxWx3 uint8 RGB image (see the module docstring).

    The image is downscaled (area) so that its longer side is at most ``max_side``; the measure then sees rain
    streaks at a comparable scale across photo sizes.  ``angle`` is the dominant direction (deg from vertical).
    """
    import cv2

    y = _luma(img)
    h, w = y.shape
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        y = cv2.resize(y, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    sq = cv2.getStructuringElement(cv2.MORPH_RECT, (width, width))
    tophat = y - cv2.morphologyEx(y, cv2.MORPH_OPEN, sq)  # bright structures thinner than `width`
    angles = np.arange(-max_angle, max_angle + 1e-9, step)
    e = np.array([cv2.morphologyEx(tophat, cv2.MORPH_OPEN, _line_kernel(length, a)).mean() for a in angles])
    return {
        "rain_excess": float((e.max() - np.median(e)) * 1000.0),
        "texture": float(np.median(e) * 1000.0),
        "angle": float(angles[int(e.argmax())]),
    }


def validate_on_pairs(folder: str | Path, limit: int | None = None) -> dict:
    """Check the measure where truth is known: rainy vs clean ``rain_excess`` on a paired folder.

    Returns ``{"n", "frac_rainy_higher", "mean_rainy", "mean_clean"}``.
    """
    from .io import read_image

    folder = Path(folder)
    names = sorted(p.name for p in (folder / "rainy").iterdir())[:limit]
    r = np.array([rain_residual(read_image(folder / "rainy" / n))["rain_excess"] for n in names])
    c = np.array([rain_residual(read_image(folder / "clean" / n))["rain_excess"] for n in names])
    return {"n": len(names), "frac_rainy_higher": float((r > c).mean()),
            "mean_rainy": float(r.mean()), "mean_clean": float(c.mean())}
