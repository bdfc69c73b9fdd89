"""The scoreboard dict: the input row, one row per shipped weight, the SR comparison rows, papers, the picks."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from derain_lib.paths import WEIGHTS_DIR, data_root

from .cache import Cache
from .evaluate import Log, eval_paired, eval_real, evaluate_weight, set_summary, worker
from .lineage import weight_flags
from .machines import machine_state
from .methods import bicubic_method, drn_then_bicubic, input_method, weight_files
from .papers import PAPERS
from .protocol import (
    CACHE_DIR,
    COMMAND,
    DEFAULT_MAX_SECONDS,
    NR_SET,
    PAIRED_SETS,
    PROTOCOL,
    SUBSET_SETS,
    SUBSETS,
    set_dir,
)
from .rule import RECOMMENDED_RULE, recommend


def _input_row(cache: Cache, log: Log) -> dict[str, Any]:
    inp = input_method()
    row: dict[str, Any] = {"sets": {d: set_summary(eval_paired(inp, d, "all", cache, log)) for d in PAIRED_SETS}}
    nr = eval_real(inp, "all", cache, log)
    row.update({"nr_real": nr["rain_excess"], "nr_real_heldout": nr["rain_excess_heldout"],
                "nr_texture": nr["texture"], "nr_per_image": nr["per_image"]})
    return row


def _sr_comparisons(scales: set[int], drn_weights: list[tuple[str, Path]], cache: Cache, log: Log,
                    skip: bool) -> list[dict[str, Any]]:
    """For each SR scale, on outdoor_rain_sample: bicubic, and each DRN weight followed by bicubic.  (On
    rain100L/H an SR row's own input figures are the bicubic ones on the same images.)"""
    out = []
    for s in sorted(x for x in scales if x > 1):
        r = eval_paired(bicubic_method(s), "outdoor_rain_sample", "all", cache, log, skip)
        if r is not None:
            out.append({"label": f"bicubic x{s} (rainy LR upsampled)", "scale": s,
                        "sets": {"outdoor_rain_sample": set_summary(r)}})
        for name, path in drn_weights:
            r = eval_paired(drn_then_bicubic(name, path, s), "outdoor_rain_sample", "all", cache, log, skip)
            if r is None:
                continue
            out.append({"label": f"{name} + bicubic x{s} (DRN on the rainy LR, then bicubic)", "scale": s,
                        "weights": name, "sets": {"outdoor_rain_sample": set_summary(r)},
                        "cpu_seconds_per_image": r.get("cpu_seconds_per_image"),
                        "timing_machines": r.get("machines", [])})
    return out


def build(weights: Sequence[str] | None = None, weights_dir: str | Path = WEIGHTS_DIR,
          cache_dir: str | Path | None = CACHE_DIR, max_seconds: float = DEFAULT_MAX_SECONDS,
          subset: str | None = None, log: Log = print, cache: Cache | None = None,
          cached_only: bool = False, jobs: int = 1, only: Sequence[str] | None = None) -> dict:
    """Evaluate (or read from the cache) every weight and return the scoreboard dict.

    ``cached_only``: evaluate nothing; weights without a complete cached subset are listed in ``pending``.
    ``jobs`` > 1: that many worker processes (1 torch thread each), one weight at a time each.
    ``only``: evaluate only these sets (rain100L and rain100H are always among them); the rest from the cache."""
    if only is not None:
        bad = [d for d in only if d not in (*PAIRED_SETS, NR_SET)]
        if bad:
            raise ValueError(f"unknown set {bad[0]!r}; sets: {', '.join((*PAIRED_SETS, NR_SET))}")
        only = sorted(set(only) | set(SUBSET_SETS))
    files = weight_files(weights_dir)
    if weights:
        unknown = [w for w in weights if w not in files]
        if unknown:
            raise ValueError(f"unknown weights {', '.join(unknown)}; shipped: {', '.join(files) or 'none'}")
        names = list(weights)
    else:
        names = list(files)
    if subset and subset != "auto" and subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: auto, {', '.join(SUBSETS)}")
    for d in (*PAIRED_SETS, NR_SET):
        set_dir(d)
    cache = cache or Cache(cache_dir)
    board: dict[str, Any] = {"generated": _dt.date.today().isoformat(), "machine": machine_state(),
                             "command": COMMAND, "protocol": PROTOCOL, "rows": [], "comparisons": [], "pending": []}
    board["input"] = _input_row(cache, log)

    rows: dict[str, dict[str, Any] | None] = {}
    if jobs > 1 and not cached_only and len(names) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as ex:
            todo = [(n, str(files[n]), str(cache_dir) if cache_dir else None, max_seconds, subset, str(data_root()),
                     only) for n in names]
            for name, row, out in ex.map(worker, todo):
                for line in out.splitlines():
                    log(line)
                rows[name] = row
        cache = Cache(cache_dir) if cache_dir else cache  # re-read what the workers wrote
    else:
        for name in names:
            rows[name] = evaluate_weight(name, files[name], cache_dir, max_seconds, subset, cached_only, cache, log,
                                         only=only)
    scales = set()
    drn_weights: list[tuple[str, Path]] = []
    for name in names:
        row = rows[name]
        if row is None:
            board["pending"].append(name)
            continue
        if row.pop("_drn"):
            drn_weights.append((name, files[name]))
        scales.add(row["scale"])
        board["rows"].append(row)
    skip_outdoor = cached_only or (only is not None and "outdoor_rain_sample" not in only)
    board["comparisons"] = _sr_comparisons(scales, drn_weights, cache, log, skip_outdoor)
    board["papers"] = PAPERS
    board["lineage_flags"] = weight_flags((r["weights"] for r in board["rows"]), weights_dir)
    board["recommended"] = recommend(board["rows"])
    board["recommended_rule"] = RECOMMENDED_RULE
    board["computed_this_run"] = len(cache.computed)
    return board
