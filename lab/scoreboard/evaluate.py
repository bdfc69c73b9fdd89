"""Scoring one method on the sets, image by image through the cache, and one weight's scoreboard row."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from derain_lib.reports import read_sidecar

from . import protocol
from .cache import Cache
from .machines import machine_state
from .methods import Method, crop, input_method, weight_method
from .protocol import (
    METRICS,
    NR_SET,
    PAIRED_SETS,
    SUBSET_SETS,
    SUBSETS,
    heldout_real,
    real_photo_files,
    set_dir,
    subset_indices,
)

Log = Callable[[str], None]


def _timed(m: Method, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = m.run(x)
    return out, time.perf_counter() - t0, time.process_time() - c0


def score_one(m: Method, rainy: np.ndarray, clean: np.ndarray, name: str,
              in_row: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``m``'s output and of its baseline input on one pair, and the model's wall and CPU time.

    ``in_row``: the input row's cached result for this image (scale 1: the baseline is the rainy image itself)."""
    from derain_lib.metrics import all_metrics
    rainy, clean = crop(rainy, m.scale), crop(clean, m.scale)
    out, wall, cpu = _timed(m, m.prep(rainy))
    row: dict[str, Any] = {"seconds": wall, "cpu_seconds": cpu, "hw": list(clean.shape[:2])}
    row.update({f"out_{k}": v for k, v in all_metrics(out, clean).items()})
    if m.identity:
        row.update({f"in_{k}": row[f"out_{k}"] for k in METRICS})
    elif in_row is not None and m.scale == 1:
        row.update({f"in_{k}": in_row[f"out_{k}"] for k in METRICS})
    else:
        row.update({f"in_{k}": v for k, v in all_metrics(m.baseline(rainy), clean).items()})
    return row


def eval_paired(m: Method, set_name: str, subset: str, cache: Cache, log: Log | None = None,
                cached_only: bool = False) -> dict[str, Any] | None:
    """Mean metrics of ``m`` (and of its baseline input) over the ``subset`` of a paired set (cached per image).

    ``cached_only``: compute nothing; None unless every image of the subset is cached."""
    from derain_lib.data import PairedFolder

    ds = PairedFolder(set_dir(set_name))
    idx = subset_indices(len(ds), subset)
    have = cache.rows(m, set_name)
    if cached_only and any(ds.pairs[i][0].name not in have for i in idx):
        return None
    inputs = cache.rows(input_method(), set_name) if m.scale == 1 and not m.identity else {}
    per = []
    t_start, n_new = time.perf_counter(), 0
    for j, i in enumerate(idx):
        name = ds.pairs[i][0].name
        if name not in have:
            row = score_one(m, *ds[i], in_row=inputs.get(name))
            if m.timed:
                row["state"] = machine_state()
            cache.put(m, set_name, name, row)
            have = cache.rows(m, set_name)
            n_new += 1
            if log and n_new % 10 == 0:
                log(f"  {m.key} {set_name} [{subset}] {j + 1}/{len(idx)} ({time.perf_counter() - t_start:.0f} s)")
        per.append(have[name])
    res: dict[str, Any] = {k: float(np.mean([r[f"out_{k}"] for r in per])) for k in METRICS}
    res.update({f"input_{k}": float(np.mean([r[f"in_{k}"] for r in per])) for k in METRICS})
    res.update({"n": len(per), "of": len(ds), "subset": subset})
    if m.timed:
        res["seconds_per_image"] = float(np.mean([r["seconds"] for r in per]))
        res["cpu_seconds_per_image"] = float(np.mean([r["cpu_seconds"] for r in per]))
        res["timing"] = {"first": per[0].get("state"), "last": per[-1].get("state")}
        res["machines"] = sorted({(r.get("state") or {}).get("machine") for r in per} - {None})
    return res


