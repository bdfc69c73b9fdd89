"""The GPU training campaign: one command that continues every shipped weight on a lent GPU, inside a budget.

:mod:`.recipes` holds what is trained (the papers' batch and crop sizes, one recipe per shipped weight),
:mod:`.batches` the DataLoader that makes the batches, :mod:`.runner` the budgeted run, :mod:`.collect` the
scoring and promotion of what comes back, and :mod:`.estimate` the FLOP-based step-rate estimate.  The command
line is ``python -m lab campaign`` (``lab/campaign/command.py``); the device call and the data archive
are described in ``lab/campaign/README.md``.
"""
from __future__ import annotations

from .recipes import FAMILIES, PAPER_SIZES, RECIPES, Recipe, select, sizes
from .runner import run_campaign, use_data

__all__ = ["FAMILIES", "PAPER_SIZES", "RECIPES", "Recipe", "run_campaign", "select", "sizes", "use_data"]
