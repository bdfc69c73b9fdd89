"""``train``: read the recipe, build the data, build (or resume) the trainer and fit; :mod:`.train_record` then
writes the weights with a record of the whole run (its lineage) and a ``.json`` sidecar with the loss curve.

How to stop, resume and fine-tune a run: ``docs/cli.md``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import command_line, key_value, positive_float, positive_int
from .train_record import run_record, start_lineage, write_outputs

# An "epoch" = every training image cut into patches with stride 0.8*patch (PReNet/DRN convention), approximated
# by (image area / (0.8*patch)^2) patches per image with the average image size of the training sets (481x321).
MEAN_IMAGE_PIXELS = 481 * 321


@dataclass
class Recipe:
    """What the run does: the model's config and the optimisation settings after ``--paper`` defaults."""
    config: dict
    sched: dict
    batch: int
    patch: int | tuple[int, int]
    lr: float
    gamma: float
    scale: int
    steps: int = 0
    milestones: list[int] = field(default_factory=list)


@dataclass
class Data:
    """The batch iterator, how many training images are behind it (for epochs), and its line in the record."""
    batches: object
    n_images: int
    description: str


def read_recipe(args, model) -> Recipe:
    from ..models.registry import paper_schedule

    sched = paper_schedule(args.model) if args.paper else {}
    if args.patch:
        patch = args.patch[0] if len(args.patch) == 1 else tuple(args.patch[:2])
    else:
        patch = sched.get("patch", 64)
    return Recipe(config=dict(args.config or []), sched=sched, batch=args.batch or sched.get("batch", 16),
                  patch=tuple(patch) if isinstance(patch, list) else patch, lr=args.lr or sched.get("lr", 1e-3),
                  gamma=args.gamma if args.gamma is not None else sched.get("gamma", 0.5),
                  scale=int(getattr(model, "scale", 1)))


def training_pairs(name: str) -> Path:
    """A paired training folder by name or path; the benchmark test sets are refused."""
    from ..evaluate import resolve_dataset
    from ..paths import refuse_test_set
    folder = resolve_dataset(name)
    refuse_test_set(folder, "evaluate on it, never train on it "
                            "(training pairs: rain100H_train12, ddn_pairs, or your own folder)")
    return folder


def _mix_fraction(args) -> tuple[str, float]:
    if args.data != "synthetic":
        raise ValueError("--mix-pairs mixes real pairs into synthetic batches: use it with --data synthetic")
    name, frac = args.mix_pairs
    try:
        frac = float(frac)
    except ValueError:
        raise ValueError(f"--mix-pairs PAIRS FRACTION: the fraction must be a number, got {frac!r}") from None
    if not 0.0 < frac < 1.0:
        raise ValueError(f"--mix-pairs fraction must be between 0 and 1, got {frac}")
    return name, frac


def build_data(args, r: Recipe) -> Data:
    """The batch iterator (synthetic or paired, optionally mixed, optionally with real rainy patches), the number
    of training images behind it and the one-line description the run's record keeps."""
    from ..data import PairedFolder, SyntheticRainBatches, mixed_batches, paired_patch_batches, real_patch_batches

    if args.data == "synthetic":
        batches = SyntheticRainBatches(args.clean, batch_size=r.batch, patch=r.patch, preset=args.preset,
                                       angle_range=tuple(args.angle_range) if args.angle_range else None,
                                       scale=r.scale, seed=args.seed)
        n_images = len(batches.pool.images)
        clean = ", ".join(map(str, args.clean)) if args.clean else "clean/"
        description = f"synthetic ({args.preset}) over {clean}"
    else:
        folder = training_pairs(args.data)
        n_images = len(PairedFolder(folder, order=args.pair_order))
        batches = paired_patch_batches(folder, batch_size=r.batch, patch=r.patch, seed=args.seed, scale=r.scale,
                                       order=args.pair_order)
        description = args.data
    if args.mix_pairs:
        name, frac = _mix_fraction(args)
        folder = training_pairs(name)
        n_images += len(PairedFolder(folder, order=args.pair_order))
        pairs = paired_patch_batches(folder, batch_size=r.batch, patch=r.patch, seed=args.seed + 2, scale=r.scale,
                                     order=args.pair_order)
        batches = mixed_batches(batches, pairs, frac, seed=args.seed + 3)
        description += f" + {frac:.0%} of batches from the pairs of {name}"
    if args.real:
        real_folders = None if args.real == ["default"] else args.real
        real_patch = r.patch // r.scale if isinstance(r.patch, int) else tuple(v // r.scale for v in r.patch)
        real = real_patch_batches(real_folders, batch_size=r.batch, patch=real_patch, seed=args.seed + 1,
                                  exclude=args.exclude or ())
        batches = ({**b, "real": next(real)} for b in batches)
        where = "the shared real photo folders" if args.real == ["default"] else ", ".join(args.real)
        description += f" + unlabelled real rainy patches from {where} ({len(args.exclude or ())} photos held out)"
    return Data(batches, n_images, description)


