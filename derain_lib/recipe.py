"""One training run, described once (:class:`TrainSpec`), and the few calls that turn it into batches, a trainer
and weights with their lineage.

The ``train`` command builds a spec from its flags (:mod:`derain_lib.cli.train`), a notebook builds one in Python,
the lab's GPU campaign one per recipe; all of them then train through the same calls::

    from derain_lib.recipe import TrainSpec, prepare, run

    spec = TrainSpec("drn", config={"stages": 3}, preset="light", steps=200, batch=8, patch=64, out="runs/drn-x")
    run(spec)                    # all of it: prepare, fit, write runs/drn-x.safetensors + .json

    r = prepare(spec)            # the model, the resolved settings (r.recipe), the batches (r.data) and the
    hist = r.fit()               #   Trainer (started from spec.init or resumed from spec.resume); train
    r.write()                    # the weights, their lineage entry and the sidecar (derain_lib.lineage)

Lower down: :func:`build_batches` (the batches alone) and :func:`build_trainer` (a Trainer for a given model, with
the spec's init / resume policy).  Training never imports evaluation: ``run(spec, evaluate=...)`` takes the
function that scores ``spec.eval`` (the command line passes :func:`derain_lib.evaluate.evaluate_sets`).
"""
from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import lineage

# An "epoch" = every training image cut into patches with stride 0.8*patch (PReNet/DRN convention), approximated
# by (image area / (0.8*patch)^2) patches per image with the average image size of the training sets (481x321).
MEAN_IMAGE_PIXELS = 481 * 321

PROGRESS = ("bar", "lines", "off")
RAIN_ON = ("cpu", "device")


@dataclass(frozen=True)
class TrainSpec:
    """Everything a training run needs, as plain values.

    Each field is the ``train`` flag of the same name (``mix_pairs`` is ``--mix-pairs``, ``arch`` the positional
    MODEL); ``None`` means "not given": the paper's value with ``paper=True``, else the default the flag's help
    names.  Sequences are stored as tuples and paths as strings, so that a spec built in Python and one built from
    the command line compare equal.  The last group has no flag: options of the notebooks and the lab's campaign.
    """
    arch: str
    config: dict = field(default_factory=dict)
    # data
    data: str = "synthetic"                          # "synthetic", or a paired training folder / dataset name
    preset: str = "mixed"                            # rain preset(s) of synthetic data, joined by "+"
    clean: tuple[str, ...] | None = None             # clean photo folders (default: <data root>/clean)
    angle_range: tuple[float, float] | None = None   # rain angles, degrees
    pair_order: str = "auto"                         # which half is which in side-by-side pair images
    mix_pairs: tuple[str, float] | None = None       # (paired training folder, fraction of the batches)
    real: tuple[str, ...] | None = None              # unlabelled real rainy folders; ("default",): the shared ones
    exclude: tuple[str, ...] = ()                    # real photo file names held back from training
    # schedule
    paper: bool = False                              # the paper's batch, patch, lr, gamma, length and milestones
    steps: int | None = None
    epochs: float | None = None                      # epochs of MEAN_IMAGE_PIXELS-sized images cut into patches
    batch: int | None = None
    patch: int | tuple[int, int] | None = None       # P, or (H, W)
    lr: float | None = None
    milestones: tuple[int, ...] | None = None        # steps at which lr *= gamma
    gamma: float | None = None
    grad_clip: float | None = None
    precision: str = "auto"                          # "auto", "fp32" or "bf16" (derain_lib.train.Trainer)
    seed: int = 0
    threads: int | None = None                       # torch CPU threads
    device: str = "auto"
    # where it starts
    init: str | None = None                          # weights (.safetensors or a training checkpoint), fresh optimiser
    resume: str | None = None                        # a training checkpoint: weights, optimiser, schedule, step
    resume_lr: float | None = None                   # with resume: continue at this lr instead of the saved one
    # checkpoints, limits, what is printed, what is written
    ckpt: str | None = None                          # training checkpoint (default: checkpoints/<out>.pt with out)
    ckpt_every: int | None = 200
    time_limit: float | None = None                  # seconds of this call
    log_every: int = 10
    progress: str = "bar"                            # "bar", "lines" (one line per log_every steps) or "off"
    out: str | None = None                           # the weights file (.safetensors + .json) that run() writes
    summary: str = ""                                # one line shown by 'list'
    eval: tuple[str, ...] = ()                       # sets scored after training (run(spec, evaluate=...))
    command: str = ""                                # the command as typed, for the lineage
    # no flag: notebooks and the lab's campaign
    max_images: int | None = None                    # decode a seeded sample of this many photos per pool (clean,
    #                                                  real): a notebook's quick mode
    workers: int = 0                                 # DataLoader worker processes that make the batches (forked)
    rain_on: str = "cpu"                             # "device": workers cut clean crops, the rain is rendered on
    #                                                  the training device
    channels_last: bool | None = None                # channels-last batches (default: on the CPU only)

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        def strings(v):
            return None if v is None else tuple(str(x) for x in v)

        put("config", dict(self.config or {}))
        put("clean", strings(self.clean) or None)
        put("real", strings(self.real) or None)
        put("exclude", strings(self.exclude) or ())
        put("eval", strings(self.eval) or ())
        if self.angle_range is not None:
            put("angle_range", tuple(float(a) for a in self.angle_range))
        if self.milestones is not None:
            put("milestones", tuple(int(m) for m in self.milestones))
        if isinstance(self.patch, (list, tuple)):
            put("patch", int(self.patch[0]) if len(self.patch) == 1 else tuple(int(v) for v in self.patch[:2]))
        for name in ("init", "resume", "ckpt", "out"):
            if getattr(self, name) is not None:
                put(name, str(getattr(self, name)))
        put("device", str(self.device))
        put("summary", self.summary or "")
        if self.mix_pairs is not None:
            put("mix_pairs", _mix_fraction(self.data, self.mix_pairs))
        if self.progress not in PROGRESS:
            raise ValueError(f"progress must be one of {', '.join(PROGRESS)}, not {self.progress!r}")
        if self.rain_on not in RAIN_ON:
            raise ValueError(f"rain_on must be one of {', '.join(RAIN_ON)}, not {self.rain_on!r}")
        if self.resume and self.init:
            raise ValueError("give --resume or --init, not both")
        if self.resume_lr is not None and not self.resume:
            raise ValueError("--resume-lr changes the learning rate of a resumed run: give it with --resume "
                             "(for a new run or --init, use --lr)")

    @property
    def checkpoint_path(self) -> Path | None:
        """Where the training checkpoint goes: ``ckpt``, else ``checkpoints/<out's name>.pt`` (none without
        either)."""
        if self.ckpt:
            return Path(self.ckpt)
        return Path("checkpoints") / f"{Path(self.out).stem}.pt" if self.out else None


