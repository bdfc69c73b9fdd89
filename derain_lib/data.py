"""Training batches: on-the-fly synthetic pairs, crops of paired folders, unlabelled real rain.

The folder readers themselves live in :mod:`derain_lib.folders` (re-exported here).

Benchmark sets (``paths.BENCHMARK_SETS``) are for evaluation only; training pairs come from
:class:`SyntheticRainBatches` over clean photos (default: ``<data root>/clean``) or from a user's own paired
folder (:func:`paired_patch_batches`).
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from .folders import PairedFolder, UnpairedFolder, clean_image_files
from .io import ImageError, list_images, read_image, to_tensor
from .paths import data_root
from .rain import RainParams, check_preset, downsample, rain_batch

# PairedFolder, UnpairedFolder, clean_image_files and list_images are re-exported: this is where callers have
# always imported them from.
__all__ = [
    "ImagePool",
    "PairedFolder",
    "SyntheticRainBatches",
    "UnpairedFolder",
    "clean_image_files",
    "list_images",
    "mixed_batches",
    "paired_patch_batches",
    "real_patch_batches",
]

def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    """A patch size: an int (square) or (height, width), e.g. the joint derain+SR paper's 200x300 crops."""
    if isinstance(size, int):
        return size, size
    h, w = (int(v) for v in size)
    return h, w


def _random_crop(img: np.ndarray, size: int | Sequence[int], rng: random.Random) -> np.ndarray:
    ph, pw = _hw(size)
    h, w = img.shape[:2]
    if h < ph or w < pw:  # small images (T91) are upscaled just enough (any number of channels)
        s = max(ph / h, pw / w)
        t = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float()
        t = torch.nn.functional.interpolate(t, size=(max(ph, round(h * s)), max(pw, round(w * s))),
                                            mode="bicubic", align_corners=False)
        img = t[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
        h, w = img.shape[:2]
    y, x = rng.randint(0, h - ph), rng.randint(0, w - pw)
    return img[y:y + ph, x:x + pw]


def _augment(t: torch.Tensor, rng: random.Random) -> torch.Tensor:
    """Random horizontal flip (vertical flips would turn rain upside down, which rain never is)."""
    return t.flip(-1) if rng.random() < 0.5 else t


class ImagePool:
    """Decoded images kept in memory, so crops are cheap (the clean corpus is ~450 images, <1 GB)."""

    def __init__(self, files: Sequence[Path], max_images: int | None = None, seed: int = 0):
        files = list(files)
        if max_images and len(files) > max_images:
            files = random.Random(seed).sample(files, max_images)
        self.images = []
        for f in files:
            try:
                self.images.append(read_image(f))
            except ImageError:
                continue
        if not self.images:
            raise FileNotFoundError("no readable images")

    def crops(self, n: int, size: int | Sequence[int], rng: random.Random) -> torch.Tensor:
        batch = [to_tensor(_random_crop(self.images[rng.randrange(len(self.images))], size, rng))[0]
                 for _ in range(n)]
        return torch.stack([_augment(t, rng) for t in batch])


class SyntheticRainBatches:
    """Infinite iterator of training batches with rain synthesized on the fly (in torch, batched).

    Yields dicts: ``clean`` (B, 3, P, P) and ``rainy``; with ``scale > 1`` the ``rainy`` input is the
    bicubic-downsampled rainy image (B, 3, P/s, P/s) and ``clean_lr`` the downsampled clean one.  ``pool``: clean
    photos already decoded (then ``clean_dirs`` and ``max_images`` are not read), e.g. shared by several runs.
    """

    def __init__(self, clean_dirs: Sequence[str | Path] | None = None, batch_size: int = 16, patch: int = 64,
                 preset: str | RainParams = "mixed", angle_range: tuple[float, float] | None = None,
                 scale: int = 1, seed: int = 0, max_images: int | None = None, device: str = "cpu",
                 pool: ImagePool | None = None):
        check_preset(preset)
        if any(v % scale for v in _hw(patch)):
            raise ValueError(f"patch ({patch}) must be a multiple of scale ({scale})")
        self.pool = pool if pool is not None else ImagePool(clean_image_files(clean_dirs), max_images, seed)
        self.batch_size, self.patch, self.preset, self.angle_range = batch_size, patch, preset, angle_range
        self.scale, self.device = scale, device
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        clean = self.pool.crops(self.batch_size, self.patch, self.rng)
        rainy, _ = rain_batch(clean, self.preset, self.gen, self.angle_range)
        batch = {"clean": clean, "rainy": rainy}
        if self.scale > 1:
            batch["rainy"] = downsample(rainy, self.scale)
            batch["clean_lr"] = downsample(clean, self.scale)
        return {k: v.to(self.device) for k, v in batch.items()}


def paired_patch_batches(root: str | Path, batch_size: int = 16, patch: int = 64, seed: int = 0,
                         scale: int = 1, order: str = "auto") -> Iterator[dict[str, torch.Tensor]]:
    """Infinite batches of aligned random crops from a paired folder (e.g. RainTrainH, or side-by-side pairs)."""
    ds = PairedFolder(root, order=order)
    rng = random.Random(seed)
    imgs = []
    for i in range(len(ds)):
        ri, ci, name = ds[i]
        if ri.shape != ci.shape:
            raise ValueError(f"{name}: rainy {ri.shape[:2]} and clean {ci.shape[:2]} differ in size")
        imgs.append(np.concatenate([ri, ci], 2))  # crop both with one window
    while True:
        both = []
        for _ in range(batch_size):
            crop = _random_crop(imgs[rng.randrange(len(imgs))], patch, rng)
            t = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255.0
            both.append(_augment(t, rng))
        stacked = torch.stack(both)
        rainy, clean = stacked[:, :3], stacked[:, 3:]
        batch = {"clean": clean, "rainy": rainy}
        if scale > 1:
            batch["rainy"] = downsample(rainy, scale)
            batch["clean_lr"] = downsample(clean, scale)
        yield batch


def mixed_batches(first: Iterator[dict[str, torch.Tensor]], second: Iterator[dict[str, torch.Tensor]],
                  fraction: float, seed: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """Infinite batches drawn from ``second`` with probability ``fraction``, else from ``first``.

    Whole batches are drawn from one source (e.g. synthetic bank rain, or the real training pairs), so each batch
    stays one kind of rain; the choice is seeded, so a run with the same seed sees the same sequence.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = random.Random(seed)
    while True:
        yield next(second) if rng.random() < fraction else next(first)


def real_patch_batches(folders: Sequence[str | Path] | None = None, batch_size: int = 16, patch: int = 64,
                       seed: int = 0, exclude: Sequence[str] = (),
                       max_images: int | None = None) -> Iterator[torch.Tensor]:
    """Infinite batches (B, 3, P, P) of random crops of real rainy photos (no ground truth).

    Default folders: ``<data root>/real_rainy`` and ``<data root>/real_rainy_more``.  ``exclude`` names files
    held back for showing results; ``max_images`` decodes only a seeded sample of that many photos.
    """
    folders = [Path(f) for f in folders] if folders else [data_root() / "real_rainy", data_root() / "real_rainy_more"]
    files = []
    for f in folders:
        if f.exists():
            files += UnpairedFolder(f, exclude=exclude).files
    if not files:
        raise FileNotFoundError(f"no real rainy photos in {', '.join(map(str, folders))}")
    pool = ImagePool(files, max_images, seed=seed)
    rng = random.Random(seed)
    while True:
        yield pool.crops(batch_size, patch, rng)
