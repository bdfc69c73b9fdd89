"""A bank of real rain layers, taken from training pairs and composited over clean photos.

Procedural streaks (:mod:`derain_lib.rain`) get the physics right but not the look: a network trained on them
learns *our* streaks.  The rain layers of real synthetic-benchmark pairs are the closest thing to the test
distribution that we may train on, so the bank extracts them from **training pairs only** and reuses them over
every clean photo, with random crops, flips, scale and strength::

    layer = max(mean_c(rainy - clean), 0)          # gray, non-negative: Rain100L/H rain is additive, then clipped
    rainy' = clamp(clean' + a * layer', 0, 1)      # a ~ U(strength), layer' a random crop / flip / rescale

Sources (see ``BANKS``):

- ``bank``: the 12 RainTrainH pairs of ``rain100H_train12/`` (the *training* split of Rain100H): dense, thin,
  crossing streaks, plus one light-rain pair.  Where the rainy image is saturated (rain clipped at 1), or the clean
  one so bright that the rain is clipped there, ``rainy - clean`` is ``1 - clean``: not rain but a negative of the
  source photo, which a network trained on it learns to remove from *every* photo (a DRN trained on such layers
  fell from 24.6 to 22.0 dB on the first 10 Rain100H images within 560 steps).  Clipped *regions* (over 60% of a
  9x9 window clipped; a single saturated streak core is still rain, at least ``1 - clean``) are marked invalid and
  zeroed, and crops are drawn where at least 98% of the pixels are valid (the best of 12 tries).
- ``bank_ddn``: the 358 Photoshop-style renderings of ``ddn_pairs/`` (Fu et al., DDN), each JPEG clean-left |
  rainy-right.  Their rain carries a bright low-frequency veil and JPEG texture that Rain100L/H do not have, so
  only the **streaks** are kept: the layer minus its Gaussian low-pass (sigma 4 px), soft-thresholded at 2/255 to
  drop JPEG noise.
- ``bank_heavy``: ``bank`` at the source's own scale and near full strength (0.8-1), for heavy rain, with
  saturated rain kept (as white) instead of masked.
- ``bank_1dir``: ``bank`` layers filtered to one streak direction per crop (a wedge of +-10 degrees around the
  crop's dominant orientation in the Fourier domain) and sparsified (only the brightest 15% of each crop's rain
  pixels kept), for sparse, light one-direction rain like the light pair of RainTrainH (``rain100H_train12/02``).

Benchmark *test* sets (``paths.BENCHMARK_SETS``) are refused as sources.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .folders import PairedFolder
from .paths import data_root, refuse_test_set

__all__ = ["BANKS", "BankParams", "RainBank", "bank_rain", "extract_layer", "get_bank"]


@dataclass(frozen=True)
class BankParams:
    source: str                                   # dataset folder under the data root (training pairs only)
    strength: tuple[float, float] = (0.15, 1.0)   # a ~ U(lo, hi) multiplies the layer
    scale: tuple[float, float] = (0.8, 1.25)      # crop rescaling (streak length and width follow)
    highpass: float = 0.0                         # sigma (px) of the low-pass removed from the layer; 0 = none
    threshold: float = 0.0                        # soft threshold after high-pass (JPEG noise)
    one_direction: bool = False                   # keep one orientation wedge per crop
    sparsify: float = 0.0                         # keep only pixels above this quantile of a crop's rain (0 = all)
    max_saturated: float = 1.0                    # drop pairs with a larger share of saturated rain pixels
    saturate: bool = False                        # clipped rain -> a white (1) layer instead of masking it out


BANKS: dict[str, BankParams] = {
    "bank": BankParams("rain100H_train12", strength=(0.3, 1.0)),
    "bank_ddn": BankParams("ddn_pairs", strength=(1.5, 3.0), highpass=8.0, threshold=1 / 255),
    "bank_1dir": BankParams("rain100H_train12", strength=(0.4, 0.9), one_direction=True, sparsify=0.85),
    # RainTrainH's rain as it is: no rescaling, strength 0.8-1, and where its rain saturates the image the layer
    # is 1 (the composite saturates there too) rather than masked out -- a heavy-rain model must learn what to do
    # with saturated rain, which masking hid.  Random 64x64 composites over clean/ are 10.7 dB RGB PSNR against
    # the clean crop where the 11 heavy RainTrainH pairs' own crops are 11.4 dB; ``bank`` (strength 0.3-1, scale
    # jitter, masked) is 15.4 dB, lighter than the rain it comes from, and networks fine-tuned on it lost heavy
    # rain.
    "bank_heavy": BankParams("rain100H_train12", strength=(0.8, 1.0), scale=(1.0, 1.0), saturate=True),
    # the 26 heavy pairs of rain_heavy_train26 (Rain200H renderings and more RainTrainH), taken as bank_heavy takes
    # RainTrainH's: with it, 38 heavy layers over the clean photos instead of 12
    "bank_heavy26": BankParams("rain_heavy_train26", strength=(0.8, 1.0), scale=(1.0, 1.0), saturate=True),
    # RainTrainL's 200 light-rain layers (the Rain100L training set's own rain), unscaled, over other backgrounds
    "bank_light": BankParams("rain100L_train", strength=(0.8, 1.0), scale=(1.0, 1.0), saturate=True),
}


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, 1, H, W) with reflect padding."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))


def extract_layer(rainy: np.ndarray, clean: np.ndarray, highpass: float = 0.0,
                  threshold: float = 0.0, saturate: bool = False) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Gray rain layer (1, H, W) in [0, 1] of one uint8 pair (zero where invalid), the share of saturated rain
    pixels, and the validity mask (1, H, W): False where the rainy image is saturated or the clean one brighter
    than 0.9, so that ``rainy - clean`` is clipped and says nothing about the rain.

    ``saturate=True``: no mask; where the rainy image is saturated in every channel the rain is at least
    ``1 - clean`` and the layer is set to 1, so that a composite saturates where the source did (white, not a
    negative of the source photo)."""
    r = torch.from_numpy(np.array(rainy, copy=True)).float().permute(2, 0, 1) / 255.0
    c = torch.from_numpy(np.array(clean, copy=True)).float().permute(2, 0, 1) / 255.0
    layer = (r - c).mean(0, keepdim=True).clamp_min(0.0)
    saturated = float(((r.min(0).values > 0.99) & (c.min(0).values < 0.95)).float().mean())
    clipped = ((r.max(0).values >= 0.985) | (c.max(0).values >= 0.9)).float()[None, None]
    # a saturated streak core is still rain (at least 1 - clean there); a saturated *region* is not
    valid = (F.avg_pool2d(clipped, 9, stride=1, padding=4, count_include_pad=False) < 0.6)[0]
    if saturate:
        layer = torch.where(r.min(0, keepdim=True).values >= 0.985, torch.ones_like(layer), layer)
        valid = torch.ones_like(valid)
    if highpass > 0:
        layer = (layer - _blur(layer[None], highpass)[0]).clamp_min(0.0)
    if threshold > 0:
        layer = (layer - threshold).clamp_min(0.0)
    return (layer * valid).clamp(0.0, 1.0), saturated, valid


