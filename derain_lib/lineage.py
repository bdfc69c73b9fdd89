"""The record a training run leaves, and its one writer.

A weight file's info keeps its **lineage**: one entry per training run behind the weights (command, date, steps,
wall and CPU seconds, data, sizes, precision, machine, where it started), the runs of the weights it started from
first.  This module writes all of it: where a run's lineage starts (:func:`start`), the run's entry and the weight
file's info (:func:`record`), the weights with their ``.json`` sidecar, which also keeps the loss curve that
notebook 03 plots (:func:`write`), and a run turned into a shipped weight, with lineage totals, a name and a summary
(:func:`promote`, what :func:`derain_lib.checkpoint.promote_weights` and ``promote`` call).  Its callers:
:mod:`derain_lib.recipe` (the ``train`` command, notebooks) and the lab's GPU campaign.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rain import PRESET_CALIBRATION
from .weightfile import read_metadata, rewrite_info, save_weights


def parent_lineage(init: str | Path) -> list[dict]:
    """The training history of the weights a run starts from (``init``): their recorded lineage, or one entry
    summarising a weight file that predates lineages, or a bare entry for a training checkpoint."""
    init = Path(init)
    if init.suffix != ".safetensors":
        return [{"init_checkpoint": str(init), "note": "weights of a training checkpoint; its history is not recorded"}]
    info = read_metadata(init)["info"]
    if info.get("lineage"):
        return list(info["lineage"])
    keep = ("command", "steps", "train_seconds", "data", "batch", "patch", "lr", "machine", "training_phases")
    return [{"weights": init.stem, **{k: info[k] for k in keep if k in info}}]


@dataclass
class Start:
    """Where a run's record starts, taken just before it trains.

    ``counts_from`` is the first step its entry counts: 0 for a run of its own (a resumed run's entry covers its
    earlier invocations too: steps, seconds and CPU time from its checkpoint on), or the step it starts at when it
    continues a lineage that already records the steps before (``continues``: the lab's campaign resuming a
    candidate of a shipped weight); ``seconds_before`` and ``cpu_before`` are the trainer's figures at that step.
    """
    parent: list[dict]
    init: str | None
    date: str
    at_step: int
    counts_from: int = 0
    seconds_before: float = 0.0
    cpu_before: float = 0.0


def start(spec, trainer, continues: list[dict] | None = None) -> Start:
    """The lineage a run continues and the weights it started from.  A resumed checkpoint carries both; a new run
    stores them in the trainer's meta, so that its checkpoints carry them on.  ``continues``: the lineage this run
    extends instead (its entry then counts only the steps, seconds and CPU time from here on)."""
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if spec.resume:
        parent, init = list(trainer.meta.get("parent_lineage", [])), trainer.meta.get("init")
    else:
        parent = parent_lineage(spec.init) if spec.init else []
        init = str(spec.init) if spec.init else None
        trainer.meta = {"parent_lineage": parent, "init": init}
    if continues is None:
        return Start(parent, init, date, trainer.step)
    return Start(list(continues), init, date, trainer.step, counts_from=trainer.step,
                 seconds_before=trainer.elapsed, cpu_before=trainer.cpu_seconds)


def history_since(history: dict[str, list], step: int) -> dict[str, list]:
    """The trainer's history records after ``step`` (all of them for 0); lists not kept per log step (``val_*``)
    are kept whole."""
    if not step:
        return history
    steps = history.get("step", [])
    keep = [i for i, s in enumerate(steps) if s > step]
    return {k: [v[i] for i in keep] if len(v) == len(steps) else list(v) for k, v in history.items()}


def totals(lineage: list[dict]) -> tuple[int, float]:
    """Steps and training seconds summed over the runs of a lineage."""
    steps = sum(int(r.get("steps") or 0) for r in lineage)
    seconds = sum(float(r.get("train_seconds") or 0.0) for r in lineage)
    return steps, round(seconds, 3)


def record(spec, recipe, trainer, start: Start, *, data: str, evals: dict | None = None,
           extra: dict | None = None) -> dict[str, Any]:
    """The weight file's info: this run's settings and results, and its lineage (the parent's runs + this one).

    ``recipe``: the run's resolved settings (:class:`derain_lib.recipe.Recipe`); ``data``: the one-line
    description of its batches; ``evals``: figures by set name (``train --eval``); ``extra``: fields added to (or
    replacing those of) this run's entry.  Seconds are wall-clock seconds of training (the trainer's count, to the
    millisecond) and the CPU time is the trainer's own count; both cover the whole run (a resumed run's checkpoint
    carries the time before its resume) from ``start.counts_from`` on."""
    from .runtime import machine_info

    r = recipe
    hist = history_since(trainer.history, start.counts_from)
    steps = trainer.step - start.counts_from
    seconds = round(trainer.elapsed - start.seconds_before, 3)
    info = {
        "command": spec.command,
        "steps": steps,
        "train_seconds": seconds,
        "final_loss": hist["loss"][-1] if hist.get("loss") else None,
        "machine": machine_info(),
        "data": data,
        "batch": r.batch, "patch": r.patch, "lr": r.lr, "milestones": r.milestones,
    }
    run = {"command": spec.command, "date": start.date, "steps": steps,
           "train_seconds": seconds, "cpu_seconds": round(trainer.cpu_seconds - start.cpu_before, 3),
           "data": data, "preset": spec.preset if spec.data == "synthetic" else None,
           "batch": r.batch, "patch": r.patch, "lr": r.lr, "config": r.config, "machine": info["machine"],
           "precision": trainer.compute_precision, "interrupted": trainer.interrupted,
           "init": start.init, "resumed_from": spec.resume}
    if run["preset"]:     # which calibration of the synthetic presets this run drew from (docs/data.md)
        run["preset_calibration"] = PRESET_CALIBRATION
    # every fit() call of the run (a resumed run's earlier invocations too); the precision names all of them
    run["invocations"] = [inv for inv in trainer.invocations if int(inv.get("from_step", 0)) >= start.counts_from]
    known = [inv["precision"] for inv in run["invocations"] if "precision" in inv]
    if known:
        run["precision"] = "+".join(dict.fromkeys(known))
    if spec.resume:
        run["resumed_at_step"] = start.at_step
        if not trainer.cpu_recorded:
            run["cpu_seconds_note"] = ("this invocation only: the checkpoint it resumed from (an older format) "
                                       "did not record the CPU time spent before it")
    run.update(extra or {})
    info["lineage"] = list(start.parent) + [run]
    # total steps over the whole lineage (a resumed run's trainer.step already counts its checkpoint's steps)
    info["steps"] = totals(info["lineage"])[0]
    if evals:
        info["eval"] = dict(evals)
    info["summary"] = spec.summary or ""
    return info


def write_sidecar(weights: str | Path, side: dict[str, Any]) -> Path:
    """The ``.json`` beside a weight file: what a person reads (arch, config, info, the loss curve)."""
    path = Path(weights).with_suffix(".json")
    path.write_text(json.dumps(side, indent=2, default=str) + "\n")
    return path


def write(spec, model, info: dict[str, Any], trainer, start: Start, *, path: str | Path | None = None,
          log: Callable[[str], None] = print) -> Path:
    """Write the weights with ``info`` (:func:`record`) to ``path`` (default ``spec.out``) and the sidecar, which
    also keeps this run's loss curve (means over each ``log_every`` steps; the semi-supervised terms too); the
    weight file's own metadata stays small."""
    path = path or spec.out
    if not path:
        raise ValueError("give out= (the weights file to write)")
    path = save_weights(model, path, info)
    hist = history_since(trainer.history, start.counts_from)
    history = {k: [round(float(v), 6) for v in vals] for k, vals in hist.items() if k != "lr"}
    note = f"history: means over each {spec.log_every} steps of the last run of the lineage"
    write_sidecar(path, {"arch": spec.arch, "config": spec.config, **info, "history": history, "history_note": note})
    log(f"saved {path} (+ .json) after {trainer.step} steps")
    return Path(path)


