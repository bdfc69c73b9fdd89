"""Folders of images on disk: paired (rainy, clean) sets in the common layouts, unpaired real rain, clean photos.

This is the bottom layer that reads datasets: it depends only on :mod:`derain_lib.io` and :mod:`derain_lib.paths`,
so that both the rain bank (which extracts rain layers from training pairs) and the batch iterators of
:mod:`derain_lib.data` (which synthesize rain) can use it without importing each other.  The layouts are
described in ``docs/data.md``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .io import IMAGE_SUFFIXES, ImageError, list_images, read_image
from .paths import data_root

__all__ = ["PairedFolder", "UnpairedFolder", "clean_image_files"]

# (rainy folder, clean folder, function mapping a rainy file name to its clean name)
_CONVENTIONS = [
    ("rainy", "clean", lambda n: n),                       # ours / shared data
    ("input", "target", lambda n: n),                      # Restormer / MPRNet / MSPFN
    ("rain", "norain", lambda n: n),                       # JORDER (rainy files are also named norain-N)
    ("rainy", "norain", lambda n: n.replace("rain-", "norain-", 1) if n.startswith("rain-") else n),
    ("rainy", ".", lambda n: n.replace("rain-", "norain-", 1)),  # PReNet / DRN test folders
    ("in", "gt", None),                                    # HeavyRainRemoval: im_0001_s80_a04.png -> im_0001.png
]

# clean + additive rain layer, one stem each (``clean/NNN.jpg`` + ``rain_layer/NNN.png``): rainy = clip(clean + layer)
LAYER_DIR = "rain_layer"


def _heavyrain_name(rainy: str, clean_names: set[str]) -> str:
    stem, suffix = Path(rainy).stem, Path(rainy).suffix
    parts = stem.split("_")
    for k in range(len(parts), 0, -1):
        cand = "_".join(parts[:k]) + suffix
        if cand in clean_names:
            return cand
    return rainy


class PairedFolder(torch.utils.data.Dataset):
    """A folder of (rainy, clean) pairs in any of the common layouts.

    Layouts recognised: ``rainy/`` + ``clean/``; ``input/`` + ``target/``; ``rain/`` + ``norain/``;
    ``rainy/rain-N.png`` + ``norain-N.png`` (PReNet); ``in/`` + ``gt/`` (Outdoor-Rain); ``clean/`` +
    ``rain_layer/`` (files sharing a stem; the rainy image is ``clip(clean + rain_layer, 0, 255)``, the layer an
    additive uint8 RGB image, as in the shared RainTrainL copy); and a flat folder of
    **side-by-side** images, one pair per file (DID-MDN's packing of Fu et al.'s DDN data: clean left | rainy
    right; the S-DSEN authors' data: rainy left | clean right).  ``order`` says which half is which for
    side-by-side files: ``"clean_left"``, ``"rainy_left"`` or ``"auto"`` (default: rain is additive, so the half
    that is brighter on average over the first files is the rainy one).  Items are
    ``(rainy uint8 HxWx3, clean uint8 HxWx3, name)``.
    """

    ORDERS = ("auto", "clean_left", "rainy_left")

    def __init__(self, root: str | Path, max_images: int | None = None, order: str = "auto"):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: paired folder not found")
        if order not in self.ORDERS:
            raise ValueError(f"order must be one of {', '.join(self.ORDERS)}, got {order!r}")
        self.root = root
        self.side_by_side: str | None = None   # "clean_left" / "rainy_left" for side-by-side files
        self.pairs: list[tuple[Path, Path]] = []
        self.layered = False          # pairs are (rain layer, clean): rainy = clip(clean + layer)
        if (root / LAYER_DIR).is_dir() and (root / "clean").is_dir() and not (root / "rainy").is_dir():
            clean_by_stem = {p.stem: p for p in list_images(root / "clean")}
            self.pairs = [(lay, clean_by_stem[lay.stem]) for lay in list_images(root / LAYER_DIR)
                          if lay.stem in clean_by_stem]
            self.layered = bool(self.pairs)
        for rdir, cdir, mapper in _CONVENTIONS:
            rpath, cpath = root / rdir, root / cdir
            if self.pairs or not (rpath.is_dir() and cpath.is_dir()) or rpath == cpath:
                continue
            clean_names = {p.name for p in cpath.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
            pairs = []
            for r in list_images(rpath):
                cname = mapper(r.name) if mapper else _heavyrain_name(r.name, clean_names)
                if cname in clean_names:
                    pairs.append((r, cpath / cname))
            if pairs:
                self.pairs = pairs
                break
        if not self.pairs and not (root / LAYER_DIR).is_dir():
            flat = list_images(root) if any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir()) else []
            if flat:
                self.pairs = [(f, f) for f in flat]
                self.side_by_side = order if order != "auto" else _side_by_side_order(flat[:8])
        if not self.pairs:
            raise FileNotFoundError(
                f"{root}: no (rainy, clean) pairs found; expected rainy/+clean/, input/+target/, rain/+norain/, "
                "rainy/rain-N + norain-N, in/+gt/, clean/+rain_layer/ with matching file names, or side-by-side images")
        if max_images:
            self.pairs = self.pairs[:max_images]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, str]:
        r, c = self.pairs[i]
        if self.layered:
            clean, layer = read_image(c), read_image(r)
            if layer.shape != clean.shape:
                raise ImageError(f"{r.name}: rain layer {layer.shape[:2]} does not match its clean image "
                                 f"{clean.shape[:2]}")
            rainy = np.minimum(clean.astype(np.uint16) + layer, 255).astype(np.uint8)
            return rainy, clean, c.name
        if self.side_by_side:
            left, right = _halves(read_image(r), r.name)
            return (right, left, r.name) if self.side_by_side == "clean_left" else (left, right, r.name)
        return read_image(r), read_image(c), r.name


def _halves(img: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Left and right halves of a side-by-side pair (an odd middle column is dropped)."""
    w = img.shape[1] // 2
    if w < 8:
        raise ImageError(f"{name}: {img.shape[1]} px wide, too narrow to be a side-by-side pair")
    return img[:, :w], img[:, img.shape[1] - w:]


def _side_by_side_order(files: Sequence[Path]) -> str:
    """'clean_left' when the right halves are brighter on average (additive rain), else 'rainy_left'."""
    diff = 0.0
    for f in files:
        left, right = _halves(read_image(f), f.name)
        diff += float(right.astype(np.float32).mean() - left.astype(np.float32).mean())
    return "clean_left" if diff >= 0 else "rainy_left"


class UnpairedFolder(torch.utils.data.Dataset):
    """Real rainy photos without ground truth (a flat folder, or a folder with a ``rainy/`` subfolder)."""

    def __init__(self, root: str | Path, exclude: Sequence[str] = (), max_images: int | None = None):
        root = Path(root)
        folder = root / "rainy" if (root / "rainy").is_dir() else root
        self.files = [p for p in list_images(folder) if p.name not in set(exclude)]
        if not self.files:
            raise FileNotFoundError(f"{folder}: no images found")
        if max_images:
            self.files = self.files[:max_images]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        return read_image(self.files[i]), self.files[i].name


def clean_image_files(clean_dirs: Sequence[str | Path] | None = None, min_side: int = 0) -> list[Path]:
    """All images below the clean folders (default ``<data root>/clean``), recursively."""
    dirs = [Path(d) for d in clean_dirs] if clean_dirs else [data_root() / "clean"]
    files: list[Path] = []
    for d in dirs:
        if not d.exists():
            raise FileNotFoundError(f"{d}: clean image folder not found (set DERAIN_DATA or pass clean_dirs)")
        files += sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images found in {', '.join(map(str, dirs))}")
    return files
