"""What the GPU campaign trains: the papers' batch and crop sizes, and one recipe per shipped weight.

Each recipe continues a shipped weight (``derain_lib/weights/NAME``) on the rain its lineage was last trained on,
at the paper's batch and crop instead of the CPU-sized ones, so that a lent GPU spends its minutes on the
settings the papers report.  ``share`` is the recipe's fraction of the campaign's budget: ``drn-heavy`` gets the
most, since it is the weight furthest below its paper's in-domain figure (docs/training.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# (batch, crop) of each paper's training, crop as int (square) or (H, W) of the clean / HR image.
PAPER_SIZES: dict[str, dict] = {
    # Cai et al., "Dual Recursive Network for Fast Image Deraining", ICIP 2019, Sec. 3.1 (100x100 patches); the
    # authors' train_Rain100H.py: --batchSize 16, patch_size=100 (stride 80).
    "drn": {"batch": 16, "crop": 100, "source": "Cai et al. ICIP 2019, Sec. 3.1; authors' train_Rain100H.py"},
    # Qiu, Huang, Peng, Chen, Huang, "Single image de-raining algorithm based on semi-supervised learning"
    # (MSNet), Sec. 4.1: batch 16, 64x64 crops.
    "msnet": {"batch": 16, "crop": 64, "source": "Qiu et al. (MSNet), Sec. 4.1"},
    # Liu et al., "Self-refining Deep Symmetry Enhanced Network for Rain Removal", ICIP 2019, Sec. 3: 64x64
    # crops, batch 64 (DSEN and S-DSEN alike).
    "dsen": {"batch": 64, "crop": 64, "source": "Liu et al. ICIP 2019 (S-DSEN), Sec. 3"},
    "sdsen": {"batch": 64, "crop": 64, "source": "Liu et al. ICIP 2019 (S-DSEN), Sec. 3"},
    # Vu & Kim, "Jointly Learning of Heavy Rain Removal and Super-Resolution in Single Images": batch 4, 200x300
    # crops (taken as the HR crop: derain_lib.models.derain_sr.PAPER_SCHEDULE).
    "derain_sr": {"batch": 4, "crop": (200, 300), "source": "Vu & Kim (joint heavy-rain removal + SR)"},
}

# The real photos the shipped msnet-semi held out from its matching loss (the notebooks show results on them).
SEMI_HELD_OUT = ("drn_real_14.jpg", "drn_real_24.jpg", "heavyrain_web_Image1.png", "heavyrain_web_Image4.png",
                 "sirr_real_008.jpg", "sirr_real_049.jpg", "sirr_real_117.jpg", "sirr_real_091.jpg")


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
    p = PAPER_SIZES[recipe.arch]
    batch = min(p["batch"], batch_cap) if batch_cap else p["batch"]
    crop = p["crop"]
    hw = (crop, crop) if isinstance(crop, int) else tuple(crop)
    if crop_cap:
        hw = tuple(max(scale, min(v, crop_cap) // scale * scale) for v in hw)
    crop = hw[0] if hw[0] == hw[1] else hw
    return batch, crop
