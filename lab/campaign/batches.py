"""Training batches for a campaign run: built from the library's data sources, made in DataLoader workers.

Each worker builds its own iterator with its own seed (so workers never repeat each other's crops); the clean
photo pool and the rain banks are decoded once in the main process and shared with forked workers.  With
``synth="device"`` the workers only cut clean crops and the rain (:func:`derain_lib.rain.rain_batch`, which
renders on the device of its input) and the SR downsampling run on the training device.
"""
from __future__ import annotations

import copy
import random
from collections.abc import Iterator

import torch

from .recipes import SEMI_HELD_OUT, Recipe


class _Source(torch.utils.data.IterableDataset):
    """An endless stream of CPU batches for one recipe; ``base`` is a prepared SyntheticRainBatches."""

    def __init__(self, recipe: Recipe, base, batch: int, crop, scale: int, seed: int):
        super().__init__()
        self.recipe, self.base, self.batch, self.crop, self.scale, self.seed = recipe, base, batch, crop, scale, seed

    def _iterator(self, seed: int) -> Iterator[dict[str, torch.Tensor]]:
        from derain_lib.data import mixed_batches, paired_patch_batches, real_patch_batches

        r = self.recipe
        syn = copy.copy(self.base)              # shares the decoded photo pool; fresh random streams
        syn.rng, syn.gen = random.Random(seed), torch.Generator().manual_seed(seed)
        if r.synth == "device":
            batches = ({"clean": syn.pool.crops(self.batch, self.crop, syn.rng)} for _ in iter(int, 1))
        else:
            batches = syn
        if r.mix_pairs:
            folder, frac = r.mix_pairs
            pairs = paired_patch_batches(_pairs(folder), batch_size=self.batch, patch=self.crop, seed=seed + 2,
                                         scale=self.scale)
            batches = mixed_batches(batches, pairs, frac, seed=seed + 3)
        if r.real:
            real_crop = self.crop // self.scale if isinstance(self.crop, int) else tuple(
                v // self.scale for v in self.crop)
            real = real_patch_batches(None, batch_size=self.batch, patch=real_crop, seed=seed + 1,
                                      exclude=SEMI_HELD_OUT)
            batches = ({**b, "real": next(real)} for b in batches)
        return iter(batches)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        return self._iterator(self.seed + 1000 * (info.id + 1 if info else 0))


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)     # workers run side by side: one thread each, not the machine's count each


def _pairs(name: str):
    from derain_lib.evaluate import resolve_dataset
    from derain_lib.paths import refuse_test_set

    folder = resolve_dataset(name)
    refuse_test_set(folder, "the campaign trains on training pairs only")
    return folder


_POOLS: dict[str, object] = {}     # data root -> decoded clean photos, shared by every recipe of a campaign


def prepare(recipe: Recipe, batch: int, crop, scale: int, seed: int):
    """The main-process part: decode the clean photos (once per data root) and extract the rain banks (once per
    process), which forked workers then share; checks the preset."""
    from derain_lib.data import ImagePool, SyntheticRainBatches, clean_image_files
    from derain_lib.paths import data_root
    from derain_lib.rain_bank import BANKS, get_bank

    key = str(data_root())
    if key not in _POOLS:
        _POOLS[key] = ImagePool(clean_image_files(None))
    base = SyntheticRainBatches(None, batch_size=batch, patch=crop, preset=recipe.preset, scale=scale, seed=seed,
                                max_images=1)
    base.pool = _POOLS[key]
    for name in recipe.preset.split("+"):
        if name in BANKS:
            get_bank(name)
    return base


def loader(recipe: Recipe, batch: int, crop, scale: int, seed: int, device: torch.device,
           workers: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches for ``recipe`` on ``device``: made by ``workers`` forked processes (0: in this one),
    pinned for asynchronous copies on CUDA; with ``synth="device"`` the rain is added on ``device``.  The photos
    and banks are loaded before this returns, so that the time they take is not counted as training time."""
    base = prepare(recipe, batch, crop, scale, seed)
    ds = _Source(recipe, base, batch, crop, scale, seed)
    kw = {}
    if workers:
        kw = {"num_workers": workers, "prefetch_factor": 4, "persistent_workers": False,
              "multiprocessing_context": "fork", "worker_init_fn": _one_thread}
    dl = torch.utils.data.DataLoader(ds, batch_size=None, pin_memory=device.type == "cuda", **kw)
    return _on_device(dl, recipe, scale, seed, device)


def _on_device(dl, recipe: Recipe, scale: int, seed: int, device: torch.device):
    from derain_lib.rain import downsample, rain_batch

    gen = torch.Generator().manual_seed(seed + 7)
    for b in dl:
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        if recipe.synth == "device" and "rainy" not in b:     # (batches of real pairs come with their rain)
            clean = b["clean"]
            rainy, _ = rain_batch(clean, recipe.preset, gen)
            b["rainy"] = rainy
            if scale > 1:
                b["rainy"], b["clean_lr"] = downsample(rainy, scale), downsample(clean, scale)
        yield b
