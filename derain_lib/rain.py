"""Rain synthesis, batched in torch so that training spends its time training, not drawing streaks.

Streaks are made the way the synthetic benchmarks were (Rain100L/H, Rain800, Outdoor-Rain): sparse random
seeds, smeared along a direction by a line-shaped motion-blur kernel with a Gaussian cross-section, then
optionally defocused.  Heavy rain stacks several layers at different angles (Rain100H uses five streak
directions).  Haze follows the heavy-rain imaging model of Li et al. (CVPR 2019) used by Vu & Kim::

    rainy = T * (clean + sum_i S_i) + (1 - T) * A

with transmission ``T = exp(-beta * depth)`` from a smooth random depth map (far at the top, like a sky) and
global atmospheric light ``A``.  Without haze ``T = 1`` and this is the additive model of Rain100L/H.

Angles are in degrees from vertical; positive angles tilt streaks so that they fall down and to the right.
Everything is seeded through a ``torch.Generator``: the same seed gives the same rain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from .rain_bank import BANKS

__all__ = ["PRESETS", "PRESET_CALIBRATION", "RainParams", "add_rain", "check_preset", "downsample", "haze_maps",
           "rain_batch", "streak_layer"]


@dataclass(frozen=True)
class RainParams:
    """Ranges (lo, hi) from which each image's rain is drawn uniformly.  A fixed value is (v, v).

    The defaults are light one-direction rain as first set by hand, calibrated on nothing; the calibrated presets
    are in :data:`PRESETS`."""

    angle: tuple[float, float] = (-15.0, 15.0)      # base direction, degrees from vertical
    spread: tuple[float, float] = (0.0, 0.0)       # extra layers deviate from the base by up to this much
    layers: tuple[int, int] = (1, 1)               # number of streak layers (directions)
    density: tuple[float, float] = (0.0005, 0.0015)  # fraction of pixels that seed a drop, per layer
    length: tuple[float, float] = (15.0, 35.0)     # streak length in pixels
    width: tuple[float, float] = (0.5, 0.9)        # Gaussian cross-section sigma in pixels
    brightness: tuple[float, float] = (0.25, 0.5)   # peak intensity added by a streak
    blur: tuple[float, float] = (0.0, 0.6)         # defocus sigma in pixels
    haze: tuple[float, float] = (0.0, 0.0)         # mean (1 - T); 0 = no haze
    atmospheric_light: tuple[float, float] = (0.75, 0.95)

    def with_angle(self, lo: float, hi: float | None = None) -> RainParams:
        return replace(self, angle=(lo, lo if hi is None else hi))


# Version of the presets' calibration, for training records (a lineage entry's ``preset_calibration``): 2 = every
# preset calibrated on training pairs only; runs that do not record it predate that (docs/data.md).
PRESET_CALIBRATION = 2

# Every preset is calibrated on TRAINING pairs only, by ``python -m lab.tools.calibrate_presets`` (seeded, 1 thread):
# its rain drawn over the clean images of the pairs (8 crops of 64x64 per pair, each its own draw) against the pairs'
# own rain layer mean_c(rainy - clean) on the same crops, by the layer's mean, its share of pixels above 0.08 and
# 0.25, its p90 and p99, and the input Y-PSNR of all the crops together.  Only the density and brightness ranges are
# fitted; angles, spread, lengths, widths, blur and layer counts (the look) are set by hand.  "The heavy pairs" are
# the 37 heavy training pairs: the 11 heavy RainTrainH pairs of rain100H_train12/ and the 26 of rain_heavy_train26/
# (20 Rain200H renderings and 6 more RainTrainH pairs, whose statistics agree with RainTrainH's); their layer has
# mean 0.214, 70.4% of pixels above 0.08, 38.2% above 0.25, p90 0.467, p99 0.693, and 12.47 dB input.
PRESETS: dict[str, RainParams] = {
    # RainTrainL-like light rain: one direction, sparse thin streaks.  Calibrated on 40 rain100L_train/ pairs
    # (every 5th; layer mean 0.022, 9.0% above 0.08, 1.4% above 0.25, p90 0.071, p99 0.278, 25.78 dB input): this
    # preset gives 0.020, 9.5%, 1.5%, 0.071, 0.267, 25.81 dB.
    "light": RainParams(angle=(-15.0, 15.0), spread=(0.0, 0.0), layers=(1, 1), density=(0.00088, 0.0026),
                        length=(15.0, 35.0), width=(0.5, 0.9), brightness=(0.18, 0.37), blur=(0.0, 0.6)),
    # Heavy rain in several directions with wider, blurrier streaks than Rain100H's (see heavy_thin for its look).
    # Calibrated on the heavy pairs: 0.216, 72.6%, 37.3%, 0.467, 0.722, 12.41 dB.
    "heavy": RainParams(angle=(-30.0, 30.0), spread=(3.0, 15.0), layers=(3, 5), density=(0.0014, 0.0032),
                        length=(35.0, 75.0), width=(0.6, 1.2), brightness=(0.21, 0.4), blur=(0.3, 1.0)),
    # Rain100H's look: thin, sharp, semi-transparent streaks in 2-4 crossing directions, denser and longer than
    # "heavy".  Calibrated on the heavy pairs: 0.213, 70.2%, 38.1%, 0.464, 0.694, 12.49 dB.
    "heavy_thin": RainParams(angle=(-20.0, 20.0), spread=(8.0, 20.0), layers=(2, 4), density=(0.0024, 0.0056),
                             length=(40.0, 90.0), width=(0.4, 0.7), brightness=(0.23, 0.38), blur=(0.2, 0.5)),
    # Rain100H's other look: dense, long, faint streaks in 2-5 directions up to 45 degrees apart (the crossing
    # "X" patterns), fainter per streak but denser than heavy_thin.  Calibrated on the heavy pairs: 0.217, 72.4%,
    # 37.9%, 0.467, 0.714, 12.40 dB.
    "heavy_cross": RainParams(angle=(-30.0, 30.0), spread=(10.0, 45.0), layers=(2, 5), density=(0.0023, 0.0046),
                              length=(50.0, 120.0), width=(0.3, 0.7), brightness=(0.18, 0.35), blur=(0.1, 0.5)),
    # Outdoor-Rain-like: short, wide streaks plus haze / veiling from the atmospheric light.  No training pair has
    # haze, so only the streaks (haze off) are calibrated on the heavy pairs: 0.216, 71.3%, 38.2%, 0.467, 0.694,
    # 12.44 dB.  The haze (mean veil 0.1-0.35) and atmospheric light (0.75-0.95) ranges are a physical prior (the
    # imaging model above), fitted to no data; with them the same crops are at 11.56 dB.
    "heavy_haze": RainParams(angle=(-30.0, 30.0), spread=(5.0, 20.0), layers=(2, 4), density=(0.0029, 0.0076),
                             length=(15.0, 40.0), width=(0.7, 1.4), brightness=(0.23, 0.39), blur=(0.3, 1.0),
                             haze=(0.1, 0.35)),
}
# "mixed" draws each image from light or heavy with equal probability (handled in rain_batch); any presets
# joined by "+" (e.g. "heavy_thin+heavy_cross") likewise draw each image from one of them, uniformly.
# Banks of real rain layers from training pairs (derain_lib.rain_bank): "bank" (RainTrainH), "bank_ddn" (DDN
# streaks), "bank_1dir" (RainTrainH, one direction per crop), "bank_heavy" (RainTrainH at full strength),
# "bank_heavy26" (rain_heavy_train26), "bank_light" (RainTrainL).
# They join with "+" like the presets.
BANK_NAMES = tuple(BANKS)
PRESET_NAMES = tuple(PRESETS) + ("mixed",) + BANK_NAMES


def check_preset(preset: str | RainParams) -> str | RainParams:
    """Return ``preset`` if it names a preset, a bank, "mixed", or those joined by "+"; else raise ValueError."""
    if isinstance(preset, RainParams) or preset == "mixed" or (
            isinstance(preset, str) and all(p in PRESETS or p in BANK_NAMES for p in preset.split("+"))):
        return preset
    raise ValueError(f"unknown rain preset {preset!r}; choose from {', '.join(PRESET_NAMES)} "
                     "or join them with '+' (e.g. bank+light)")


def _bank_or_mix(clean: torch.Tensor, names: list[str], generator, angle_range):
    """Joined presets of which at least one is a rain bank: each image draws its rain from one of them."""
    from .rain_bank import bank_rain

    b = clean.shape[0]
    pick = torch.randint(len(names), (b,), generator=generator)
    rainy = torch.empty_like(clean)
    streaks = torch.zeros(b, 1, 1, *clean.shape[-2:], device=clean.device)
    t = torch.ones(b, 1, *clean.shape[-2:], device=clean.device)
    a = torch.zeros(b, 3, 1, 1, device=clean.device)
    for k, name in enumerate(names):
        rows = (pick == k).nonzero().flatten().tolist()
        if not rows:
            continue
        sub = clean[rows]
        if name in BANK_NAMES:
            r, layer = bank_rain(sub, name, generator)
            rainy[rows] = r
            streaks[rows] = layer[:, None]
        else:
            r, parts = rain_batch(sub, name, generator, angle_range)
            rainy[rows] = r
            streaks[rows] = parts["streaks"].sum(1, keepdim=True)
            t[rows], a[rows] = parts["transmission"], parts["atmospheric_light"]
    return rainy, {"streaks": streaks, "transmission": t, "atmospheric_light": a}


def _uniform(lo: float, hi: float, n: int, g: torch.Generator | None, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device="cpu").to(device)


def _line_kernels(angle: torch.Tensor, length: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """(N,) angles/lengths/widths -> (N, 1, k, k) line kernels with peak value 1 along the line."""
    k = math.ceil(float(length.max())) | 1
    k = max(k, 3)
    r = (k - 1) / 2.0
    coords = torch.arange(k, dtype=torch.float32, device=angle.device) - r
    v, u = torch.meshgrid(coords, coords, indexing="ij")  # v: rows (down), u: columns (right)
    th = torch.deg2rad(angle).view(-1, 1, 1)
    along = u * torch.sin(th) + v * torch.cos(th)       # position along the streak
    across = u * torch.cos(th) - v * torch.sin(th)      # distance from the streak's axis
    half = (length / 2.0).view(-1, 1, 1)
    ends = torch.clamp(half + 0.5 - along.abs(), 0.0, 1.0)  # soft, anti-aliased ends
    profile = torch.exp(-(across ** 2) / (2 * width.view(-1, 1, 1) ** 2))
    return (ends * profile).unsqueeze(1)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur of (B, 1, H, W) with sigma (B,); sigma 0 leaves an image unchanged."""
    smax = float(sigma.max())
    if smax < 1e-3:
        return x
    r = max(1, math.ceil(3 * smax))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    s = sigma.clamp_min(1e-3).view(-1, 1).to(x.dtype)
    g = torch.exp(-(t.view(1, -1) ** 2) / (2 * s ** 2))
    g = g / g.sum(1, keepdim=True)
    b = x.shape[0]
    y = x.view(1, b, *x.shape[2:])
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect" if x.shape[-1] > r else "replicate"),
                 g.view(b, 1, 1, -1), groups=b)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect" if x.shape[-2] > r else "replicate"),
                 g.view(b, 1, -1, 1), groups=b)
    return y.view_as(x)


