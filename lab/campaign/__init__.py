"""The GPU training campaign: one command that continues every shipped weight on a lent GPU, inside a budget.

:mod:`.recipes` holds what is trained (one recipe per shipped weight, at its paper's batch and crop, and the
:class:`~derain_lib.recipe.TrainSpec` of each), :mod:`.runner` the budgeted run (the library's batches, trainer and
lineage: :mod:`derain_lib.recipe`, :mod:`derain_lib.lineage`), :mod:`.collect` the scoring and promotion of what
comes back, and :mod:`.estimate` the FLOP-based step-rate estimate.  The command
line is ``python -m lab campaign`` (``lab/campaign/command.py``); the device call and the data archive
are described in ``lab/campaign/README.md``.
"""
from __future__ import annotations

from .recipes import FAMILIES, RECIPES, Recipe, paper_sizes, select, sizes, train_spec
from .runner import run_campaign, use_data

__all__ = ["FAMILIES", "RECIPES", "Recipe", "paper_sizes", "run_campaign", "select", "sizes", "train_spec",
           "use_data"]
