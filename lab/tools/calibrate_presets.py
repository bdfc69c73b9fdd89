"""Calibrate the synthetic rain presets (``derain_lib.rain.PRESETS``) on training pairs, never on a test set.

    python -m lab.tools.calibrate_presets                         # all presets, prints the table (about 7 min)
    python -m lab.tools.calibrate_presets --presets light heavy   # some of them
    python -m lab.tools.calibrate_presets --write-json calib.json # and keep the table, the fits and the settings

For each preset, the statistics of its synthetic rain layer over the clean images of training pairs are compared
with those of the same pairs' real rain layer ``rainy - clean`` (gray: mean over the channels, in [0, 1]), on the
same pixels: 8 seeded 64x64 crops per pair, each drawing its own rain (a preset draws density, brightness and
layer count per image from wide ranges, so one draw per pair leaves the fit at the mercy of the seed: over 37
crops of 192x192 the same preset ranged from 11.9 to 13.5 dB between seeds):

- ``mean`` of the layer, ``gt08`` / ``gt25`` the share of pixels above 0.08 / 0.25, ``p90`` / ``p99`` its
  percentiles (pooled over the pixels of every crop),
- ``psnr_y`` the input Y-PSNR of rainy against clean (``derain_lib.metrics.psnr``, uint8) of all the crops
  stacked into one image (the mean over the pairs of each pair's, the usual per-image figure, is reported as
  ``psnr_y_pairs`` but not fitted: see :func:`loss`).

Only the preset's intensity is fitted: one scale on its ``density`` range and one on its ``brightness`` range; its
look (angles, spread, lengths, widths, blur, layer counts) is kept.  The fit minimises the sum of squared relative
errors of the five layer statistics plus that of the MSE the PSNR stands for (``10**(dB/10) - 1``), over density
scales (a half-octave grid, then a pattern search; each one rendering) and, for each, a fine grid of brightness
scales (no new rendering: the streaks are drawn once at a brightness no layer clips at, and rescaled; checked
against ``rain_batch`` to within a gray level of rounding).  The random draws are the same for every candidate, so
the search compares like with like.  The fitted ranges are
rounded to two significant figures and the rounded preset evaluated again by ``rain_batch`` ("after").

Targets (training pairs only, ``--light-set`` and ``--heavy-sets`` to change them; the benchmark test sets and
``real_rain_gt35`` are refused):

- ``light`` <- ``rain100L_train/`` (RainTrainL), a fixed subset: every fifth pair (40 of 200);
- ``heavy``, ``heavy_thin``, ``heavy_cross`` <- the heavy training pairs: ``rain100H_train12/`` without its
  light pair (``02``) and ``rain_heavy_train26/`` (its ``a*`` Rain200H renderings and ``b*`` RainTrainH pairs);
  the tool first compares the Rain200H and RainTrainH groups (per-pair statistics, a seeded permutation test)
  and with ``--heavy-pairs auto`` uses all of them only if no statistic differs (Bonferroni-corrected p < 0.05);
- ``heavy_haze`` <- no training pair has haze, so only its streaks (haze off) are fitted to the heavy pairs; its
  haze and atmospheric-light ranges stay as they are (a physical prior, see docs/data.md).

At 1 torch thread (the default) the same seed gives the same figures.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from derain_lib.folders import PairedFolder
from derain_lib.metrics import psnr
from derain_lib.paths import BENCHMARK_SETS, data_root, refuse_test_set
from derain_lib.rain import PRESETS, RainParams, rain_batch

# Evaluation-only sets: the benchmark test sets, and GT-RAIN's real pairs (not in BENCHMARK_SETS, never tuned on).
EVALUATION_SETS = (*BENCHMARK_SETS, "real_rain_gt35")
LIGHT_SET = "rain100L_train"
HEAVY_SETS = ("rain100H_train12", "rain_heavy_train26")
LIGHT_PAIRS_OF_HEAVY_SETS = {"rain100H_train12": ("02",)}   # RainTrainH's one light-rain pair (27.0 dB input)
TARGET_OF = {"light": "light", "heavy": "heavy", "heavy_thin": "heavy", "heavy_cross": "heavy",
             "heavy_haze": "heavy"}
STATS = ("mean", "gt08", "gt25", "p90", "p99", "psnr_y")
LAYER_STATS = STATS[:-1]
STREAKS_ONLY = ("heavy_haze",)   # presets whose haze no training pair can calibrate: fit the streaks alone
_K = 1.0 - math.exp(-1.5)         # streak_layer's normalisation: a layer clips where s * brightness / _K > 1


def refuse(name: str) -> None:
    """Raise ValueError for an evaluation set: presets are calibrated on training pairs only."""
    refuse_test_set(name, "calibrate presets on training pairs only")
    if Path(name).name in EVALUATION_SETS:
        raise ValueError(f"{Path(name).name} is an evaluation set: calibrate presets on training pairs only")


@dataclass
class Pairs:
    """Seeded crops of training pairs, ``per_pair`` consecutive crops per pair: clean and real rainy uint8
    (N, C, C, 3); the pairs' names and groups."""
    label: str
    clean: np.ndarray
    rainy: np.ndarray
    names: list[str]
    groups: list[str]
    per_pair: int

    def stats(self, rainy: np.ndarray | None = None, pairs_psnr: bool = False) -> dict[str, float]:
        """The statistics of ``rainy`` (default: the real rainy crops) against the clean crops."""
        return stats_of(self.rainy if rainy is None else rainy, self.clean, self.per_pair, pairs_psnr)


