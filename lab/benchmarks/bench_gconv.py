"""Inference cost of a p4 group convolution vs a plain conv with the same expanded weight.

A ``P4ConvP4(C, C, k)`` in eval mode runs one ``F.conv2d`` with its cached (4C, 4C, k, k) filter bank, so
it should cost what ``nn.Conv2d(4C, 4C, k)`` costs with that weight; the difference is the per-call Python
overhead (cache check, reshapes, bias expansion).  Target: ratio <= 1.2.

Method: the two layers are timed alternately (A, B, A, B, ...) so that load from other processes hits both
equally; each sample is the mean over ``--inner`` calls, and we report medians and the median of the per-pair
ratios.  Usage::

    OMP_NUM_THREADS=1 python -m lab.benchmarks.bench_gconv [--size 128] [--batch 1] [--repeats 30] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn

from derain_lib.layers.gconv import P4ConvP4


def bench(size: int = 128, batch: int = 1, channels: int = 10, kernel: int = 5, repeats: int = 30,
          inner: int = 3, threads: int = 1, seed: int = 0) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    p4 = P4ConvP4(channels, channels, kernel).eval()
    plain = nn.Conv2d(4 * channels, 4 * channels, kernel, padding=kernel // 2).eval()
    with torch.no_grad():
        plain.weight.copy_(p4.filter_bank())
        plain.bias.copy_(p4.bias.repeat_interleave(4))
    x5 = torch.randn(batch, channels, 4, size, size)
    x4 = x5.reshape(batch, 4 * channels, size, size)
    with torch.inference_mode():
        max_err = (p4(x5).reshape_as(x4) - plain(x4)).abs().max().item()  # same computation
        for _ in range(3):  # warm-up (and fills the cache)
            p4(x5), plain(x4)
        t_p4, t_plain = [], []
        for _ in range(repeats):
            for layer, x, acc in ((p4, x5, t_p4), (plain, x4, t_plain)):
                t0 = time.perf_counter()
                for _ in range(inner):
                    layer(x)
                acc.append((time.perf_counter() - t0) / inner)
    ratios = [a / b for a, b in zip(t_p4, t_plain)]
    return {
        "layer": f"P4ConvP4({channels}, {channels}, {kernel}) vs Conv2d({4 * channels}, {4 * channels}, {kernel})",
        "input": [batch, channels, 4, size, size], "threads": threads, "repeats": repeats, "inner": inner,
        "p4_ms_median": 1e3 * statistics.median(t_p4), "plain_ms_median": 1e3 * statistics.median(t_plain),
        "ratio_median": statistics.median(ratios), "max_abs_diff": max_err,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--channels", type=int, default=10)
    ap.add_argument("--kernel", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = bench(a.size, a.batch, a.channels, a.kernel, a.repeats, a.inner, a.threads)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{r['layer']}, input {tuple(r['input'])}, {r['threads']} thread(s), {r['repeats']} interleaved pairs")
        print(f"  p4 (cached bank): {r['p4_ms_median']:.2f} ms   plain conv: {r['plain_ms_median']:.2f} ms   "
              f"ratio (median of pairs): {r['ratio_median']:.3f}  (target <= 1.2)   max |diff| {r['max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
