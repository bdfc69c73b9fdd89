"""Training step time on the CPU: float32 against channels-last and bfloat16 mixed precision.

Usage::

    python -m lab.benchmarks.bench_train_step                          # every family, the campaign's batch/crop
    python -m lab.benchmarks.bench_train_step --models drn --threads 1 2 --repeats 5
    python -m lab.benchmarks.bench_train_step --models drn --batch 8 16 --patch 64 96   # step time vs batch and crop

One timed step is exactly what ``python -m derain_lib train`` does per step (``Trainer.train_step``: the
family's paper loss, backward, Adam), on a fixed batch of the campaign's real training data (bank rain over
``clean/`` crops from the data root; procedural rain when the data root is absent), from the same starting
weights for every variant.  Variants:

* ``fp32``: float32, NCHW batches (the trainer before this benchmark existed);
* ``fp32-cl``: float32, channels-last batches (``--precision fp32``, the trainer's CPU default now);
* ``bf16-cl``: bfloat16 autocast for the network, float32 weights, optimiser and losses (``--precision bf16``).

The first step of each variant is a warm-up; the others are interleaved (``lab.timing.interleaved``) so
that machine load hits every variant alike.  Besides the median time, each variant's loss after ``--steps``
further steps from the same weights on the same batches is printed, so a speed-up that changes what is learnt
shows.  Prints the machine (bfloat16 is fast only where the CPU has AMX or AVX512-BF16: see the flags line).
"""
from __future__ import annotations

import argparse
import copy
import sys

import torch

from derain_lib.models.registry import build_model
from derain_lib.train import Trainer
from lab.timing import interleaved, loadavg, machine_info, write_rows_json

# the campaign's settings per family (README, "Training campaign"): config, batch, crop, preset
FAMILIES = {
    "drn": ({}, 8, 64, "bank_1dir+bank_ddn"),
    "msnet": ({}, 16, 64, "bank+bank_1dir"),
    "derain_sr": ({"scale": 2, "features": 32, "n_rcab": 4, "stage1_features": 16, "global_residual": True},
                  4, 128, "bank_heavy+bank_1dir"),
    "dsen": ({}, 16, 40, "bank+bank_1dir"),
    "sdsen": ({}, 6, 32, "bank+bank_1dir"),
}
VARIANTS = {"fp32": ("fp32", False), "fp32-cl": ("fp32", True), "bf16-cl": ("bf16", True)}


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(x for x in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if x in have) or "none"
    except OSError:
        pass
    return "unknown"


def batches_for(name: str, config: dict, batch: int, patch: int, preset: str, n: int, seed: int):
    from derain_lib.data import SyntheticRainBatches
    scale = int(config.get("scale", 1))
    try:
        it = SyntheticRainBatches(None, batch_size=batch, patch=patch, preset=preset, scale=scale, seed=seed)
    except (FileNotFoundError, ValueError) as e:  # no data root: procedural rain over generated images
        print(f"  ({name}: {e}; using procedural rain)")
        it = SyntheticRainBatches(None, batch_size=batch, patch=patch, preset="mixed", scale=scale, seed=seed)
    return [next(it) for _ in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1])
    ap.add_argument("--batch", nargs="+", type=int, help="batch sizes (default: the campaign's)")
    ap.add_argument("--patch", nargs="+", type=int, help="crop sizes (default: the campaign's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="steps per variant for the loss comparison (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)

    print(machine_info(), "| CPU flags:", cpu_flags(), "| load average", loadavg())
    rows = []
    for name in args.models:
        config, b0, p0, preset = FAMILIES[name]
        for batch in args.batch or [b0]:
            for patch in args.patch or [p0]:
                data = batches_for(name, config, batch, patch, preset, max(1, args.steps), args.seed)
                torch.manual_seed(args.seed)
                base = build_model(name, **config)
                for threads in args.threads:
                    torch.set_num_threads(threads)
                    trainers = {v: Trainer(copy.deepcopy(base), lr=1e-4, device="cpu", seed=args.seed,
                                           precision=VARIANTS[v][0], channels_last=VARIANTS[v][1])
                                for v in args.variants}
                    steps = {v: (lambda tr=tr, data=data: tr.train_step(data[0])) for v, tr in trainers.items()}
                    t = interleaved(steps, repeats=args.repeats, warmup=1)
                    losses = {}
                    for v in args.variants:  # the same steps from the same weights, per variant
                        tr = Trainer(copy.deepcopy(base), lr=1e-4, device="cpu", seed=args.seed,
                                     precision=VARIANTS[v][0], channels_last=VARIANTS[v][1])
                        for b in data[:args.steps]:
                            losses[v] = tr.train_step(b)[0]
                    ref = t[args.variants[0]]
                    cells = "  ".join(f"{v} {t[v]:.3f} s (x{ref / t[v]:.2f})" for v in args.variants)
                    lcells = "  ".join(f"{v} {losses[v]:.5f}" for v in losses)
                    print(f"{name:9s} batch {batch:2d} crop {patch:3d} threads {threads}: {cells}"
                          + (f" | loss after {args.steps} steps: {lcells}" if losses else ""), flush=True)
                    rows.append({"model": name, "batch": batch, "patch": patch, "threads": threads,
                                 "seconds": t, "loss_after_steps": losses, "steps": args.steps})
    print("load average after:", loadavg())
    if args.json:
        write_rows_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