def _crop_box(shape: tuple[int, ...], size: int, rng: np.random.Generator) -> tuple[int, int]:
    h, w = shape[:2]
    if h < size or w < size:
        raise ValueError(f"image {w}x{h} smaller than the crop {size}")
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def _group(set_name: str, name: str) -> str:
    if set_name == "rain_heavy_train26":
        return "Rain200H (a*)" if name.startswith("a") else "RainTrainH (b*)"
    return {"rain100H_train12": "RainTrainH (rain100H_train12)", LIGHT_SET: "RainTrainL"}.get(set_name, set_name)


def load_pairs(sets: tuple[str, ...], crop: int, per_pair: int, seed: int, every: int = 1,
               groups: tuple[str, ...] | None = None, label: str = "") -> Pairs:
    """``per_pair`` seeded ``crop`` x ``crop`` windows of each pair of ``sets`` (every ``every``-th pair of each),
    the light pairs of the heavy sets left out."""
    rng = np.random.default_rng(seed)
    clean, rainy, names, grp = [], [], [], []
    for s in sets:
        refuse(s)
        folder = data_root() / s
        if not folder.is_dir():
            raise FileNotFoundError(f"training set {s} not found at {folder} (set DERAIN_DATA)")
        ds = PairedFolder(folder)
        skip = LIGHT_PAIRS_OF_HEAVY_SETS.get(s, ())
        for i in range(0, len(ds), every):
            r, c, n = ds[i]
            if Path(n).stem in skip:
                continue
            boxes = [_crop_box(c.shape, crop, rng) for _ in range(per_pair)]
            clean.append([c[y:y + crop, x:x + crop] for y, x in boxes])
            rainy.append([r[y:y + crop, x:x + crop] for y, x in boxes])
            names.append(f"{s}/{n}")
            grp.append(_group(s, n))
    keep = [i for i, g in enumerate(grp) if groups is None or g in groups]
    return Pairs(label or "+".join(sets), np.stack([x for i in keep for x in clean[i]]),
                 np.stack([x for i in keep for x in rainy[i]]), [names[i] for i in keep], [grp[i] for i in keep],
                 per_pair)


