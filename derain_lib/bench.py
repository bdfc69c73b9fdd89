"""Timing helpers for the benchmarks (never used in tests: speed is measured here, not asserted)."""
from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch


def machine_info() -> str:
    """One line naming the machine a figure came from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads){gpu}")


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