def promote(src: str | Path, name: str, summary: str, out_dir: str | Path) -> Path:
    """Copy a run's weights (``train --out``) to ``out_dir/NAME.safetensors`` as a shipped weight: tensors
    unchanged, the info replaced by the name, the one-line summary and the lineage with its totals (steps and
    training seconds of every run); the sidecar keeps the run's loss curve when the run's own sidecar has one."""
    import re

    src = Path(src)
    if src.suffix != ".safetensors":
        src = src.with_suffix(".safetensors")
    if not src.exists():
        raise FileNotFoundError(f"weight file not found: {src}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name) or name.endswith(".safetensors"):
        raise ValueError(f"weight name {name!r}: use letters, digits and _ . + - (no path, no suffix)")
    if not summary.strip():
        raise ValueError("give a one-line --summary: it is what 'list' and the demo show for this weight")
    meta = read_metadata(src)
    old = meta["info"]
    lineage = list(old.get("lineage") or [])
    steps, seconds = totals(lineage or [old])          # a file without a lineage counts as one run
    info = {"name": name, "summary": summary.strip(), "steps": steps, "train_seconds": seconds,
            "machine": old.get("machine", ""), "lineage": lineage}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / f"{name}.safetensors"
    rewrite_info(src, dst, info)
    side = {"arch": meta["arch"], "config": meta["config"], **info}
    run_json = src.with_suffix(".json")
    if run_json.exists():
        run_side = json.loads(run_json.read_text())
        for k in ("history", "history_note"):
            if k in run_side:
                side[k] = run_side[k]
    write_sidecar(dst, side)
    return dst