def streak_layer(b: int, h: int, w: int, angle: torch.Tensor, density: torch.Tensor, length: torch.Tensor,
                 width: torch.Tensor, brightness: torch.Tensor, blur: torch.Tensor,
                 generator: torch.Generator | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """One streak layer per image: (B, 1, H, W) in [0, 1].  Every argument but sizes is a (B,) tensor."""
    k = max(3, math.ceil(float(length.max())) | 1)
    pad = k // 2
    # Seeds over a margin, so streaks that start outside the image still enter it.
    hh, ww = h + 2 * pad, w + 2 * pad
    u = torch.rand(b, 1, hh, ww, generator=generator).to(device)
    seeds = (u < density.view(-1, 1, 1, 1)).float()
    seeds = seeds * (0.6 + 0.4 * torch.rand(b, 1, hh, ww, generator=generator).to(device))
    kern = _line_kernels(angle, length, width)                       # (B, 1, k, k)
    s = F.conv2d(seeds.view(1, b, hh, ww), kern, groups=b).view(b, 1, hh - k + 1, ww - k + 1)
    s = s[:, :, : h, : w] if s.shape[-2] >= h else F.pad(s, (0, w - s.shape[-1], 0, h - s.shape[-2]))
    s = 1.0 - torch.exp(-1.5 * s)          # overlapping drops saturate instead of exploding
    s = _gaussian_blur(s, blur)
    return (s * brightness.view(-1, 1, 1, 1) / (1.0 - math.exp(-1.5))).clamp(0.0, 1.0)


def haze_maps(b: int, h: int, w: int, haze: torch.Tensor, airlight: torch.Tensor,
              generator: torch.Generator | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Transmission T (B, 1, H, W) with mean about 1 - haze, and atmospheric light A (B, 3, 1, 1)."""
    # smooth random depth: a coarse random field plus a top-to-bottom gradient (the sky is far)
    coarse = torch.rand(b, 1, 4, 4, generator=generator).to(device)
    depth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    grad = torch.linspace(1.0, 0.3, h, device=device).view(1, 1, h, 1)
    depth = 0.5 * depth + 0.5 * grad                                        # in about [0.15, 1]
    depth = depth / depth.mean(dim=(2, 3), keepdim=True).clamp_min(1e-6)   # mean 1
    beta = -torch.log1p(-haze.clamp(0, 0.95)).view(-1, 1, 1, 1)          # exp(-beta) = 1 - haze
    t = torch.exp(-beta * depth).clamp(0.05, 1.0)
    tint = 0.03 * (torch.rand(b, 3, 1, 1, generator=generator).to(device) - 0.5)
    a = (airlight.view(-1, 1, 1, 1) + tint).clamp(0, 1)
    return t, a


def _draw(p: RainParams, b: int, g, device, angle_range=None) -> dict[str, torch.Tensor]:
    ang = angle_range if angle_range is not None else p.angle
    out = {name: _uniform(*getattr(p, name), b, g, device) for name in
           ("density", "length", "width", "brightness", "blur", "haze", "atmospheric_light", "spread")}
    out["angle"] = _uniform(ang[0], ang[1], b, g, device)
    lo, hi = p.layers
    out["layers"] = torch.randint(lo, hi + 1, (b,), generator=g).to(device)
    if angle_range is not None:  # keep every layer inside the requested range
        out["spread"] = torch.zeros_like(out["spread"])
    return out


def rain_batch(clean: torch.Tensor, preset: str | RainParams = "mixed", generator: torch.Generator | None = None,
               angle_range: tuple[float, float] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Add rain to a batch of clean images (B, 3, H, W) in [0, 1].

    Returns ``(rainy, parts)`` where parts holds ``streaks`` S (B, L, 1, H, W) (unused layers are zero),
    ``transmission`` T (B, 1, H, W) and ``atmospheric_light`` A (B, 3, 1, 1), so that
    ``rainy = clamp(T * (clean + S.sum(1)) + (1 - T) * A, 0, 1)``.  ``angle_range`` (degrees) overrides the
    preset's angles for every layer (used to test generalisation to unseen rain directions).
    """
    if clean.ndim != 4 or clean.shape[1] != 3:
        raise ValueError(f"clean must be (B, 3, H, W), got {tuple(clean.shape)}")
    b, _, h, w = clean.shape
    dev = clean.device
    if isinstance(preset, str):
        check_preset(preset)
        if any(n in BANK_NAMES for n in preset.split("+")):
            return _bank_or_mix(clean, preset.split("+"), generator, angle_range)
        if "+" in preset:  # one of the joined presets per image, uniformly
            names = preset.split("+")
            pick = torch.randint(len(names), (b,), generator=generator).to(dev)
            draws = [_draw(PRESETS[n], b, generator, dev, angle_range) for n in names]
            rows = torch.arange(b, device=dev)
            d = {k: torch.stack([dr[k] for dr in draws])[pick, rows] for k in draws[0]}
        elif preset == "mixed":
            heavy = torch.rand(b, generator=generator) < 0.5
            light_d = _draw(PRESETS["light"], b, generator, dev, angle_range)
            heavy_d = _draw(PRESETS["heavy"], b, generator, dev, angle_range)
            hv = heavy.to(dev)
            d = {k: torch.where(hv, heavy_d[k], light_d[k]) for k in light_d}
        else:
            d = _draw(PRESETS[preset], b, generator, dev, angle_range)
    else:
        d = _draw(preset, b, generator, dev, angle_range)

    max_layers = int(d["layers"].max())
    layers = []
    for i in range(max_layers):
        if i == 0:
            ang = d["angle"]
        else:
            sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0).to(dev)
            ang = d["angle"] + sign * d["spread"] * torch.rand(b, generator=generator).to(dev)
            if angle_range is not None:
                ang = _uniform(angle_range[0], angle_range[1], b, generator, dev)
        # later layers are a little fainter and thinner, as in stacked Photoshop-style rain
        fade = 1.0 if i == 0 else 0.8
        s = streak_layer(b, h, w, ang, d["density"], d["length"] * (1.0 if i == 0 else 0.85), d["width"],
                         d["brightness"] * fade, d["blur"], generator, dev)
        active = (d["layers"] > i).float().view(-1, 1, 1, 1)
        layers.append(s * active)
    streaks = torch.stack(layers, 1)  # (B, L, 1, H, W)
    t, a = haze_maps(b, h, w, d["haze"], d["atmospheric_light"], generator, dev)
    no_haze = (d["haze"] <= 0).view(-1, 1, 1, 1)
    t = torch.where(no_haze, torch.ones_like(t), t)
    rainy = (t * (clean + streaks.sum(1)) + (1 - t) * a).clamp(0.0, 1.0)
    return rainy, {"streaks": streaks, "transmission": t, "atmospheric_light": a}


def downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic (antialiased) downsampling by an integer factor, as used to make low-resolution pairs."""
    if scale == 1:
        return x
    h, w = x.shape[-2] // scale, x.shape[-1] // scale
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def add_rain(image: Any, angle: float = 0.0, density: float = 0.002, length: float = 25.0, width: float = 1.0,
             brightness: float = 0.6, blur: float = 0.5, layers: int = 1, spread: float = 15.0,
             haze: float = 0.0, atmospheric_light: float = 0.85, seed: int = 0,
             return_parts: bool = False):
    """Add rain to one image (path, PIL or array) -> uint8 (H, W, 3); the same seed gives the same rain.

    ``layers`` > 1 adds directions within ``angle +- spread`` degrees; ``haze`` in [0, 0.95) is the mean
    veiling (1 - T) towards ``atmospheric_light``.
    """
    from .io import read_image, to_tensor, to_uint8

    for name, val, lo, hi in (("density", density, 0.0, 1.0), ("haze", haze, 0.0, 0.95),
                              ("brightness", brightness, 0.0, 1.0), ("atmospheric_light", atmospheric_light, 0, 1)):
        if not lo <= val <= hi:
            raise ValueError(f"{name} must be in [{lo}, {hi}], got {val}")
    if length < 1 or width <= 0 or blur < 0 or layers < 1:
        raise ValueError("length must be >= 1, width > 0, blur >= 0 and layers >= 1")
    img = read_image(image)
    x = to_tensor(img)
    p = RainParams(angle=(angle, angle), spread=(spread, spread), layers=(layers, layers),
                   density=(density, density), length=(length, length), width=(width, width),
                   brightness=(brightness, brightness), blur=(blur, blur), haze=(haze, haze),
                   atmospheric_light=(atmospheric_light, atmospheric_light))
    g = torch.Generator().manual_seed(int(seed))
    rainy, parts = rain_batch(x, p, g)
    out = to_uint8(rainy)
    return (out, parts) if return_parts else out
