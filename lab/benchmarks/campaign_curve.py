"""The training campaign's curve: each shipped weight's scoreboard figures against the CPU time of its lineage,
over every commit that changed the scoreboard (read from git history, so run it in a clone, not an export).

    python -m lab.benchmarks.campaign_curve            # Markdown table on stdout
    python -m lab.benchmarks.campaign_curve --json     # the same rows as JSON

CPU hours are the sum over the weight's recorded lineage (``cpu_seconds`` where a run recorded it, else its
wall-clock ``train_seconds``, also for a resumed run whose record did not count the CPU time before its resume;
both are marked), taken from the sidecar at the same commit. A figure is only
comparable with another of the same subset (``all`` = the 100 images of Rain100L/H).
"""
from __future__ import annotations

import argparse
import json
import subprocess

from lab import ROOT

BOARD = "derain_lib/weights/scoreboard.json"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def show(commit: str, path: str) -> dict | None:
    try:
        return json.loads(git("show", f"{commit}:{path}"))
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return None


def lineage_hours(side: dict | None) -> tuple[float | None, str]:
    """CPU hours of a sidecar's lineage, and 'cpu' / 'wall' / 'mixed' for what was summed."""
    if not side:
        return None, ""
    runs = side.get("lineage") or [side]
    total, kinds = 0.0, set()
    for r in runs:
        # A resumed run's record stands for the whole run, but when it lacks resumed_at_step or its checkpoint did
        # not store CPU time (cpu_seconds_note), its cpu_seconds cover the last invocation only: count its wall
        # clock, which does cover the whole run.
        partial = r.get("resumed_from") and ("resumed_at_step" not in r or r.get("cpu_seconds_note"))
        if partial and r.get("train_seconds") is not None:
            total += float(r["train_seconds"]); kinds.add("wall")
        elif r.get("cpu_seconds") is not None:
            total += float(r["cpu_seconds"]); kinds.add("cpu")
        elif r.get("train_seconds") is not None:
            total += float(r["train_seconds"]); kinds.add("wall")
    if not kinds:
        return None, ""
    return total / 3600.0, kinds.pop() if len(kinds) == 1 else "mixed"


def rows() -> list[dict]:
    out, seen = [], set()
    log = git("log", "--reverse", "--format=%h %cs", "--", BOARD).split("\n")
    for order, line in enumerate(filter(None, log)):
        commit, date = line.split()
        board = show(commit, BOARD)
        if not board:
            continue
        for r in board.get("rows", []):
            sets = r.get("sets", {})
            subsets = tuple(sets.get(d, {}).get("subset", "") for d in ("rain100L", "rain100H"))
            key = (r["weights"], r.get("sha256"), subsets)
            if key in seen:          # same weight file, same subsets: not a new point
                continue
            seen.add(key)
            hours, kind = lineage_hours(show(commit, f"derain_lib/weights/{r['weights']}.json"))
            point = {"weights": r["weights"], "commit": commit, "date": date, "order": order, "cpu_hours": hours,
                     "time_kind": kind}
            for d in ("rain100L", "rain100H"):
                s = sets.get(d)
                point[d] = None if not s else {"psnr_y": round(s["psnr_y"], 2), "subset": s.get("subset"),
                                               "n": s.get("n")}
            out.append(point)
    return sorted(out, key=lambda p: (p["weights"], p["order"]))


def _cell(s: dict | None) -> str:
    return "" if not s else f"{s['psnr_y']:.2f} ({s['subset']}, n={s['n']})"


def to_markdown(points: list[dict]) -> str:
    lines = ["| weight | commit | date | lineage CPU h | Rain100L Y (subset) | Rain100H Y (subset) |",
             "|---|---|---|---:|---|---|"]
    for p in points:
        h = "" if p["cpu_hours"] is None else f"{p['cpu_hours']:.2f}"
        if h and p["time_kind"] != "cpu":
            h += f" ({p['time_kind']})"
        lines.append(f"| `{p['weights']}` | {p['commit']} | {p['date']} | {h} | {_cell(p['rain100L'])} | "
                     f"{_cell(p['rain100H'])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    points = rows()
    print(json.dumps(points, indent=1) if a.json else to_markdown(points))


if __name__ == "__main__":
    main()