def eval_real(m: Method, subset: str, cache: Cache, log: Log | None = None,
              cached_only: bool = False) -> dict[str, Any] | None:
    """No-reference rain measure on the real photos (each downscaled to <= NR_MAX_PIXELS first), cached per photo.

    ``cached_only``: compute nothing; None unless every photo of the subset is cached."""
    from derain_lib.io import read_image
    from derain_lib.nr_quality import rain_residual

    files = real_photo_files()
    idx = subset_indices(len(files), subset)
    have = cache.rows(m, NR_SET)
    if cached_only and any(files[i].name not in have for i in idx):
        return None
    per = {}
    for i in idx:
        f = files[i]
        if f.name not in have:
            img = crop(protocol.downscale_to(read_image(f)), m.scale)
            out, wall, cpu = _timed(m, m.prep(img))
            r = rain_residual(out)
            cache.put(m, NR_SET, f.name, {"rain_excess": r["rain_excess"], "texture": r["texture"],
                                          "hw": list(out.shape[:2]), "seconds": wall, "cpu_seconds": cpu})
            have = cache.rows(m, NR_SET)
        per[f.name] = have[f.name]
    held = [v["rain_excess"] for k, v in per.items() if k in heldout_real()]
    return {"rain_excess": float(np.mean([v["rain_excess"] for v in per.values()])),
            "texture": float(np.mean([v["texture"] for v in per.values()])),
            "rain_excess_heldout": float(np.mean(held)) if held else None,
            "n": len(per), "of": len(files), "subset": subset,
            "per_image": {k: v["rain_excess"] for k, v in per.items()}}


def _pixels(p: Path) -> int:
    from PIL import Image
    with Image.open(p) as im:
        return im.size[0] * im.size[1]


def remaining_pixels(m: Method, cache: Cache, subset: str) -> float:
    """Output pixels still to compute for ``m`` with the rain100L/H and real-photo ``subset`` (outdoor: all)."""
    from derain_lib.data import PairedFolder
    total = 0.0
    for d in PAIRED_SETS:
        pairs = PairedFolder(set_dir(d)).pairs
        have = cache.rows(m, d)
        idx = subset_indices(len(pairs), subset if d in SUBSET_SETS else "all")
        total += sum(_pixels(pairs[i][0]) for i in idx if pairs[i][0].name not in have)
    files = real_photo_files()
    have = cache.rows(m, NR_SET)
    total += sum(min(_pixels(files[i]), protocol.NR_MAX_PIXELS) for i in subset_indices(len(files), subset)
                 if files[i].name not in have)
    return total


def choose_subset(m: Method, cache: Cache, max_seconds: float, forced: str | None, log: Log) -> str:
    """The densest subset whose uncached work fits ``max_seconds`` of CPU time at ``m``'s measured speed.

    The speed comes from the first rain100L image (cached, or measured now: index 0 is in every subset)."""
    from derain_lib.data import PairedFolder
    if forced and forced != "auto":
        return forced
    ds = PairedFolder(set_dir(SUBSET_SETS[0]))
    name = ds.pairs[0][0].name
    if name not in cache.rows(m, SUBSET_SETS[0]):
        row = score_one(m, *ds[0], in_row=cache.rows(input_method(), SUBSET_SETS[0]).get(name))
        row["state"] = machine_state()
        cache.put(m, SUBSET_SETS[0], name, row)
    first = cache.rows(m, SUBSET_SETS[0])[name]
    t = first["cpu_seconds"] / (first["hw"][0] * first["hw"][1] / m.scale ** 2)  # CPU s per input pixel
    est = 0.0
    for s in SUBSETS:
        est = t * remaining_pixels(m, cache, s) / m.scale ** 2
        if est <= max_seconds:
            log(f"{m.key}: {first['cpu_seconds']:.2f} CPU s on the first image -> subset {s} "
                f"(estimated {est:.0f} CPU s of new work <= {max_seconds:.0f})")
            return s
    log(f"{m.key}: {first['cpu_seconds']:.2f} CPU s on the first image -> subset every20 "
        f"(estimated {est:.0f} CPU s of new work > {max_seconds:.0f})")
    return "every20"