class RainBank:
    """Rain layers (float16, (1, H, W) each) from one training source, with a seeded sampler."""

    TRIES = 12

    def __init__(self, params: BankParams, root: str | Path | None = None, max_pairs: int | None = None):
        refuse_test_set(params.source, "rain banks take training pairs only")
        folder = Path(params.source) if Path(params.source).is_absolute() else Path(root or data_root()) / params.source
        ds = PairedFolder(folder, max_images=max_pairs)
        self.params = params
        self.layers: list[torch.Tensor] = []
        self.valid: list[torch.Tensor] = []
        self.names: list[str] = []
        self.dropped: list[str] = []
        for i in range(len(ds)):
            rainy, clean, fname = ds[i]
            layer, sat, valid = extract_layer(rainy, clean, params.highpass, params.threshold, params.saturate)
            if sat > params.max_saturated or float(layer.max()) <= 0:
                self.dropped.append(fname)
                continue
            self.layers.append(layer.half())
            self.valid.append(valid)
            self.names.append(fname)
        if not self.layers:
            raise FileNotFoundError(f"{folder}: no usable rain layers")

    def __len__(self) -> int:
        return len(self.layers)

    def sample(self, b: int, h: int, w: int, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> torch.Tensor:
        """(B, 1, H, W) rain layers: a random layer each, random crop, horizontal flip, scale and strength."""
        p = self.params
        out = torch.empty(b, 1, h, w)
        u = torch.rand(b, 6, generator=generator)
        tries = torch.rand(b, self.TRIES, 2, generator=generator)
        for i in range(b):
            s = p.scale[0] + (p.scale[1] - p.scale[0]) * float(u[i, 1])
            best = None
            # crop an (h/s, w/s) window (the whole layer, stretched, when it is smaller) and resize it to (h, w);
            # the layer is drawn first (uniformly: retrying over layers would favour the light, never-clipped
            # ones), then the first window with >= 98% valid pixels wins, else the most valid of the tries
            k = int(u[i, 0] * len(self.layers)) % len(self.layers)
            lh, lw = self.layers[k].shape[-2:]
            ch, cw = min(lh, max(2, round(h / s))), min(lw, max(2, round(w / s)))
            for t in range(self.TRIES):
                y0 = int(float(u[i, 2] if t == 0 else tries[i, t, 0]) * (lh - ch + 1))
                x0 = int(float(u[i, 3] if t == 0 else tries[i, t, 1]) * (lw - cw + 1))
                share = float(self.valid[k][:, y0:y0 + ch, x0:x0 + cw].float().mean())
                if best is None or share > best[0]:
                    best = (share, y0, x0)
                if share >= 0.98:
                    break
            _, y0, x0 = best
            crop = self.layers[k][:, y0:y0 + ch, x0:x0 + cw][None].float()
            if (ch, cw) != (h, w):
                crop = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)
            if float(u[i, 4]) < 0.5:
                crop = crop.flip(-1)
            if p.one_direction:
                crop = _one_direction(crop)
            if p.sparsify > 0:
                q = torch.quantile(crop.flatten()[::7], p.sparsify)
                crop = crop * (crop > q)
            a = p.strength[0] + (p.strength[1] - p.strength[0]) * float(u[i, 5])
            out[i] = (crop[0] * a).clamp(0.0, 1.0)
        return out.to(device)


