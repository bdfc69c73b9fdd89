"""Which machine timed what: recorded with every timed result, named beside every CPU-time figure.

CPU time per image is only comparable between rows timed on the same CPU, so the tables say which rows share one.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any


def machine_state() -> dict[str, Any]:
    """The machine, torch threads and load average now (recorded with every timed result)."""
    import torch

    from derain_lib.runtime import machine_info
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"machine": machine_info(), "threads": torch.get_num_threads(), "loadavg": load,
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def short_machine(machine: str) -> str:
    """The CPU model of a :func:`~derain_lib.runtime.machine_info` line (its text up to the first comma)."""
    return machine.split(",")[0]


def timed_rows(board: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(row name, the full machine lines that timed its images) for every timed row and comparison."""
    timed = [(r["weights"], list(r.get("timing_machines") or [])) for r in board["rows"]]
    timed += [(f"{c['weights']} + bicubic x{c['scale']}", list(c.get("timing_machines") or []))
              for c in board["comparisons"] if c.get("cpu_seconds_per_image")]
    return timed


def timing_threads(board: dict[str, Any]) -> list[int]:
    """The torch thread counts the timed rows recorded (at their first and last image)."""
    out = set()
    for r in board["rows"]:
        for state in ((r.get("timing") or {}).get("first"), (r.get("timing") or {}).get("last")):
            if state and state.get("threads"):
                out.add(int(state["threads"]))
    return sorted(out)


def threads_text(board: dict[str, Any]) -> str:
    t = timing_threads(board)
    if not t:
        return "torch threads not recorded"
    return f"{'/'.join(map(str, t))} torch thread{'s' if t != [1] else ''}"


def timing_machines_note(board: dict[str, Any]) -> str:
    """A sentence naming which machine timed which rows when the *CPU s / image* column mixes machines; empty when
    one machine timed them all."""
    short = [(name, sorted({short_machine(m) for m in ms})) for name, ms in timed_rows(board)]
    if len({m for _, ms in short for m in ms}) < 2:
        return ""
    groups: dict[str, list[str]] = {}
    for name, ms in short:
        groups.setdefault(" and ".join(ms) or "not recorded", []).append(f"`{name}`")
    parts = [f"{k}: {', '.join(v)}" for k, v in sorted(groups.items())]
    return ("*CPU s / image* was measured on more than one machine (a row under two machines has its images split "
            "between them), so compare times only within one machine: " + "; ".join(parts) + ".")


def machines_markdown(board: dict[str, Any]) -> str:
    """One bullet per machine that timed rows: its full description and the rows it timed."""
    by: dict[str, list[str]] = {}
    for name, ms in timed_rows(board):
        for m in ms or ["not recorded"]:
            by.setdefault(m, []).append(f"`{name}`")
    if not by:
        return "No row was timed."
    return "\n".join(f"- {m}: {', '.join(v)}" for m, v in sorted(by.items()))
