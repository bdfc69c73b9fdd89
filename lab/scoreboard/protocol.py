"""What the scoreboard measures and where: the sets, their subsets, the metrics, the output paths.

Every cached result is keyed by :data:`PROTOCOL`; change it when a change here makes old figures incomparable.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from derain_lib.paths import WEIGHTS_DIR, data_root, resolve_dataset

from .. import ROOT

PROTOCOL = "scoreboard-1"
PAIRED_SETS = ("rain100L", "rain100H", "outdoor_rain_sample")
SUBSET_SETS = ("rain100L", "rain100H")          # the sets a slow model may subsample
NR_SET = "real_rainy"
NR_MAX_PIXELS = 1_000_000
SUBSETS = {"all": 1, "every5": 5, "every20": 20}
DEFAULT_MAX_SECONDS = 900.0
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")

OUT_DIR = ROOT / "assets" / "scoreboard"
CACHE_DIR = OUT_DIR / "cache"
JSON_PATH = WEIGHTS_DIR / "scoreboard.json"
MD_PATH = ROOT / "docs" / "scoreboard.md"     # wholly generated
PNG_PATH = OUT_DIR / "quality_vs_time.png"
README_PATH = ROOT / "README.md"              # only its pick/results blocks are generated
COMMAND = "nice -n 10 python -m lab scoreboard --jobs 2 --write"  # torch threads: 1 (the CLI default)


def set_dir(name: str) -> Path:
    """The scoreboard's set ``name`` under the data root (never a folder of the same name elsewhere)."""
    return resolve_dataset(data_root() / name)


def set_fingerprint(name: str) -> str:
    """A short hash of a set's file names and sizes (a changed data root invalidates cached results)."""
    return _fingerprint(str(set_dir(name)))


@functools.cache
def _fingerprint(folder: str) -> str:
    root = Path(folder)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root)}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def subset_indices(n: int, subset: str) -> list[int]:
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: {', '.join(SUBSETS)}")
    return list(range(0, n, SUBSETS[subset]))


def downscale_to(img: np.ndarray, max_pixels: int | None = None) -> np.ndarray:
    """Area-downscale so that H*W <= max_pixels (default :data:`NR_MAX_PIXELS`; unchanged when small enough)."""
    import cv2
    max_pixels = NR_MAX_PIXELS if max_pixels is None else max_pixels
    h, w = img.shape[:2]
    if h * w <= max_pixels:
        return img
    f = (max_pixels / (h * w)) ** 0.5
    nw, nh = max(1, int(w * f)), max(1, int(h * f))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)


def real_photo_files() -> list[Path]:
    from derain_lib.data import list_images
    root = set_dir(NR_SET)
    return list_images(root / "rainy" if (root / "rainy").is_dir() else root)


def heldout_real() -> tuple[str, ...]:
    """File names (no folder) of the real photos that msnet-semi's matching never saw.

    :data:`~derain_lib.paths.HELD_OUT_REAL` lists them as ``folder/rainy/name`` while the per-photo rows
    are keyed by the bare file name, so only the names are compared."""
    from derain_lib import paths

    return tuple(Path(p).name for p in paths.HELD_OUT_REAL)
