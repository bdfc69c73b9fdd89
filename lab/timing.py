"""Timing helpers for the benchmarks in ``lab/benchmarks`` and the latency table: speed is measured here, never
asserted in a test."""
from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable

import torch

from derain_lib.runtime import loadavg, machine_info

from . import ROOT

__all__ = ["code_state", "cpu_timed", "interleaved", "loadavg", "machine_info", "time_fn", "write_rows_json"]


def time_fn(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync_cuda: bool = False) -> list[float]:
    """Wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        if sync_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync_cuda:
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                sync_cuda: bool = False) -> dict[str, float]:
    """Median seconds of several functions, timed A, B, A, B... so that machine load hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k] += time_fn(fn, repeats=1, warmup=0, sync_cuda=sync_cuda)
    return {k: statistics.median(v) for k, v in times.items()}


def cpu_timed(cpu: dict[str, list[float]], name: str, fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` wrapped so that each call appends its process CPU time (all threads) to ``cpu[name]``: pass the
    wrapped functions to :func:`interleaved` to get CPU time beside wall time."""
    def run() -> None:
        c0 = time.process_time()
        fn()
        cpu[name].append(time.process_time() - c0)
    return run


def write_rows_json(path: str, rows: list[dict]) -> None:
    """A benchmark's rows with the machine they came from, as JSON (the scripts' ``--json``)."""
    import json

    with open(path, "w") as f:
        json.dump({"machine": machine_info(), "rows": rows}, f, indent=2)


def code_state() -> dict:
    """The commit the timed code came from, and the model/inference files that differed from it (timings follow
    the code: a figure measured on uncommitted changes says so)."""
    def git(*a):
        return subprocess.run(["git", *a], check=False, cwd=ROOT, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "modified": git("diff", "--name-only", "HEAD", "--", "derain_lib/models", "derain_lib/layers",
                                "derain_lib/infer.py", "derain_lib/io.py").splitlines()}
    except (OSError, subprocess.SubprocessError):
        return {}