def set_summary(r: dict[str, Any]) -> dict[str, Any]:
    """The published figures of one set (no timing, no per-image rows)."""
    keep = list(METRICS) + [f"input_{k}" for k in METRICS] + ["n", "of", "subset"]
    return {k: r[k] for k in keep if k in r}


def densest_cached(m: Method, cache: Cache) -> str | None:
    """The densest subset whose rain100L and rain100H images are all cached for ``m`` (None if none is)."""
    for s in SUBSETS:
        if all(eval_paired(m, d, s, cache, cached_only=True) is not None for d in SUBSET_SETS):
            return s
    return None


def evaluate_weight(name: str, path: str | Path, cache_dir: str | Path | None, max_seconds: float,
                    subset: str | None, cached_only: bool = False, cache: Cache | None = None,
                    log: Log = print, threads: int | None = None,
                    only: Sequence[str] | None = None) -> dict[str, Any] | None:
    """One weight's scoreboard row (None in ``cached_only`` mode when no subset of rain100L/H is complete).

    ``only``: evaluate just these of rain100L, rain100H, outdoor_rain_sample, real_rainy (the others are read from
    the cache if there, else left empty)."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    path = Path(path)
    cache = cache or Cache(cache_dir)
    side = read_sidecar(path)
    m, model = weight_method(name, path)
    if cached_only:
        sub = densest_cached(m, cache)
        if sub is None:
            return None
    else:
        sub = choose_subset(m, cache, max_seconds, subset, log)
        log(f"{name}: rain100L/H and real photos on subset {sub}")

    def skip(d: str) -> bool:
        return cached_only or (only is not None and d not in only)
    sets = {d: eval_paired(m, d, sub if d in SUBSET_SETS else "all", cache, log, skip(d)) for d in PAIRED_SETS}
    if any(sets[d] is None for d in SUBSET_SETS):
        return None
    nr = eval_real(m, sub, cache, log, skip(NR_SET)) or {}
    timed = [sets[d] for d in SUBSET_SETS]
    n_t = sum(r["n"] for r in timed)
    return {
        "weights": name, "arch": model.arch, "experiment": bool(side.get("experiment")),
        "scale": m.scale, "params": int(sum(p.numel() for p in model.parameters())),
        "sha256": m.fingerprint,
        "sets": {d: (set_summary(r) if r else None) for d, r in sets.items()},
        "nr_real": nr.get("rain_excess"), "nr_real_heldout": nr.get("rain_excess_heldout"),
        "nr_texture": nr.get("texture"), "nr_n": nr.get("n"), "nr_subset": nr.get("subset"),
        "nr_per_image": nr.get("per_image"),
        "seconds_per_image": sum(r["seconds_per_image"] * r["n"] for r in timed) / n_t,
        "cpu_seconds_per_image": sum(r["cpu_seconds_per_image"] * r["n"] for r in timed) / n_t,
        "timing": sets[SUBSET_SETS[0]].get("timing"),
        "timing_machines": sorted(set().union(*(sets[d].get("machines", []) for d in SUBSET_SETS))),
        "summary": side.get("summary", ""),
        "_drn": model.arch == "drn" and not side.get("experiment"),
    }


def worker(args: tuple) -> tuple[str, dict[str, Any] | None, str]:
    """:func:`evaluate_weight` in a worker process (1 torch thread), its log returned as text."""
    import io as _io
    buf = _io.StringIO()
    name, path, cache_dir, max_seconds, subset, data, only = args
    os.environ["DERAIN_DATA"] = data
    row = evaluate_weight(name, path, cache_dir, max_seconds, subset, log=lambda s: print(s, file=buf), threads=1,
                          only=only)
    return name, row, buf.getvalue()
