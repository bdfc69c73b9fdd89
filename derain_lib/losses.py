"""Training losses shared by the models.

* :func:`ssim_torch` is the same SSIM as :func:`derain_lib.metrics.ssim` (Gaussian 11x11, sigma 1.5, valid
  filtering), differentiable, on images in [0, 1] (so C1, C2 use L = 1), averaged over channels.
* :func:`stage_weighted` sums a per-stage loss with per-stage weights (DRN's Eq. 2-3, S-DSEN's per-stage
  supervision).
* :func:`mean_cov_matching` is the semi-supervised paper's L_match = L_mean + L_cov (Qiu et al., Sec. 3.1).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    w = torch.outer(g, g)
    return w.expand(channels, 1, size, size).contiguous()


def _at_least_fp32(*dtypes: torch.dtype) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs, float64 when any input is float64 (never lose precision)."""
    dt = torch.float32
    for d in dtypes:
        dt = torch.promote_types(dt, d)
    return dt


def ssim_torch(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
               reduction: str = "mean") -> torch.Tensor:
    """SSIM of (B, C, H, W) images in [0, 1]; ``reduction='none'`` returns one value per image.

    Always computed in at least float32 (float64 stays float64) with autocast off: the local variances are
    differences of nearly equal means (``E[x^2] - E[x]^2``), which bfloat16/float16 would cancel to noise under
    mixed precision.
    """
    if x.shape != y.shape:
        raise ValueError(f"ssim_torch: shapes differ {tuple(x.shape)} vs {tuple(y.shape)}")
    with torch.autocast(x.device.type, enabled=False):
        dt = _at_least_fp32(x.dtype, y.dtype)
        return _ssim_at(x.to(dt), y.to(dt), window, sigma, reduction)


def _ssim_at(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float, reduction: str) -> torch.Tensor:
    c = x.shape[1]
    w = _gaussian_window(window, sigma, c, x.device, x.dtype)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_x = F.conv2d(x, w, groups=c)
    mu_y = F.conv2d(y, w, groups=c)
    s_xx = F.conv2d(x * x, w, groups=c) - mu_x ** 2
    s_yy = F.conv2d(y * y, w, groups=c) - mu_y ** 2
    s_xy = F.conv2d(x * y, w, groups=c) - mu_x * mu_y
    m = ((2 * mu_x * mu_y + c1) * (2 * s_xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (s_xx + s_yy + c2))
    per_image = m.flatten(1).mean(1)
    return per_image if reduction == "none" else per_image.mean()


def neg_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative SSIM, the DRN/PReNet training loss."""
    return -ssim_torch(x, y)


def l2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    return F.mse_loss(x, y)


def stage_weighted(stages: Sequence[torch.Tensor], target: torch.Tensor, weights: Sequence[float],
                   base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = l2) -> torch.Tensor:
    """sum_t weights[t] * base(stages[t], target)."""
    if len(stages) != len(weights):
        raise ValueError(f"{len(stages)} stage outputs but {len(weights)} weights")
    return sum(w * base(s, target) for s, w in zip(stages, weights))


def feature_matrix(feat: torch.Tensor) -> torch.Tensor:
    """Features to a (d, n) matrix: (B, C, H, W) -> one C-dim sample per pixel; (N, d) -> transposed."""
    if feat.ndim == 4:
        return feat.permute(1, 0, 2, 3).reshape(feat.shape[1], -1)
    if feat.ndim == 2:
        return feat.t()
    raise ValueError(f"features must be (B, C, H, W) or (N, d), got {tuple(feat.shape)}")


def mean_cov_matching(feat_syn: torch.Tensor,
                      feat_real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L_match = L_mean + L_cov between synthetic and real feature statistics (Qiu et al., Sec. 3.1).

    ``F`` is a (d, n) matrix of n feature vectors of dimension d (for conv features, each pixel's C-vector is
    one sample, so d = C), ``M`` its mean vector:

        L_mean = || M_s - M_r ||_F
        L_cov  = (1/d) || (F_s - M_s)(F_s - M_s)^T / n_s - (F_r - M_r)(F_r - M_r)^T / n_r ||_F

    The scatter matrices are divided by the number of samples (i.e. covariances) so that two batches of
    different sizes, or crops of different sizes, are comparable; the paper leaves this normalisation implicit.
    Returns (total, mean_term, cov_term).  Computed in at least float32 (float64 stays float64) with autocast
    off (covariances of low-precision features would lose the small terms).
    """
    with torch.autocast(feat_syn.device.type, enabled=False):
        dt = _at_least_fp32(feat_syn.dtype, feat_real.dtype)
        return _mean_cov_at(feat_syn.to(dt), feat_real.to(dt))


def _mean_cov_at(feat_syn: torch.Tensor, feat_real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fs, fr = feature_matrix(feat_syn), feature_matrix(feat_real)
    if fs.shape[0] != fr.shape[0]:
        raise ValueError(f"feature dimensions differ: {fs.shape[0]} vs {fr.shape[0]}")
    d = fs.shape[0]
    ms, mr = fs.mean(1, keepdim=True), fr.mean(1, keepdim=True)
    cs = (fs - ms) @ (fs - ms).t() / fs.shape[1]
    cr = (fr - mr) @ (fr - mr).t() / fr.shape[1]
    mean_term = torch.linalg.norm(ms - mr)
    cov_term = torch.linalg.norm(cs - cr) / d
    return mean_term + cov_term, mean_term, cov_term
