"""The record a training run leaves: where its lineage starts, one entry for this run, the weights file and the
``.json`` sidecar (which also keeps the loss curve that notebook 03 plots)."""
from __future__ import annotations

import json
from pathlib import Path


def parent_lineage(init: str | Path) -> list[dict]:
    """The training history of the weights a run starts from (``--init``): their recorded lineage, or one entry
    summarising a weight file that predates lineages, or a bare entry for a training checkpoint."""
    init = Path(init)
    if init.suffix != ".safetensors":
        return [{"init_checkpoint": str(init), "note": "weights of a training checkpoint; its history is not recorded"}]
    from ..checkpoint import read_metadata
    info = read_metadata(init)["info"]
    if info.get("lineage"):
        return list(info["lineage"])
    keep = ("command", "steps", "train_seconds", "data", "batch", "patch", "lr", "machine", "training_phases")
    return [{"weights": init.stem, **{k: info[k] for k in keep if k in info}}]


def start_lineage(args, trainer) -> tuple[list[dict], str | None]:
    """The lineage this run continues and the weights it started from; a resumed checkpoint carries both (and a
    new run stores them in the trainer's meta, so that its checkpoints carry them on)."""
    if args.resume:
        return list(trainer.meta.get("parent_lineage", [])), trainer.meta.get("init")
    parent = parent_lineage(args.init) if args.init else []
    init_of_run = str(args.init) if args.init else None
    trainer.meta = {"parent_lineage": parent, "init": init_of_run}
    return parent, init_of_run


def run_record(args, r, data, trainer, hist, *, date0: str, resumed_at: int, parent: list[dict],
               init_of_run: str | None, command: str) -> dict:
    """The weight file's info: this run's settings and results, and its lineage (the parent's runs + this one).

    The CPU time is the trainer's own count, which covers the whole run (a resumed run's checkpoint carries the
    time before its resume)."""
    from ..runtime import machine_info

    info = {
        "command": command,
        "steps": trainer.step,
        "train_seconds": round(hist["time"][-1], 1) if hist["time"] else 0.0,
        "final_loss": hist["loss"][-1] if hist["loss"] else None,
        "machine": machine_info(),
        "data": data.description,
        "batch": r.batch, "patch": r.patch, "lr": r.lr, "milestones": r.milestones,
    }
    run = {"command": command, "date": date0, "steps": trainer.step,
           "train_seconds": info["train_seconds"], "cpu_seconds": round(trainer.cpu_seconds, 3),
           "data": info["data"], "preset": args.preset if args.data == "synthetic" else None,
           "batch": r.batch, "patch": r.patch, "lr": r.lr, "config": r.config, "machine": info["machine"],
           "precision": trainer.compute_precision, "interrupted": trainer.interrupted,
           "init": init_of_run, "resumed_from": str(args.resume) if args.resume else None}
    # every fit() call of the run (a resumed run's earlier invocations too); the precision names all of them
    run["invocations"] = trainer.invocations
    known = [inv["precision"] for inv in trainer.invocations if "precision" in inv]
    if known:
        run["precision"] = "+".join(dict.fromkeys(known))
    if args.resume:
        run["resumed_at_step"] = resumed_at
        if not trainer.cpu_recorded:
            run["cpu_seconds_note"] = ("this invocation only: the checkpoint it resumed from (an older format) "
                                       "did not record the CPU time spent before it")
    info["lineage"] = parent + [run]
    # total steps over the whole lineage (a resumed run's trainer.step already counts its checkpoint's steps)
    info["steps"] = sum(int(e.get("steps") or 0) for e in info["lineage"])
    return info


def write_outputs(args, model, r, info: dict, hist: dict, trainer) -> Path:
    """Evaluate on ``--eval`` sets, then write the weights and the sidecar (settings, lineage, loss curve)."""
    from ..checkpoint import save_weights
    from ..evaluate import evaluate, format_table

    model.eval()
    evals = []
    for d in args.eval or []:
        res = evaluate(model, d)
        res.pop("per_image")
        evals.append(res)
    if evals:
        print(format_table(evals))
        info["eval"] = {Path(e["dataset"]).name: e["mean"] for e in evals}
    info["summary"] = args.summary or ""
    path = save_weights(model, args.out, info)
    # The sidecar also keeps this run's loss curve (means over each --log-every steps; the semi-supervised terms
    # too); the weight file's own metadata stays small.
    history = {k: [round(float(v), 6) for v in vals] for k, vals in hist.items() if k != "lr"}
    history_note = f"history: means over each {args.log_every} steps of the last run of the lineage"
    Path(path).with_suffix(".json").write_text(json.dumps({"arch": args.model, "config": r.config, **info,
                                                           "history": history, "history_note": history_note},
                                                          indent=2) + "\n")
    print(f"saved {path} (+ .json) after {trainer.step} steps")
    return Path(path)