def _mix_fraction(data: str, mix_pairs) -> tuple[str, float]:
    if data != "synthetic":
        raise ValueError("--mix-pairs mixes real pairs into synthetic batches: use it with --data synthetic")
    name, frac = mix_pairs
    try:
        frac = float(frac)
    except ValueError:
        raise ValueError(f"--mix-pairs PAIRS FRACTION: the fraction must be a number, got {frac!r}") from None
    if not 0.0 < frac < 1.0:
        raise ValueError(f"--mix-pairs fraction must be between 0 and 1, got {frac}")
    return str(name), frac


@dataclass
class Recipe:
    """What the run does: the model's config and the optimisation settings after ``paper`` defaults (a resumed
    run's saved lr and schedule replace them)."""
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
    """The batch iterator, how many training images are behind it (for epochs), its line in the record, and the
    source that makes it (what DataLoader workers iterate)."""
    batches: object
    n_images: int
    description: str
    source: BatchSource | None = None


def read_recipe(spec: TrainSpec, model) -> Recipe:
    from .models.registry import paper_schedule

    sched = paper_schedule(spec.arch) if spec.paper else {}
    patch = spec.patch or sched.get("patch", 64)
    return Recipe(config=dict(spec.config), sched=sched, batch=spec.batch or sched.get("batch", 16),
                  patch=tuple(patch) if isinstance(patch, list) else patch, lr=spec.lr or sched.get("lr", 1e-3),
                  gamma=spec.gamma if spec.gamma is not None else sched.get("gamma", 0.5),
                  scale=int(getattr(model, "scale", 1)))


def training_pairs(name: str) -> Path:
    """A paired training folder by name or path; the benchmark test sets are refused."""
    from .paths import refuse_test_set, resolve_dataset
    folder = resolve_dataset(name)
    refuse_test_set(folder, "evaluate on it, never train on it "
                            "(training pairs: rain100H_train12, ddn_pairs, or your own folder)")
    return folder


