"""``train``: the command line of a training run.  Its flags become one :class:`~derain_lib.recipe.TrainSpec`
(:func:`spec_from_args`), and :func:`derain_lib.recipe.run` does the rest: the batches, the trainer (new, resumed
or started from ``--init``), the training, and the weights with the record of the whole run (its lineage,
:mod:`derain_lib.lineage`) and a ``.json`` sidecar with the loss curve.

How to stop, resume and fine-tune a run: ``docs/cli.md``.
"""
from __future__ import annotations

from .common import command_line, key_value, positive_float, positive_int


def spec_from_args(args):
    """The :class:`~derain_lib.recipe.TrainSpec` of a parsed ``train`` command line (the one place that reads its
    flags)."""
    from ..recipe import TrainSpec

    return TrainSpec(
        args.model, config=dict(args.config or []),
        data=args.data, preset=args.preset, clean=args.clean, angle_range=args.angle_range,
        pair_order=args.pair_order, mix_pairs=args.mix_pairs, real=args.real, exclude=args.exclude or (),
        paper=args.paper, steps=args.steps, epochs=args.epochs, batch=args.batch, patch=args.patch, lr=args.lr,
        milestones=args.milestones, gamma=args.gamma, grad_clip=args.grad_clip, precision=args.precision,
        seed=args.seed, threads=args.threads, device=args.device,
        init=args.init, resume=args.resume, resume_lr=args.resume_lr,
        ckpt=args.ckpt, ckpt_every=args.ckpt_every, time_limit=args.time_limit, log_every=args.log_every,
        progress="lines" if args.no_progress else "bar",
        out=args.out, summary=args.summary or "", eval=args.eval or (), command=command_line(args))


def cmd_train(args) -> int:
    from ..evaluate import evaluate_sets
    from ..recipe import run

    run(spec_from_args(args), evaluate=evaluate_sets)
    return 0


def register(sub) -> None:
    sp = sub.add_parser("train", help="train a model (synthetic rain over clean photos, or a paired folder)")
    sp.add_argument("model", help="architecture name (see 'list')")
    sp.add_argument("--config", nargs="*", type=key_value, metavar="KEY=VALUE", help="model config overrides")
    sp.add_argument("--data", default="synthetic",
                    help="'synthetic' or a paired folder / dataset name (e.g. RainTrainH, rain100H_train12, "
                         "ddn_pairs); benchmark test sets are refused")
    sp.add_argument("--pair-order", default="auto", choices=("auto", "clean_left", "rainy_left"),
                    help="which half is which in side-by-side pair images (auto: the brighter half is rainy)")
    sp.add_argument("--clean", nargs="*", help="clean image folders for synthetic data (default: <data>/clean)")
    sp.add_argument("--preset", default="mixed",
                    help="rain preset: light, heavy, heavy_thin and heavy_cross (Rain100H looks), heavy_haze, mixed;"
                         " or a bank of real rain layers from training pairs: bank (RainTrainH), bank_heavy (the"
                         " same at full strength), bank_1dir (its streaks, one direction, sparse), bank_heavy26 (the"
                         " 26 heavy pairs of rain_heavy_train26), bank_light (RainTrainL's 200 layers), bank_ddn (DDN"
                         " streaks); join any with + to draw each image from one of them (e.g. bank+bank_1dir)")
    sp.add_argument("--angle-range", nargs=2, type=float, metavar=("LO", "HI"), help="rain angles (degrees)")
    sp.add_argument("--mix-pairs", nargs=2, metavar=("PAIRS", "FRACTION"),
                    help="with synthetic data, draw this fraction of the batches from a paired training folder "
                         "(e.g. rain100H_train12 0.3); benchmark test sets are refused")
    sp.add_argument("--real", nargs="*", help="unlabelled real rainy folders ('default' = the shared ones)")
    sp.add_argument("--exclude", nargs="*", help="real photo file names held back from training")
    sp.add_argument("--paper", action="store_true", help="use the paper's schedule (batch, patch, lr, steps)")
    sp.add_argument("--steps", type=positive_int)
    sp.add_argument("--epochs", type=float)
    sp.add_argument("--batch", type=positive_int)
    sp.add_argument("--patch", type=positive_int, nargs="+", help="crop size: P, or H W")
    sp.add_argument("--lr", type=float)
    sp.add_argument("--milestones", type=int, nargs="*", help="steps at which lr *= gamma")
    sp.add_argument("--gamma", type=float)
    sp.add_argument("--grad-clip", type=float)
    sp.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="auto: mixed precision on CUDA, float32 on the CPU; bf16: bfloat16 autocast on any device "
                         "(about 1.5-2.4x faster steps on CPUs with AMX/AVX512-BF16: "
                         "lab/benchmarks/bench_train_step.py); weights, optimiser and losses stay float32")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--threads", type=int, help="torch CPU threads")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", required=True, help="weights file to write (.safetensors + .json)")
    sp.add_argument("--summary", help="one line shown by 'list'")
    sp.add_argument("--ckpt", help="training checkpoint path (default: checkpoints/<out>.pt)")
    sp.add_argument("--ckpt-every", type=int, default=200)
    sp.add_argument("--resume", help="resume from a training checkpoint (weights, optimiser, schedule and step; "
                                     "--lr/--milestones of this call are then ignored)")
    sp.add_argument("--resume-lr", type=positive_float,
                    help="with --resume: continue at this learning rate instead of the saved one (a manual lr "
                         "decay that keeps Adam's moments and the step count; later milestones still apply)")
    sp.add_argument("--init", help="start from these weights (.safetensors or a training checkpoint) with a fresh "
                                   "optimiser and this call's schedule (fine-tuning)")
    sp.add_argument("--time-limit", type=float,
                    help="stop cleanly after this many seconds of this run (a resumed run gets its own budget)")
    sp.add_argument("--eval", nargs="*", help="datasets to evaluate after training")
    sp.add_argument("--log-every", type=int, default=10)
    sp.add_argument("--no-progress", action="store_true",
                    help="no progress bar; print one line every --log-every steps instead (for log files)")
    sp.set_defaults(func=cmd_train)