def set_length(args, r: Recipe, n_images: int) -> None:
    """``r.steps`` and ``r.milestones`` from --steps/--epochs or the paper's schedule (epochs scale to steps)."""
    from ..train import epochs_to_steps

    ph, pw = (r.patch, r.patch) if isinstance(r.patch, int) else r.patch
    patches = n_images * max(1, int(MEAN_IMAGE_PIXELS / (0.64 * ph * pw)))
    if args.epochs:
        r.steps = epochs_to_steps(args.epochs, patches, r.batch)
    elif args.steps:
        r.steps = args.steps
    elif "steps" in r.sched:
        r.steps = r.sched["steps"]
    elif "epochs" in r.sched:
        r.steps = epochs_to_steps(r.sched["epochs"], patches, r.batch)
    else:
        raise ValueError("give --steps or --epochs (or --paper)")
    if args.milestones is not None:
        r.milestones = args.milestones
    elif "milestones" in r.sched and "epochs" in r.sched and not args.steps:
        r.milestones = [round(m / r.sched["epochs"] * r.steps) for m in r.sched["milestones"]]
    else:
        r.milestones = r.sched.get("milestones", [])


def build_trainer(args, model, r: Recipe):
    """A new Trainer, or one resumed from ``--resume`` (its saved lr and schedule win, unless ``--resume-lr``),
    or a new one whose model starts from ``--init``."""
    import torch

    from ..train import Trainer

    trainer = Trainer(model, lr=r.lr, milestones=r.milestones, gamma=r.gamma, device=args.device, seed=args.seed,
                      grad_clip=args.grad_clip, precision=args.precision)
    if args.resume and args.init:
        raise ValueError("give --resume or --init, not both")
    if args.resume:
        trainer.load_checkpoint(args.resume)
        if args.resume_lr is not None:
            saved = trainer.set_lr(args.resume_lr)
            print(f"resumed from {args.resume} at step {trainer.step}: lr {saved:g} -> {args.resume_lr:g} "
                  f"(--resume-lr; Adam's moments and the saved milestones kept)")
        r.lr = trainer.opt.param_groups[0]["lr"]
        r.milestones = sorted(trainer.sched.milestones)
        r.gamma = trainer.sched.gamma
        if args.resume_lr is None:
            print(f"resumed from {args.resume} at step {trainer.step} with its saved lr "
                  f"{r.lr:g} and schedule (command-line --lr/--milestones ignored; --resume-lr sets a new lr)")
    elif args.resume_lr is not None:
        raise ValueError("--resume-lr changes the learning rate of a resumed run: give it with --resume "
                         "(for a new run or --init, use --lr)")
    elif args.init:
        if str(args.init).endswith(".safetensors"):
            from safetensors.torch import load_file
            state = load_file(str(args.init))
        else:
            state = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
        model.load_state_dict(state, strict=True)
        print(f"initialised from {args.init}")
    return trainer


def cmd_train(args) -> int:
    import torch

    from ..models.registry import build_model
    from ..runtime import machine_info

    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_model(args.model, **dict(args.config or []))
    r = read_recipe(args, model)
    data = build_data(args, r)
    set_length(args, r, data.n_images)
    trainer = build_trainer(args, model, r)
    ckpt = args.ckpt or (Path("checkpoints") / f"{Path(args.out).stem}.pt")
    if trainer.is_main:
        print(f"training {args.model} {r.config or ''} for {r.steps} steps: batch {r.batch}, patch {r.patch}, "
              f"lr {r.lr}, milestones {r.milestones}, gamma {r.gamma}, data {args.data} ({data.n_images} images), "
              f"{machine_info()}")
    date0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    resumed_at = trainer.step   # where a resumed run's checkpoint stood before fit moves it on (0 for a new run)
    parent, init_of_run = start_lineage(args, trainer)
    hist = trainer.fit(data.batches, r.steps, log_every=args.log_every, progress=not args.no_progress,
                       ckpt_path=ckpt, ckpt_every=args.ckpt_every, time_limit=args.time_limit,
                       log_lines=args.no_progress)
    if not trainer.is_main:
        return 0
    info = run_record(args, r, data, trainer, hist, date0=date0, resumed_at=resumed_at, parent=parent,
                      init_of_run=init_of_run, command=command_line(args))
    write_outputs(args, model, r, info, hist, trainer)
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
                         " same at full strength), bank_1dir (its streaks, one direction, sparse), bank_ddn (DDN"
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