class BatchSource(torch.utils.data.IterableDataset):
    """The endless batches of one run, from one seed: synthetic or paired, optionally mixed with pairs, optionally
    with unlabelled real rainy patches.  Each part draws from its own seed (synthetic or paired: ``seed``; real
    patches ``seed + 1``; mixed-in pairs ``seed + 2``; the mixing ``seed + 3``).  Iterated by DataLoader workers,
    each worker draws from ``seed + 1000 * (worker + 1)``, so that workers never repeat each other's crops."""

    def __init__(self, spec: TrainSpec, r: Recipe, synthetic=None, pairs: Path | None = None,
                 mix: Path | None = None):
        super().__init__()
        self.spec, self.recipe, self.synthetic, self.pairs, self.mix = spec, r, synthetic, pairs, mix

    def stream(self, seed: int) -> Iterator[dict[str, torch.Tensor]]:
        from .data import mixed_batches, paired_patch_batches, real_patch_batches

        spec, r = self.spec, self.recipe
        if self.synthetic is not None:
            syn = copy.copy(self.synthetic)          # shares the decoded photo pool; fresh random streams
            syn.rng, syn.gen = random.Random(seed), torch.Generator().manual_seed(seed)
            if spec.rain_on == "device":
                batches = ({"clean": syn.pool.crops(r.batch, r.patch, syn.rng)} for _ in iter(int, 1))
            else:
                batches = syn
        else:
            batches = paired_patch_batches(self.pairs, batch_size=r.batch, patch=r.patch, seed=seed, scale=r.scale,
                                           order=spec.pair_order)
        if self.mix is not None:
            pairs = paired_patch_batches(self.mix, batch_size=r.batch, patch=r.patch, seed=seed + 2, scale=r.scale,
                                         order=spec.pair_order)
            batches = mixed_batches(batches, pairs, spec.mix_pairs[1], seed=seed + 3)
        if spec.real:
            folders = None if spec.real == ("default",) else spec.real
            real_patch = r.patch // r.scale if isinstance(r.patch, int) else tuple(v // r.scale for v in r.patch)
            real = real_patch_batches(folders, batch_size=r.batch, patch=real_patch, seed=seed + 1,
                                      exclude=spec.exclude, max_images=spec.max_images)
            batches = ({**b, "real": next(real)} for b in batches)
        return iter(batches)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        return self.stream(self.spec.seed + 1000 * (info.id + 1 if info else 0))


def build_data(spec: TrainSpec, r: Recipe, pool=None) -> Data:
    """The batch iterator (synthetic or paired, optionally mixed, optionally with real rainy patches), the number
    of training images behind it and the one-line description the run's record keeps.  The clean photos
    (``pool``: already decoded ones) and the rain banks of the preset are loaded here, before training starts."""
    from .data import PairedFolder, SyntheticRainBatches

    synthetic = pairs = mix = None
    if spec.data == "synthetic":
        synthetic = SyntheticRainBatches(spec.clean, batch_size=r.batch, patch=r.patch, preset=spec.preset,
                                         angle_range=spec.angle_range, scale=r.scale, seed=spec.seed,
                                         max_images=spec.max_images, pool=pool)
        n_images = len(synthetic.pool.images)
        clean = ", ".join(spec.clean) if spec.clean else "clean/"
        description = f"synthetic ({spec.preset}) over {clean}"
        _load_banks(spec.preset)
    else:
        pairs = training_pairs(spec.data)
        n_images = len(PairedFolder(pairs, order=spec.pair_order))
        description = spec.data
    if spec.mix_pairs:
        name, frac = spec.mix_pairs
        mix = training_pairs(name)
        n_images += len(PairedFolder(mix, order=spec.pair_order))
        description += f" + {frac:.0%} of batches from the pairs of {name}"
    if spec.real:
        where = "the shared real photo folders" if spec.real == ("default",) else ", ".join(spec.real)
        description += f" + unlabelled real rainy patches from {where} ({len(spec.exclude)} photos held out)"
    source = BatchSource(spec, r, synthetic, pairs, mix)
    return Data(source.stream(spec.seed), n_images, description, source)


def _load_banks(preset: str) -> None:
    """Extract the rain banks a preset draws from (once per process; forked workers share them)."""
    from .rain_bank import BANKS, get_bank

    for name in preset.split("+"):
        if name in BANKS:
            get_bank(name)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)     # workers run side by side: one thread each, not the machine's count each


