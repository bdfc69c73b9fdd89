"""Lineage checks: shipped weights whose training history used a rain preset as it was before the presets were
calibrated on training pairs only.

``heavy_thin`` was first matched, by eye and by input PSNR, to 12 Rain100H *test* images; every preset has since
been calibrated on training pairs (``lab.tools.calibrate_presets``, ``derain_lib.rain.PRESET_CALIBRATION``).  A run
recorded with ``preset_calibration`` at that version or later used the recalibrated presets; a run without it
that trained on ``heavy_thin`` (in its command, preset, data or training phases) used the old one, and the
weights that descend from it are flagged on the scoreboard until they are replaced by retraining.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from derain_lib.paths import WEIGHTS_DIR
from derain_lib.rain import PRESET_CALIBRATION
from derain_lib.reports import read_sidecar

HEAVY_THIN_NOTE = ("lineage includes heavy_thin as first calibrated on 12 Rain100H test images; replace by "
                   "retraining")
MARK = "†"
# The fields of a run's record that say what it trained on (a lineage entry's, or an old sidecar's top level).
TRAINING_FIELDS = ("command", "preset", "data", "training_phases")
_HEAVY_THIN = re.compile(r"(?<![A-Za-z0-9_])heavy_thin(?![A-Za-z0-9_])")


def _strings(x: Any) -> Iterable[str]:
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _strings(v)


def runs(side: dict[str, Any]) -> list[dict[str, Any]]:
    """The training runs a sidecar records: its ``lineage`` entries, or the sidecar itself for one that predates
    lineages (its command, preset and phases at the top level)."""
    lineage = side.get("lineage")
    if isinstance(lineage, list) and lineage:
        return [e for e in lineage if isinstance(e, dict)]
    return [side] if side else []


def used_old_heavy_thin(run: dict[str, Any]) -> bool:
    """Whether one run trained on heavy_thin before its recalibration on training pairs."""
    if int(run.get("preset_calibration") or 0) >= PRESET_CALIBRATION:
        return False
    return any(_HEAVY_THIN.search(s) for k in TRAINING_FIELDS if k in run for s in _strings(run[k]))


def lineage_flags(side: dict[str, Any]) -> list[str]:
    """The notes a weight's sidecar earns on the scoreboard (empty when its lineage is clean)."""
    return [HEAVY_THIN_NOTE] if any(used_old_heavy_thin(r) for r in runs(side)) else []


def weight_flags(names: Iterable[str], weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, list[str]]:
    """``{weight: notes}`` for the named weights whose sidecar in ``weights_dir`` earns a note."""
    out = {}
    for name in names:
        notes = lineage_flags(read_sidecar(Path(weights_dir) / f"{name}.safetensors"))
        if notes:
            out[name] = notes
    return out


def board_flags(board: dict[str, Any]) -> dict[str, list[str]]:
    """The board's ``lineage_flags`` (recorded by :func:`lab.scoreboard.build`), or for a board published before
    they were recorded, the shipped sidecars' of its rows."""
    if "lineage_flags" in board:
        return board["lineage_flags"] or {}
    return weight_flags(r["weights"] for r in board.get("rows", []))
