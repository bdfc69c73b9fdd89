"""The maintainers' lab: what the project runs to score, train on a GPU, time and publish its weights.

Not packaged and never imported by ``derain_lib`` or ``derain_demo`` (a test keeps it so).  One entry point,
run from the repository root::

    python -m lab scoreboard --write      # every shipped weight on the benchmark sets; docs and README blocks
    python -m lab campaign --out DIR      # train every family on a CUDA machine within a time budget
    python -m lab latency --write         # every shipped weight through derain() at 0.25 and 1 MP

``lab/benchmarks/`` and ``lab/tools/`` hold the benchmark scripts and the figure/README writers
(``python -m lab.benchmarks.bench_drn``, ``python -m lab.tools.notebook_times``).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]   # the repository checkout the lab writes into
