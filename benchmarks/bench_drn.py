"""DRN inference speed: our fast path vs. a straightforward eager PyTorch implementation.

Usage::

    python benchmarks/bench_drn.py                      # 2 threads, 481x321 and 1024x1024, CPU (+ CUDA if present)
    python benchmarks/bench_drn.py --threads 2 --repeats 7 --sizes 481x321 1024x1024 --weights drn-mixed
    python benchmarks/bench_drn.py --sizes 481x321 --compile   # also torch.compile(eager) and torch.compile(fast)

The reference (:class:`EagerDRN` below) is the network written the obvious way, as in the official code
(github.com/csdwren/DRN): NCHW tensors, ``torch.cat((y, x), 1)`` in every stage, ``nn.Sequential`` blocks,
``F.relu(block(x) + x)``, under ``torch.no_grad()``.  It loads the *same* state dict as
:class:`derain_lib.models.drn.DRN`, and the script asserts that both outputs agree within 1e-4 before timing.

Timing: the two variants are interleaved (A, B, A, B, ...) after one warm-up call each, and the medians are
reported, because the machine may be shared; the load average before and after is printed.  On a loaded
machine the wall-clock figures swing with other processes; the process CPU time (``time.process_time``, summed
over this process's threads) measures the work done and is printed beside them.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from derain_lib.models.drn import DRN  # noqa: E402


class EagerDRN(nn.Module):
    """Reference: DRN written plainly (same parameter names as the official code and as ``DRN``)."""

    def __init__(self, stages=7, recursions=7, features=16):
        super().__init__()
        self.stages, self.recursions = stages, recursions
        self.conv0 = nn.Sequential(nn.Conv2d(6, features, 3, 1, 1), nn.ReLU())
        self.res_conv1 = nn.Sequential(nn.Conv2d(features, features, 3, 1, 1), nn.ReLU(),
                                       nn.Conv2d(features, features, 3, 1, 1), nn.ReLU())
        self.res_conv2 = nn.Sequential(nn.Conv2d(features, features, 3, 1, 1), nn.ReLU(),
                                       nn.Conv2d(features, features, 3, 1, 1), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(features, 3, 3, 1, 1))

    def forward(self, y):
        x = y
        for _ in range(self.stages):
            x = torch.cat((y, x), 1)
            x = self.conv0(x)
            for _ in range(self.recursions):
                x = F.relu(self.res_conv1(x) + x)
                x = F.relu(self.res_conv2(x) + x)
            x = y + self.conv(x)
        return x


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def timed(fn, x, sync):
    """(wall seconds, process CPU seconds summed over threads, output)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(x)
    sync()
    return time.perf_counter() - t0, time.process_time() - c0, out


def bench(fast, ref, x, repeats, sync):
    with torch.no_grad():
        # warm-up (oneDNN primitive creation) + correctness check
        _, _, a = timed(fast, x, sync)
        _, _, b = timed(ref, x, sync)
        err = (a - b).abs().max().item()
        if err > 1e-4:
            raise AssertionError(f"fast path differs from the eager reference: max |diff| = {err:.3g} > 1e-4")
        tf, tr, cf, cr = [], [], [], []
        for _ in range(repeats):          # interleave A, B, A, B ...
            w, c, _ = timed(ref, x, sync)
            tr.append(w), cr.append(c)
            w, c, _ = timed(fast, x, sync)
            tf.append(w), cf.append(c)
    med = statistics.median
    return med(tf), med(tr), err, tf, tr, med(cf), med(cr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", nargs="+", default=["481x321", "1024x1024"], help="WxH")
    ap.add_argument("--weights", default=None, help="shipped weight name or .safetensors (default: seeded random)")
    ap.add_argument("--device", default="all", choices=["all", "cpu", "cuda"])
    ap.add_argument("--compile", action="store_true",
                    help="also time torch.compile of both variants (needs a C++ compiler on CPU; compile time is "
                         "reported separately)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.weights:
        from derain_lib.checkpoint import load_model
        model = load_model(args.weights, device="cpu")
    else:
        model = DRN()
    model.eval()
    ref = EagerDRN(model.config.stages, model.config.recursions, model.config.features).eval()
    ref.load_state_dict(model.state_dict(), strict=True)

    print(f"machine: {platform.platform()} | cpu: {cpu_model()} | logical cpus: {os.cpu_count()}")
    print(f"torch {torch.__version__} | threads: {torch.get_num_threads()} | weights: {args.weights or 'random'}"
          f" | T={model.config.stages} R={model.config.recursions} | load avg before: {loadavg()}")
    devices = ["cpu"] if args.device == "cpu" else []
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append("cuda")
    if args.device == "all":
        devices.insert(0, "cpu")
    rows = []
    for dev in devices:
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        model.to(dev), ref.to(dev)
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1)).to(dev)
            tf, tr, err, all_f, all_r, cf, cr = bench(model, ref, x, args.repeats, sync)
            rows.append((dev, size, tr, tf, tr / tf, err, cr, cf))
            print(f"{dev:4s} {size:>9s}: wall: eager {tr:7.3f} s | fast {tf:7.3f} s | speed-up x{tr / tf:4.2f} || "
                  f"CPU time: eager {cr:7.3f} s | fast {cf:7.3f} s | x{cr / cf:4.2f} || max|diff| {err:.1e}",
                  flush=True)
            print(f"     wall runs: eager {[round(v, 2) for v in all_r]} fast {[round(v, 2) for v in all_f]}")
            if args.compile:
                for name, mod in (("eager", ref), ("fast", model)):
                    comp = torch.compile(mod, dynamic=False)
                    with torch.no_grad():
                        t_first, _, out = timed(comp, x, sync)       # includes compilation
                        err_c = (out - mod(x)).abs().max().item()
                        if err_c > 1e-4:
                            raise AssertionError(f"torch.compile({name}) differs by {err_c:.3g} > 1e-4")
                        runs = [timed(comp, x, sync)[0] for _ in range(args.repeats)]
                    tc = statistics.median(runs)
                    print(f"     torch.compile({name}): {tc:7.3f} s (first call with compilation {t_first:6.1f} s) | "
                          f"vs eager x{tr / tc:4.2f} | vs fast x{tf / tc:4.2f} | max|diff| {err_c:.1e}", flush=True)
    print(f"load avg after: {loadavg()}")
    return rows


if __name__ == "__main__":
    main()
