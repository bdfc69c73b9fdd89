"""The read side of the reports shipped beside the weights: the scoreboard, the latency table, the sidecars.

The maintainers' tools (``lab/``) write ``weights/scoreboard.json`` and ``weights/latency.json``; every weight has a
``NAME.json`` sidecar with its lineage.  The demo and the CLI only read them, through this module: each reader
returns None (or ``{}``) when a file is missing or unreadable, so that a missing report shows as "n/a", never as
an error.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from .paths import WEIGHTS_DIR

__all__ = ["LATENCY_FILE", "SCOREBOARD_FILE", "expected_seconds", "latency_row", "load_latency", "load_scoreboard",
           "read_sidecar"]

SCOREBOARD_FILE = WEIGHTS_DIR / "scoreboard.json"   # quality figures (python -m lab scoreboard --write)
LATENCY_FILE = WEIGHTS_DIR / "latency.json"         # measured seconds (python -m lab latency --write)


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_sidecar(weights: str | Path) -> dict[str, Any]:
    """The JSON next to a weight file (``NAME.json``, written by ``train``), or {} when absent or unreadable.

    ``weights`` is a path to a ``.safetensors`` file or the name of a shipped weight."""
    p = Path(weights)
    if p.suffix != ".safetensors" and not p.parent.name:
        p = WEIGHTS_DIR / f"{p.name}.safetensors"
    data = _read_json(p.with_suffix(".json"))
    return data if isinstance(data, dict) else {}


def load_scoreboard(path: str | Path | None = SCOREBOARD_FILE) -> dict | None:
    """``scoreboard.json`` as a dict, or None when absent or unreadable."""
    if path is None:
        return None
    data = _read_json(path)
    return data if isinstance(data, dict) and isinstance(data.get("rows", []), list) else None


def load_latency(path: str | Path | None = None) -> dict | None:
    """``latency.json`` as a dict, or None when it is missing or unreadable (the demo then shows "n/a")."""
    data = _read_json(LATENCY_FILE if path is None else path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not isinstance(data.get("sizes"), dict):
        return None
    return data


def latency_row(result: dict | None, name: str, arch: str | None = None, config: dict | None = None) -> dict | None:
    """The row of weight ``name``; else one with the same architecture and config (same speed), else None."""
    if not result:
        return None
    for r in result["rows"]:
        if r.get("weights") == name:
            return r
    if arch is not None and config is not None:
        for r in result["rows"]:
            if r.get("arch") == arch and r.get("config") == config:
                return r
    return None


def expected_seconds(result: dict | None, row: dict | None, pixels: int) -> float | None:
    """Expected seconds for an image of ``pixels`` pixels, scaled from the measured sizes by megapixels.

    Between two measured sizes: linear interpolation in pixels; outside them: proportional to pixels from the
    nearest measured size (convolution cost grows with the pixel count). None when nothing was measured.
    """
    if not result or not row:
        return None
    pts = sorted((w * h, row["seconds"][k]) for k, (w, h) in result["sizes"].items()
                 if row.get("seconds", {}).get(k) is not None)
    if not pts or pixels <= 0:
        return None
    if pixels <= pts[0][0]:
        return pts[0][1] * pixels / pts[0][0]
    if pixels >= pts[-1][0]:
        return pts[-1][1] * pixels / pts[-1][0]
    for (p0, t0), (p1, t1) in itertools.pairwise(pts):
        if p0 <= pixels <= p1:
            return t0 + (t1 - t0) * (pixels - p0) / (p1 - p0)
    return None  # pragma: no cover