def _one_direction(x: torch.Tensor, half_width_deg: float = 10.0) -> torch.Tensor:
    """Keep the streaks of one direction: a Fourier wedge around the dominant orientation of (1, 1, H, W)."""
    h, w = x.shape[-2:]
    spec = torch.fft.fft2(x - x.mean())
    fy = torch.fft.fftfreq(h).view(-1, 1)
    fx = torch.fft.fftfreq(w).view(1, -1)
    theta = torch.atan2(fy, fx) % math.pi                   # orientation of each frequency, [0, pi)
    radius = torch.sqrt(fx ** 2 + fy ** 2)
    power = spec.abs()[0, 0] ** 2 * (radius > 0.02)
    bins = 36
    idx = (theta / math.pi * bins).long().clamp(max=bins - 1)
    hist = torch.zeros(bins).index_add_(0, idx.flatten(), power.flatten())
    hist = hist + hist.roll(1) + hist.roll(-1)              # smooth over neighbouring bins
    peak = (int(hist.argmax()) + 0.5) * math.pi / bins
    d = torch.remainder(theta - peak + math.pi / 2, math.pi) - math.pi / 2
    mask = (d.abs() <= math.radians(half_width_deg)).float()
    mask[0, 0] = 1.0                                        # keep the mean
    y = torch.fft.ifft2(spec * mask).real + x.mean()
    return y.clamp_min(0.0)


_CACHE: dict[tuple[str, str], RainBank] = {}


def get_bank(name: str, root: str | Path | None = None) -> RainBank:
    """The named bank (``BANKS``), loaded once per process and data root."""
    if name not in BANKS:
        raise ValueError(f"unknown rain bank {name!r}; choose from {', '.join(BANKS)}")
    key = (name, str(Path(root or data_root()).resolve()))
    if key not in _CACHE:
        _CACHE[key] = RainBank(BANKS[name], root)
    return _CACHE[key]


def bank_rain(clean: torch.Tensor, name: str,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rainy, layer)`` for a batch (B, 3, H, W) in [0, 1]: ``rainy = clamp(clean + layer, 0, 1)``."""
    b, _, h, w = clean.shape
    layer = get_bank(name).sample(b, h, w, generator, clean.device)
    return (clean + layer).clamp(0.0, 1.0), layer
