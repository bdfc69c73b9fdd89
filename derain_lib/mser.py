"""MSER guidance for the operation layers of Vu & Kim's joint heavy-rain removal + SR network (Sec. 2.1).

What the paper says, and how we read it
---------------------------------------
The paper extracts patches of size H/16 x W/16 at the locations of maximally stable extremal regions (MSER;
Matas et al., BMVC 2002) of the input and feeds them to the multiplication and addition layers; it does not say
how patches of varying number become a fixed-size network input.  Our reading, chosen so that the network
sees the same information at every pixel and stays fully convolutional (any H, W):

1. MSER is run with OpenCV (``cv2.MSER``) on the 8-bit luminance (BT.601) of each image of the batch.  Both
   polarities are found (OpenCV's MSER reports dark-on-bright and bright-on-dark regions); bright thin rain
   streaks and bright blobs of splashes are typical MSERs in a rainy image.
2. Each region contributes one patch of ``ceil(H/16) x ceil(W/16)`` pixels centred on its centroid (clipped at
   the border) -- the paper's patch size.
3. The patches are accumulated into a count map, which is normalised by its maximum to ``[0, 1]``
   (0 everywhere when no region is found).  This "MSER density" map, (B, 1, H, W), is concatenated to the
   image at the input of both operation layers (J1 = I * R1, J2 = I + R2), so the layers know where the stable
   (often rain-related, high-contrast) structures are.

MSER is not differentiable and runs on the CPU through NumPy; it is computed under ``torch.no_grad`` and
treated as a fixed input, exactly like a hand-crafted guidance image.  Area limits scale with the image size
so that a 48x48 training crop and a 720x480 photo both give regions.
"""
from __future__ import annotations

import math

import numpy as np
import torch

try:  # opencv-python-headless; import errors are reported when MSER is actually used
    import cv2
except ImportError:  # pragma: no cover - depends on the environment
    cv2 = None


def _require_cv2():
    if cv2 is None:
        raise ImportError(
            "MSER guidance needs OpenCV: pip install opencv-python-headless "
            "(or build the model with use_mser=False)"
        )
    return cv2


def _luma_u8(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] or uint8 -> (H, W) uint8 luminance (BT.601 weights)."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img
    y = 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


def mser_regions(image: np.ndarray, delta: int = 5, min_area_frac: float = 5e-5,
                 max_area_frac: float = 0.05, min_diversity: float = 0.0) -> tuple[list[np.ndarray], np.ndarray]:
    """MSER regions of an RGB (H, W, 3) or gray image (uint8 or float in [0, 1]).

    Defaults (OpenCV's ``delta=5``; areas between 5e-5 and 5% of the image, at least 3 px; no diversity
    pruning; regions with identical boxes counted once) are ours: on the x2-downsampled Outdoor-Rain sample they
    give 40-260 regions per image and the guidance map is non-zero on 10-40% of it; busy real photos give more.

    Returns ``(regions, bboxes)``: a list of (N_k, 2) int arrays of (x, y) pixel coordinates and an (K, 4)
    array of (x, y, w, h) boxes, as OpenCV's ``MSER.detectRegions`` gives them.
    """
    cv = _require_cv2()
    gray = _luma_u8(image)
    h, w = gray.shape
    if h < 3 or w < 3:  # OpenCV's MSER needs at least 3x3; such an image has no stable region
        return [], np.zeros((0, 4), np.int64)
    mser = cv.MSER_create()
    mser.setDelta(int(delta))
    mser.setMinArea(max(3, round(min_area_frac * h * w)))
    mser.setMaxArea(max(mser.getMinArea() + 1, round(max_area_frac * h * w)))
    # OpenCV's default diversity pruning (0.2) drops an isolated blob whose parent is the whole image
    # (checked with OpenCV 5.0: a lone bright disk gives no region); we keep it and drop exact duplicates
    # (nested regions with the same box) instead.
    mser.setMinDiversity(float(min_diversity))
    regions, bboxes = mser.detectRegions(gray)
    bboxes = np.asarray(bboxes, dtype=np.int64).reshape(-1, 4)
    _, keep = np.unique(bboxes, axis=0, return_index=True)
    keep = np.sort(keep)
    return [regions[i] for i in keep], bboxes[keep]


def patch_size(h: int, w: int, frac: int = 16) -> tuple[int, int]:
    """The paper's patch size around each MSER: ``ceil(H/16) x ceil(W/16)`` (at least 1x1)."""
    return max(1, math.ceil(h / frac)), max(1, math.ceil(w / frac))


def guidance_map(image: np.ndarray, frac: int = 16, **mser_kwargs) -> np.ndarray:
    """MSER density map (H, W) float32 in [0, 1] for one image (see the module docstring)."""
    gray = _luma_u8(image)
    h, w = gray.shape
    regions, _ = mser_regions(gray, **mser_kwargs)
    counts = np.zeros((h + 1, w + 1), np.float64)  # 2-D difference array: O(1) per patch
    ph, pw = patch_size(h, w, frac)
    for pts in regions:
        cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
        y0 = int(min(max(round(cy - ph / 2), 0), h - ph))
        x0 = int(min(max(round(cx - pw / 2), 0), w - pw))
        counts[y0, x0] += 1
        counts[y0, x0 + pw] -= 1
        counts[y0 + ph, x0] -= 1
        counts[y0 + ph, x0 + pw] += 1
    counts = counts.cumsum(0).cumsum(1)[:h, :w]
    peak = counts.max()
    return (counts / peak).astype(np.float32) if peak > 0 else np.zeros((h, w), np.float32)


@torch.no_grad()
def mser_guidance(x: torch.Tensor, frac: int = 16, **mser_kwargs) -> torch.Tensor:
    """Batched MSER guidance: (B, 3, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1], same device and dtype."""
    if x.dim() != 4:
        raise ValueError(f"mser_guidance expects (B, C, H, W), got shape {tuple(x.shape)}")
    arr = x.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
    maps = [guidance_map(a if a.shape[-1] == 3 else a[..., 0], frac, **mser_kwargs) for a in arr]
    return torch.from_numpy(np.stack(maps)[:, None]).to(device=x.device, dtype=x.dtype)
