"""Steps per second of each campaign recipe: measured here, and estimated for a GPU from FLOPs and op counts.

    python -m lab.campaign.estimate [--steps 2] [--json out.json]
    python -m lab.campaign.estimate --count-only --only sdsen dsen     # no CPU timing: FLOPs and ops only

For each recipe, at the paper's batch and crop: the FLOPs of one training step (forward and backward, counted
by ``torch.utils.flop_counter.FlopCounterMode``; FFT convolutions are not counted by it, so S-DSEN/DSEN are
undercounted where they use them), the number of ATen operations per step (on CUDA in eager mode each is at
least one kernel launch), and the measured CPU step time (float32; random tensors, so no data loading).  The
GPU figures are an **estimate**, not a measurement: the step time is taken as the larger of the FLOPs at an
assumed fraction of the chip's bf16 dense rate and the op count times an assumed per-op launch cost.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from .recipes import RECIPES, Recipe, sizes

# bf16 dense matrix rate measured on the lent machines (the device tool's KINDS.md: an 8192^3 bf16 product ran
# at about 798 TFLOP/s on the H100 and 788 on the H200); the kinds the campaign is written for.
GPU_BF16_TFLOPS = {"H100": 798.0, "H200": 788.0}
# Assumptions of the estimate: these are small convolutions (16-32 channels), far from a matrix product's rate.
UTILISATION = (0.02, 0.10)        # a pessimistic and an optimistic fraction of that rate
LAUNCH_US = 6.0                   # eager PyTorch per-op cost on CUDA (dispatch + launch), microseconds


class _OpCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def _batch(r: Recipe, model, batch: int, crop) -> dict[str, torch.Tensor]:
    s = int(getattr(model, "scale", 1))
    h, w = (crop, crop) if isinstance(crop, int) else crop
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(batch, 3, h, w, generator=g)
    b = {"clean": clean, "rainy": (clean + 0.3 * torch.rand(batch, 3, h, w, generator=g)).clamp(0, 1)}
    if s > 1:
        b["rainy"] = torch.nn.functional.avg_pool2d(b["rainy"], s)
        b["clean_lr"] = torch.nn.functional.avg_pool2d(clean, s)
    if r.real:
        b["real"] = torch.rand(batch, 3, h // s, w // s, generator=g)
    return b


def measure(r: Recipe, steps: int = 2, count_only: bool = False) -> dict:
    """One recipe's row.  ``count_only``: count the step at batch 1 and scale the FLOPs by the batch (a training
    step's FLOPs are linear in the batch and its op sequence does not depend on it); no CPU timing."""
    from derain_lib.checkpoint import load_model
    from derain_lib.train import Trainer

    model = load_model(r.name, device="cpu")
    batch, crop = sizes(r, scale=int(getattr(model, "scale", 1)))
    trainer = Trainer(model, lr=r.lr, device="cpu", grad_clip=r.grad_clip, precision="fp32")
    b = _batch(r, model, 1 if count_only else batch, crop)
    trainer.train_step(b)                                   # warm-up (allocations, oneDNN kernels)
    flops, ops = FlopCounterMode(display=False), _OpCount()
    with flops, ops:
        trainer.train_step(b)
    total = flops.get_total_flops() * (batch if count_only else 1)
    times = []
    for _ in range(0 if count_only else steps):
        t0 = time.perf_counter()
        trainer.train_step(b)
        times.append(time.perf_counter() - t0)
    cpu_s = sorted(times)[len(times) // 2] if times else None
    row = {"name": r.name, "batch": batch, "crop": crop, "gflop_per_step": total / 1e9, "counted_at_batch":
           1 if count_only else batch, "ops_per_step": ops.n, "cpu_s_per_step": cpu_s,
           "cpu_steps_per_s": 1 / cpu_s if cpu_s else None, "cpu_threads": torch.get_num_threads()}
    for gpu, tflops in GPU_BF16_TFLOPS.items():
        launch = ops.n * LAUNCH_US * 1e-6
        lo, hi = (max(total / (tflops * 1e12 * u), launch) for u in UTILISATION)
        row[f"{gpu}_steps_per_s_estimate"] = (1 / lo, 1 / hi)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="campaign step rates: measured on this CPU, estimated for a GPU")
    p.add_argument("--steps", type=int, default=2, help="timed steps per recipe (after one warm-up)")
    p.add_argument("--only", nargs="*", help="recipe names (default: all)")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--count-only", action="store_true",
                   help="count FLOPs and ops at batch 1 (FLOPs scaled to the paper's batch); no CPU timing")
    a = p.parse_args(argv)
    rows = []
    print("| recipe | batch, crop | GFLOP/step | ATen ops/step | CPU s/step | H100 steps/s (est.) | H200 (est.) |")
    print("|---|---|---|---|---|---|---|")
    for r in RECIPES.values():
        if a.only and r.name not in a.only:
            continue
        x = measure(r, a.steps, a.count_only)
        rows.append(x)
        h1, h2 = x["H100_steps_per_s_estimate"], x["H200_steps_per_s_estimate"]
        cpu = "–" if x["cpu_s_per_step"] is None else f"{x['cpu_s_per_step']:.2f}"
        print(f"| {r.name} | {x['batch']}, {x['crop']} | {x['gflop_per_step']:.1f} | {x['ops_per_step']} | "
              f"{cpu} | {min(h1):.1f}-{max(h1):.1f} | {min(h2):.1f}-{max(h2):.1f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"utilisation": UTILISATION, "launch_us": LAUNCH_US, "bf16_tflops": GPU_BF16_TFLOPS,
                       "rows": rows}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
