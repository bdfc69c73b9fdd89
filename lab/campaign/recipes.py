"""What the GPU campaign trains: one recipe per shipped weight, at its paper's batch and crop (read from each
model's ``PAPER_SCHEDULE``), and the :class:`~derain_lib.recipe.TrainSpec` of each run (:func:`train_spec`).

Each recipe continues a shipped weight (``derain_lib/weights/NAME``) on the rain its lineage was last trained on,
at the paper's batch and crop instead of the CPU-sized ones, so that a lent GPU spends its minutes on the
settings the papers report.  ``share`` is the recipe's fraction of the campaign's budget: ``drn-heavy`` gets the
most, since it is the weight furthest below its paper's in-domain figure (docs/training.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lab.scoreboard.protocol import heldout_real


def paper_sizes(arch: str) -> dict:
    """The (batch, crop) of ``arch``'s paper, read from its model's ``PAPER_SCHEDULE`` (crop as int (square) or
    (H, W) of the clean / HR image), and where they were read."""
    from derain_lib.models.registry import model_class, paper_schedule

    s = paper_schedule(arch)
    return {"batch": s["batch"], "crop": s["patch"], "source": f"{model_class(arch).__module__}.PAPER_SCHEDULE"}


@dataclass(frozen=True)
class Recipe:
    """One campaign run: train ``arch`` from the shipped weight ``name`` and write ``name`` into the output."""
    name: str                       # the shipped weight it continues, and the file it writes
    arch: str
    preset: str                     # rain preset(s), as ``train --preset``
    lr: float                       # the lr of the shipped weight's last run (a fresh Adam starts there)
    share: float                    # fraction of the campaign budget
    mix_pairs: tuple[str, float] | None = None   # (training pair folder, fraction of batches), as --mix-pairs
    real: bool = False              # unlabelled real rainy patches for MSNet's matching loss
    resume: str | None = None       # a training checkpoint to resume (Adam state kept) instead of the weights
    grad_clip: float | None = None
    # "workers": the whole batch is made in the DataLoader workers (the rain bank's sampler is per-image CPU
    # code); "device": workers cut clean crops and the rain is rendered on the training device
    synth: str = "workers"
    config: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.arch


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("drn-heavy", "drn", "bank_heavy+bank_heavy+bank_1dir", lr=5e-5, share=0.25,
           mix_pairs=("rain100H_train12", 0.2), resume="lab/campaign/candidates/drn-h16b.pt"),
    Recipe("drn-light", "drn", "bank_1dir+bank_ddn", lr=1e-4, share=0.10),
    Recipe("msnet-sup", "msnet", "bank+bank_1dir", lr=5e-5, share=0.10),
    Recipe("msnet-semi", "msnet", "bank+bank_1dir", lr=5e-5, share=0.10, real=True),
    Recipe("sdsen", "sdsen", "bank+bank_1dir+bank_ddn", lr=2e-4, share=0.15),
    Recipe("dsen", "dsen", "bank+bank_1dir", lr=2e-4, share=0.05),
    Recipe("derain_sr-x2", "derain_sr", "heavy_haze+bank_heavy+bank_1dir+bank_1dir+bank_ddn", lr=1e-4,
           share=0.125, grad_clip=1.0, synth="device"),
    Recipe("derain_sr-x4", "derain_sr", "heavy_haze+bank_heavy+bank_1dir+bank_1dir+bank_ddn", lr=1e-4,
           share=0.125, grad_clip=1.0, synth="device"),
)}

# What each family's name in --families means.
FAMILIES: dict[str, tuple[str, ...]] = {
    "drn": ("drn-heavy", "drn-light"),
    "msnet": ("msnet-sup", "msnet-semi"),
    "sdsen": ("sdsen", "dsen"),        # S-DSEN and its one-stage DSEN
    "derain_sr": ("derain_sr-x2", "derain_sr-x4"),
}


def select(names: list[str] | None) -> list[Recipe]:
    """Recipes by weight name or family name (``None``: all), in the table's order, each once."""
    if not names:
        return list(RECIPES.values())
    wanted: list[str] = []
    for n in names:
        if n in FAMILIES:
            wanted += FAMILIES[n]
        elif n in RECIPES:
            wanted.append(n)
        else:
            raise ValueError(f"unknown campaign family or weight {n!r}; choose from "
                             f"{', '.join(list(FAMILIES) + list(RECIPES))}")
    return [r for r in RECIPES.values() if r.name in wanted]


def sizes(recipe: Recipe, batch_cap: int | None = None, crop_cap: int | None = None,
          scale: int = 1) -> tuple[int, int | tuple[int, int]]:
    """The paper's (batch, crop) for ``recipe``, optionally capped (the CPU dry run), the crop a multiple of
    ``scale`` (derain_sr's LR input is the crop divided by it)."""
    p = paper_sizes(recipe.arch)
    batch = min(p["batch"], batch_cap) if batch_cap else p["batch"]
    crop = p["crop"]
    hw = (crop, crop) if isinstance(crop, int) else tuple(crop)
    if crop_cap:
        hw = tuple(max(scale, min(v, crop_cap) // scale * scale) for v in hw)
    crop = hw[0] if hw[0] == hw[1] else hw
    return batch, crop


def train_spec(recipe: Recipe, *, config: dict, scale: int, init: str | None = None, resume: str | None = None,
               summary: str = "", batch_cap: int | None = None, crop_cap: int | None = None, device: str = "auto",
               precision: str = "auto", seed: int = 100, workers: int = 0, out: str | Path | None = None,
               command: str = ""):
    """The :class:`derain_lib.recipe.TrainSpec` of one campaign run: ``recipe`` at its paper's batch and crop
    (capped), started from the shipped weights (``init``) or a candidate checkpoint (``resume``, at the recipe's
    lr), writing ``out`` and its checkpoint ``out.pt`` once, at the end.  The length is set by the runner (a step
    cap or the time budget)."""
    from derain_lib.recipe import TrainSpec

    batch, crop = sizes(recipe, batch_cap, crop_cap, scale)
    out = Path(out) if out is not None else None
    return TrainSpec(
        recipe.arch, config=config, preset=recipe.preset, mix_pairs=recipe.mix_pairs,
        real=("default",) if recipe.real else None, exclude=heldout_real() if recipe.real else (),
        steps=10 ** 9, batch=batch, patch=crop, lr=recipe.lr, grad_clip=recipe.grad_clip, precision=precision,
        seed=seed, device=device, init=init, resume=resume, resume_lr=recipe.lr if resume else None,
        ckpt=out.with_suffix(".pt") if out else None, ckpt_every=None, log_every=10, progress="off", out=out,
        summary=summary, command=command, workers=workers, rain_on="device" if recipe.synth == "device" else "cpu",
        channels_last=True if str(device).startswith("cuda") else None)