def layer_sum(rainy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """765 times the gray rain layer: the sum over the channels of rainy - clean in gray levels, (N, H, W) int16
    (integers keep the statistics exact and fast)."""
    d = rainy.astype(np.int16) - clean.astype(np.int16)
    return d[..., 0] + d[..., 1] + d[..., 2]


def stats_of(rainy: np.ndarray, clean: np.ndarray, per_pair: int = 1, pairs_psnr: bool = False) -> dict[str, float]:
    """The calibration statistics of a stack of uint8 (rainy, clean) crops (N, H, W, 3), over all their pixels:
    those of the gray layer ``mean_c(rainy - clean) / 255`` in [0, 1], and the Y-PSNR of the crops taken together
    (one image).  ``pairs_psnr``: also ``psnr_y_pairs``, the mean over the pairs of the Y-PSNR of each pair's
    ``per_pair`` consecutive crops (the usual per-image figure; not fitted, see :func:`loss`)."""
    s, full = layer_sum(rainy, clean), 3 * 255
    p90, p99 = np.percentile(s, [90, 99]) / full
    out = {"mean": float(s.mean() / full), "gt08": float((s > 0.08 * full).mean()),
           "gt25": float((s > 0.25 * full).mean()), "p90": float(p90), "p99": float(p99),
           "psnr_y": psnr(_stacked(rainy, 0, len(rainy)), _stacked(clean, 0, len(clean)))}
    if pairs_psnr:
        out["psnr_y_pairs"] = float(np.mean([psnr(_stacked(rainy, i, per_pair), _stacked(clean, i, per_pair))
                                             for i in range(0, len(rainy), per_pair)]))
    return out


def _stacked(x: np.ndarray, i: int, n: int) -> np.ndarray:
    """Crops i .. i + n - 1 one above the other: one (n * H, W, 3) image."""
    return x[i:i + n].reshape(-1, *x.shape[2:])


def per_pair_stats(pairs: Pairs) -> list[dict[str, float]]:
    k = pairs.per_pair
    return [stats_of(pairs.rainy[i:i + k], pairs.clean[i:i + k], k) for i in range(0, len(pairs.clean), k)]


def loss(s: dict[str, float], t: dict[str, float]) -> float:
    """Sum of squared relative errors of the layer statistics and of the MSE behind the PSNR of all crops.

    The mean of per-pair PSNRs is not fitted: a synthetic pair's crops draw their rain independently, so its
    PSNR varies less from pair to pair than a real pair's (9 to 23 dB among the heavy ones), and a mean of
    decibels rewards that spread (the calibrated presets, matching the pooled error, land 0.8 to 1.4 dB lower
    there)."""
    e = [(s[k] - t[k]) / t[k] for k in LAYER_STATS]
    e.append(10 ** ((t["psnr_y"] - s["psnr_y"]) / 10) - 1)
    return float(np.sum(np.square(e)))


def _to_u8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _tensor(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255.0


def scaled(p: RainParams, density: float = 1.0, brightness: float = 1.0) -> RainParams:
    return replace(p, density=(p.density[0] * density, p.density[1] * density),
                   brightness=(p.brightness[0] * brightness, p.brightness[1] * brightness))


def render(p: RainParams, clean: np.ndarray, seed: int, chunk: int = 64) -> np.ndarray:
    """``rain_batch`` of ``p`` over the clean crops, seeded, in chunks: rainy uint8 (N, H, W, 3)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(clean), chunk):
        r, _ = rain_batch(_tensor(clean[i:i + chunk]), p, g)
        out.append(_to_u8(r))
    return np.concatenate(out)


class Streaks:
    """The streak layers of a preset (haze off) over the clean crops for one density scale, drawn once at a
    brightness no layer clips at, so that any brightness scale is a rescale: ``rainy(b)`` equals
    ``rain_batch(clean, scaled(p, density, b))`` (the random draws do not depend on the ranges' values)."""

    def __init__(self, p: RainParams, clean: np.ndarray, density: float, seed: int, chunk: int = 64):
        self.c = _K / p.brightness[1]           # brightness scale of the draw: its brightest layer peaks at _K
        q = replace(scaled(p, density, self.c), haze=(0.0, 0.0))
        g = torch.Generator().manual_seed(seed)
        self.clean = _tensor(clean)
        self.layers = []                         # (N, L, 1, H, W) per chunk, unclipped
        for i in range(0, len(clean), chunk):
            _, parts = rain_batch(self.clean[i:i + chunk], q, g)
            self.layers.append(parts["streaks"])

    def rainy(self, brightness: float) -> np.ndarray:
        k = brightness / self.c
        out, i = [], 0
        for s in self.layers:
            n = s.shape[0]
            add = (s * k).clamp(0.0, 1.0).sum(1)
            out.append(_to_u8((self.clean[i:i + n] + add).clamp(0.0, 1.0)))
            i += n
        return np.concatenate(out)


def _round_sig(x: float, sig: int = 2) -> float:
    return float(f"{x:.{sig}g}") if x else 0.0


def rounded(p: RainParams) -> RainParams:
    """The fitted ranges as they go into PRESETS: two significant figures (brightness at most 1)."""
    return replace(p, density=tuple(_round_sig(v) for v in p.density),
                   brightness=tuple(min(1.0, _round_sig(v)) for v in p.brightness))


def fit(name: str, p: RainParams, pairs: Pairs, target: dict[str, float], seed: int,
        log=print) -> tuple[RainParams, dict[str, Any]]:
    """Density and brightness scales of ``p`` that best match ``target``: density scales x0.25 .. x4 in half
    octaves, then a pattern search from the best (steps of 1/4, 1/8, 1/16 octave, free to leave that range); for
    each density scale the best brightness scale on a grid of 1/8 octave (x0.25 .. x4, at most up to a brightness
    of 1), refined in 1/64 octave steps."""
    b_max = 1.0 / p.brightness[1]                       # keep the brightest streak at most 1
    tried: dict[float, tuple[float, float, bool]] = {}   # density scale -> (loss, brightness scale, at grid edge)

    def best_brightness(st: Streaks) -> tuple[float, float, bool]:
        def one(b: float) -> tuple[float, float]:
            return loss(pairs.stats(st.rainy(b)), target), b
        coarse = [b for b in 2 ** (np.arange(-16, 17) / 8) if b <= b_max]     # x0.25 .. x4 (or the cap)
        b0 = min(one(b) for b in coarse)
        fine = [b0[1] * 2 ** (k / 64) for k in range(-7, 8) if k and b0[1] * 2 ** (k / 64) <= b_max]
        return (*min([b0, *(one(b) for b in fine)]), b0[1] in (coarse[0], coarse[-1]))

    def at(d: float) -> tuple[float, float]:
        d = round(d, 6)
        if d not in tried:
            tried[d] = best_brightness(Streaks(p, pairs.clean, d, seed))
            log(f"  {name}: density x{d:.3f} -> brightness x{tried[d][1]:.3f}, loss {tried[d][0]:.4f}")
        return tried[d]

    for k in range(-4, 5):                               # x0.25 .. x4
        at(2 ** (k / 2))
    d = min(tried, key=lambda x: tried[x][0])
    step = 2 ** (1 / 4)
    while step > 2 ** (1 / 32):                          # pattern search: steps of 1/4, 1/8, 1/16 octave
        for cand in (d * step, d / step):
            if at(cand)[0] < tried[d][0]:
                d = round(cand, 6)
                break
        else:
            step = math.sqrt(step)
    d_best, b_best = d, tried[d][1]
    return scaled(p, d_best, b_best), {"density_scale": d_best, "brightness_scale": b_best,
                                       "search_loss": tried[d_best][0], "brightness_at_grid_edge": tried[d][2],
                                       "density_scales_tried": len(tried)}


def self_check(p: RainParams, clean: np.ndarray, seed: int) -> float:
    """Largest difference (gray levels) between the rescaled streaks and rain_batch at a clipping brightness."""
    q = replace(p, haze=(0.0, 0.0))
    b = 1.0 / q.brightness[1]             # brightest streaks reach 1: the clipping path is exercised
    direct = render(scaled(q, 1.3, b), clean, seed)
    fast = Streaks(q, clean, 1.3, seed).rainy(b)
    return float(np.abs(direct.astype(int) - fast.astype(int)).max())


def compare_groups(pairs: Pairs, seed: int, n_perm: int = 2000) -> dict[str, Any]:
    """Per-pair statistics of Rain200H (a*) against RainTrainH (rain100H_train12 and b*): group means and the
    two-sided permutation p-value of the difference of means, per statistic."""
    per = per_pair_stats(pairs)
    a = np.array([g.startswith("Rain200H") for g in pairs.groups])
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"groups": {}, "p_values": {}}
    for g in sorted(set(pairs.groups)):
        sel = [i for i, x in enumerate(pairs.groups) if x == g]
        out["groups"][g] = {"n": len(sel), **{k: float(np.mean([per[i][k] for i in sel])) for k in STATS}}
    if a.all() or not a.any():
        return {**out, "alpha": 0.05 / len(STATS), "same": True, "note": "one group only: nothing to compare"}
    perms = [rng.permutation(a) for _ in range(n_perm)]
    for k in STATS:
        v = np.array([s[k] for s in per])
        diff = abs(v[a].mean() - v[~a].mean())
        null = np.array([abs(v[m].mean() - v[~m].mean()) for m in perms])
        out["p_values"][k] = float((1 + (null >= diff - 1e-12).sum()) / (1 + n_perm))
        out["groups"].setdefault("Rain200H (a*) vs RainTrainH", {})[k] = float(v[a].mean() - v[~a].mean())
    out["alpha"] = 0.05 / len(STATS)
    out["same"] = all(pv >= out["alpha"] for pv in out["p_values"].values())
    return out


def fmt(s: dict[str, float]) -> str:
    pairs = f" ({s['psnr_y_pairs']:5.2f})" if "psnr_y_pairs" in s else ""
    return (f"{s['mean']:.3f} {100 * s['gt08']:5.1f}% {100 * s['gt25']:5.1f}% {s['p90']:.3f} {s['p99']:.3f} "
            f"{s['psnr_y']:6.2f}{pairs}")


def params_text(p: RainParams | dict[str, Any]) -> str:
    d, b = (p.density, p.brightness) if isinstance(p, RainParams) else (p["density"], p["brightness"])
    return f"density {tuple(d)}, brightness {tuple(b)}"


def table(result: dict[str, Any]) -> str:
    """Per preset: its target set, then target, before and after (layer statistics, Y-PSNR, loss, ranges)."""
    L = []
    for name, r in result["presets"].items():
        L += [f"{name} <- {r['target_set']}",
              f"  {'':<7} {'mean':>5} {'>0.08':>6} {'>0.25':>6} {'p90':>5} {'p99':>5} {'Y-PSNR':>6} (pairs)   loss",
              f"  {'target':<7} {fmt(r['target'])}"]
        for which in ("before", "after"):
            x = r[which]
            L.append(f"  {which:<7} {fmt(x['stats'])}  {x['loss']:.4f}  {params_text(x['params'])}")
        if r.get("with_haze"):
            L.append(f"  with its haze (kept as it was): Y-PSNR {r['with_haze']['before']:.2f} before, "
                     f"{r['with_haze']['after']:.2f} after")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.tools.calibrate_presets", description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=list(TARGET_OF), choices=list(TARGET_OF))
    ap.add_argument("--crop", type=int, default=64, help="side of the seeded crops (default 64)")
    ap.add_argument("--crops-per-pair", type=int, default=8,
                    help="crops per pair (default 8): each gets its own draw of the preset's random ranges")
    ap.add_argument("--light-set", default=LIGHT_SET, help=f"light-rain training pairs (default {LIGHT_SET})")
    ap.add_argument("--heavy-sets", nargs="+", default=list(HEAVY_SETS),
                    help=f"heavy-rain training pairs (default {' '.join(HEAVY_SETS)})")
    ap.add_argument("--light-every", type=int, default=5,
                    help="use every N-th pair of rain100L_train (default 5: 40 of the 200)")
    ap.add_argument("--heavy-pairs", choices=["auto", "all", "raintrainh"], default="auto",
                    help="heavy target: all 37 heavy pairs, RainTrainH's 17 only, or auto (all if the Rain200H and "
                         "RainTrainH groups do not differ)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--write-json", metavar="PATH", help="save the table, settings and fits as JSON")
    args = ap.parse_args(argv)
    for s in (args.light_set, *args.heavy_sets):
        try:
            refuse(s)
        except ValueError as e:
            ap.error(str(e))
    torch.set_num_threads(args.threads)
    t0 = time.time()

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    result: dict[str, Any] = {"settings": {"crop": args.crop, "crops_per_pair": args.crops_per_pair,
                                           "light_every": args.light_every, "seed": args.seed,
                                           "threads": args.threads, "heavy_pairs": args.heavy_pairs,
                                           "stats": list(STATS)}, "presets": {}}
    targets: dict[str, Pairs] = {}
    if any(TARGET_OF[p] == "light" for p in args.presets):
        targets["light"] = load_pairs((args.light_set,), args.crop, args.crops_per_pair, args.seed,
                                      every=args.light_every)
        targets["light"].label = (f"{args.light_set}: {len(targets['light'].names)} pairs, every "
                                  f"{args.light_every}th")
    if any(TARGET_OF[p] == "heavy" for p in args.presets):
        heavy = load_pairs(tuple(args.heavy_sets), args.crop, args.crops_per_pair, args.seed)
        cmp = compare_groups(heavy, args.seed)
        result["heavy_groups"] = cmp
        log("heavy training pairs by group (means of per-pair figures; p = permutation test, Rain200H vs "
            "RainTrainH):")
        for g, v in cmp["groups"].items():
            log(f"  {g:<32} " + " ".join(f"{k} {v[k]:+.3f}" if "vs" in g else f"{k} {v[k]:.3f}" for k in STATS)
                + (f"  (n={v['n']})" if "n" in v else ""))
        log("  p: " + " ".join(f"{k} {p:.3f}" for k, p in cmp["p_values"].items())
            + f"  -> {'same' if cmp['same'] else 'different'} at p < {cmp['alpha']:.4f} (Bonferroni)")
        use_all = args.heavy_pairs == "all" or (args.heavy_pairs == "auto" and cmp["same"])
        if not use_all:
            heavy = load_pairs(tuple(args.heavy_sets), args.crop, args.crops_per_pair, args.seed,
                               groups=("RainTrainH (rain100H_train12)", "RainTrainH (b*)"))
        counts = {g: heavy.groups.count(g) for g in dict.fromkeys(heavy.groups)}
        heavy.label = f"{len(heavy.names)} heavy pairs: " + ", ".join(f"{n} {g}" for g, n in counts.items())
        targets["heavy"] = heavy
        result["heavy_pairs_used"] = heavy.names
    for name, pairs in targets.items():
        log(f"target {name}: {pairs.label}: {fmt(pairs.stats(pairs_psnr=True))}")

    for name in args.presets:
        pairs = targets[TARGET_OF[name]]
        target = pairs.stats(pairs_psnr=True)
        p = PRESETS[name]
        streaks_only = name in STREAKS_ONLY
        q = replace(p, haze=(0.0, 0.0)) if streaks_only else p
        diff = self_check(q, pairs.clean[:4], args.seed)
        if diff > 1:
            raise RuntimeError(f"{name}: rescaled streaks differ from rain_batch by {diff} gray levels")
        log(f"{name}: fitting on {pairs.label} (self-check: {diff:.0f} gray levels from rain_batch)")
        before = pairs.stats(render(q, pairs.clean, args.seed), pairs_psnr=True)
        fitted, info = fit(name, q, pairs, target, args.seed, log)
        new = rounded(fitted)
        after = pairs.stats(render(new, pairs.clean, args.seed), pairs_psnr=True)
        r = {"target_set": pairs.label, "target": target, "fit": info,
             "before": {"params": asdict(p), "stats": before, "loss": loss(before, target)},
             "after": {"params": asdict(replace(new, haze=p.haze)), "stats": after, "loss": loss(after, target)}}
        if streaks_only:
            r["with_haze"] = {"before": pairs.stats(render(p, pairs.clean, args.seed))["psnr_y"],
                              "after": pairs.stats(render(replace(new, haze=p.haze), pairs.clean, args.seed))[
                                  "psnr_y"],
                              "note": "streaks fitted with the haze off; haze and atmospheric light kept"}
        result["presets"][name] = r
        log(f"{name}: density x{info['density_scale']:.3f}, brightness x{info['brightness_scale']:.3f}: "
            f"{params_text(new)} (loss {r['before']['loss']:.4f} -> {r['after']['loss']:.4f})")
    result["seconds"] = round(time.time() - t0, 1)
    print(table(result))
    print(f"({result['seconds']:.0f} s at {args.threads} thread(s); statistics of the gray rain layer rainy - clean "
          f"over {args.crops_per_pair} {args.crop}x{args.crop} crops per pair; Y-PSNR of all crops together, in "
          "brackets the mean over pairs (not fitted); loss = sum of squared relative errors)")
    if args.write_json:
        Path(args.write_json).write_text(json.dumps(result, indent=1) + "\n")
        log(f"wrote {args.write_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