def load_batches(data: Data, spec: TrainSpec, r: Recipe, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """``data``'s batches made by ``spec.workers`` forked DataLoader processes (0: in this one), pinned for
    asynchronous copies on CUDA, on ``device``; with ``rain_on="device"`` the rain (and the super-resolution
    downsampling) is rendered there."""
    kw = {}
    if spec.workers:
        kw = {"num_workers": spec.workers, "prefetch_factor": 4, "persistent_workers": False,
              "multiprocessing_context": "fork", "worker_init_fn": _one_thread}
    dl = torch.utils.data.DataLoader(data.source, batch_size=None, pin_memory=device.type == "cuda", **kw)
    return _on_device(dl, spec, r, device)


def _on_device(dl, spec: TrainSpec, r: Recipe, device: torch.device):
    from .rain import downsample, rain_batch

    gen = torch.Generator().manual_seed(spec.seed + 7)
    for b in dl:
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        if spec.rain_on == "device" and "rainy" not in b:     # (batches of real pairs come with their rain)
            clean = b["clean"]
            rainy, _ = rain_batch(clean, spec.preset, gen)
            b["rainy"] = rainy
            if r.scale > 1:
                b["rainy"], b["clean_lr"] = downsample(rainy, r.scale), downsample(clean, r.scale)
        yield b


def _needs_loader(spec: TrainSpec) -> bool:
    return bool(spec.workers) or spec.rain_on == "device"


def build_batches(spec: TrainSpec, model=None, *, device: str | torch.device | None = None, pool=None) -> Data:
    """The training batches of ``spec`` exactly as :func:`prepare` makes them (``model`` gives the scale of a
    super-resolution model; built from ``spec.arch`` and ``spec.config`` when not given).  ``.batches`` is the
    iterator; ``.n_images`` and ``.description`` are what the run's record says of them."""
    from .models.registry import build_model
    from .runtime import resolve_device

    if model is None:
        torch.manual_seed(spec.seed)            # a model trained from scratch starts from the same weights each run
        model = build_model(spec.arch, **spec.config)
    r = read_recipe(spec, model)
    data = build_data(spec, r, pool=pool)
    if _needs_loader(spec):
        data.batches = load_batches(data, spec, r, resolve_device(device or spec.device))
    return data


def set_length(spec: TrainSpec, r: Recipe, n_images: int) -> None:
    """``r.steps`` and ``r.milestones`` from steps/epochs or the paper's schedule (epochs scale to steps)."""
    from .train import epochs_to_steps

    ph, pw = (r.patch, r.patch) if isinstance(r.patch, int) else r.patch
    patches = n_images * max(1, int(MEAN_IMAGE_PIXELS / (0.64 * ph * pw)))
    if spec.epochs:
        r.steps = epochs_to_steps(spec.epochs, patches, r.batch)
    elif spec.steps:
        r.steps = spec.steps
    elif "steps" in r.sched:
        r.steps = r.sched["steps"]
    elif "epochs" in r.sched:
        r.steps = epochs_to_steps(r.sched["epochs"], patches, r.batch)
    else:
        raise ValueError("give --steps or --epochs (or --paper)")
    if spec.milestones is not None:
        r.milestones = list(spec.milestones)
    elif "milestones" in r.sched and "epochs" in r.sched and not spec.steps:
        r.milestones = [round(m / r.sched["epochs"] * r.steps) for m in r.sched["milestones"]]
    else:
        r.milestones = list(r.sched.get("milestones", []))


def build_trainer(spec: TrainSpec, model, r: Recipe | None = None, log: Callable[[str], None] = print):
    """A new Trainer, or one resumed from ``spec.resume`` (its saved lr and schedule win, unless ``resume_lr``),
    or a new one whose model starts from ``spec.init``.  ``r``: the run's resolved settings (updated from a
    resumed checkpoint); default ``read_recipe(spec, model)`` with ``spec.milestones`` as given (no data: no
    epochs to count)."""
    from .train import Trainer
    from .weightfile import load_state

    if r is None:
        r = read_recipe(spec, model)
        r.milestones = list(spec.milestones or [])
    trainer = Trainer(model, lr=r.lr, milestones=r.milestones, gamma=r.gamma, device=spec.device, seed=spec.seed,
                      grad_clip=spec.grad_clip, precision=spec.precision, channels_last=spec.channels_last)
    if spec.resume:
        trainer.load_checkpoint(spec.resume)
        if spec.resume_lr is not None:
            saved = trainer.set_lr(spec.resume_lr)
            log(f"resumed from {spec.resume} at step {trainer.step}: lr {saved:g} -> {spec.resume_lr:g} "
                f"(--resume-lr; Adam's moments and the saved milestones kept)")
        r.lr = trainer.opt.param_groups[0]["lr"]
        r.milestones = sorted(trainer.sched.milestones)
        r.gamma = trainer.sched.gamma
        if spec.resume_lr is None:
            log(f"resumed from {spec.resume} at step {trainer.step} with its saved lr "
                f"{r.lr:g} and schedule (command-line --lr/--milestones ignored; --resume-lr sets a new lr)")
    elif spec.init:
        model.load_state_dict(load_state(spec.init), strict=True)
        log(f"initialised from {spec.init}")
    return trainer


@dataclass
class Run:
    """A prepared run: the spec, the model, its resolved settings, its batches and its Trainer; ``start`` (where
    its lineage starts) is set when :meth:`fit` begins."""
    spec: TrainSpec
    model: torch.nn.Module
    recipe: Recipe
    data: Data
    trainer: object
    log: Callable[[str], None] = print
    start: lineage.Start | None = None

    def header(self) -> str:
        """The line the command prints before training."""
        from .runtime import machine_info

        s, r = self.spec, self.recipe
        return (f"training {s.arch} {r.config or ''} for {r.steps} steps: batch {r.batch}, patch {r.patch}, "
                f"lr {r.lr}, milestones {r.milestones}, gamma {r.gamma}, data {s.data} ({self.data.n_images} "
                f"images), {machine_info()}")

    def fit(self, *, time_limit: float | None = None, continues: list[dict] | None = None) -> dict[str, list]:
        """Train to ``recipe.steps`` (absolute: a resumed run continues its schedule) and return the history.
        ``time_limit`` replaces ``spec.time_limit``; ``continues``: see :func:`derain_lib.lineage.start`."""
        s = self.spec
        self.start = lineage.start(s, self.trainer, continues=continues)
        return self.trainer.fit(self.data.batches, self.recipe.steps, log_every=s.log_every,
                                progress=s.progress == "bar", ckpt_path=s.checkpoint_path, ckpt_every=s.ckpt_every,
                                time_limit=s.time_limit if time_limit is None else time_limit,
                                log_lines=s.progress == "lines")

    def write(self, evals: dict | None = None, path: str | Path | None = None, **extra) -> Path:
        """Write the weights (``path``, default ``spec.out``) with this run's record and the sidecar;
        ``evals``: figures by set name; ``extra``: fields for this run's lineage entry."""
        if self.start is None:
            raise ValueError("fit() the run before writing it")
        info = lineage.record(self.spec, self.recipe, self.trainer, self.start, data=self.data.description,
                              evals=evals, extra=extra)
        return lineage.write(self.spec, self.model, info, self.trainer, self.start, path=path, log=self.log)


def prepare(spec: TrainSpec, model=None, *, pool=None, log: Callable[[str], None] = print) -> Run:
    """Everything before training: the model (``model``, or built from ``spec.arch`` and ``spec.config``), its
    resolved settings, the batches (``pool``: clean photos already decoded), the length and the Trainer."""
    from .models.registry import build_model

    if spec.threads:
        torch.set_num_threads(spec.threads)
    if model is None:
        torch.manual_seed(spec.seed)            # a model trained from scratch starts from the same weights each run
        model = build_model(spec.arch, **spec.config)
    r = read_recipe(spec, model)
    data = build_data(spec, r, pool=pool)
    set_length(spec, r, data.n_images)
    trainer = build_trainer(spec, model, r, log=log)
    if _needs_loader(spec):
        data.batches = load_batches(data, spec, r, trainer.device)
    return Run(spec, model, r, data, trainer, log)


def run(spec: TrainSpec, *, model=None, evaluate: Callable | None = None,
        log: Callable[[str], None] = print) -> Run:
    """Prepare, train and (on the main process) score ``spec.eval`` with ``evaluate(model, sets, log=log)`` and
    write ``spec.out`` with its record and sidecar.  Returns the run (``.trainer.history`` is the loss curve)."""
    if spec.eval and evaluate is None:
        raise ValueError("spec.eval names sets to score after training: pass evaluate= (e.g. "
                         "derain_lib.evaluate.evaluate_sets)")
    if not spec.out:
        raise ValueError("give out= (the weights file to write)")
    r = prepare(spec, model, log=log)
    if r.trainer.is_main:
        log(r.header())
    r.fit()
    if r.trainer.is_main:
        r.write(evaluate(r.model, spec.eval, log=log) if spec.eval else None)
    return r
