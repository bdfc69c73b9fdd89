"""Run the campaign: each recipe in turn, on one device, inside one wall-clock budget.

The budget is shared out as it goes: each recipe gets ``share / (shares still to run)`` of the time left, so
time a recipe does not use (a step cap, an error) passes to the next ones.  Each recipe's time covers building
its data, its training steps (the Trainer stops itself on its time limit between steps) and writing its files;
a fixed reserve at the end keeps the summary from being cut off.  Output, per recipe: ``NAME.safetensors`` (with
a lineage record: device, GPU name, steps, seconds, precision), the ``NAME.json`` sidecar, and ``NAME.pt`` (a
training checkpoint that the next campaign can resume); and ``campaign.json``, the summary.
"""
from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .. import ROOT
from .recipes import PAPER_SIZES, Recipe, sizes

RESERVE_S = 3.0          # kept free at the end of the budget for the summary
WRITE_S = 2.0            # kept free at the end of each recipe's share for its files
MIN_RECIPE_S = 1.0       # a recipe with less time than this left is skipped, not started


def use_data(data: str | Path | None, scratch: str | Path | None = None) -> Path:
    """Point the library's data root at ``data``: a folder, or an archive from ``lab/campaign/pack_data.py``
    unpacked into ``scratch`` (a temporary folder by default).  Returns the data root."""
    from derain_lib.paths import data_root

    if data is None:
        return data_root()
    p = Path(data)
    if p.is_dir():
        root = p.resolve()
    elif p.is_file() and tarfile.is_tarfile(p):
        root = Path(scratch or tempfile.mkdtemp(prefix="derain_data_"))
        with tarfile.open(p) as tf:
            tf.extractall(root, filter="data")
    else:
        raise FileNotFoundError(f"--data {p}: neither a data folder nor a tar archive from lab/campaign/pack_data.py")
    os.environ["DERAIN_DATA"] = str(root)
    return root


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _model_and_trainer(r: Recipe, device, precision: str, seed: int):
    from derain_lib.checkpoint import load_model, weights_path
    from derain_lib.train import Trainer

    shipped = weights_path(r.name)
    cuda = device.type == "cuda"
    if r.resume and (ROOT / r.resume).exists():
        model = Trainer.read_checkpoint_model(ROOT / r.resume)
        start = ("resume", r.resume)
    else:
        model = load_model(r.name, device="cpu")
        start = ("init", str(shipped.relative_to(ROOT)) if shipped.is_relative_to(ROOT) else str(shipped))
    trainer = Trainer(model, lr=r.lr, device=device, seed=seed, grad_clip=r.grad_clip, precision=precision,
                      channels_last=cuda or None)
    if start[0] == "resume":
        trainer.load_checkpoint(ROOT / r.resume)
        trainer.set_lr(r.lr)
    return model, trainer, shipped, start


def _lineage_entry(r: Recipe, trainer, hist, *, date0, from_step, start, batch, crop, device, workers,
                   command) -> dict:
    from derain_lib.runtime import machine_info

    return {"command": command, "date": date0, "steps": trainer.step - from_step,
            "train_seconds": round(hist["time"][-1], 1) if hist["time"] else 0.0,
            "cpu_seconds": round(trainer.cpu_seconds, 3), "device": device.type, "gpu": device_name(device),
            "precision": trainer.compute_precision, "channels_last": trainer.channels_last,
            "data": f"synthetic ({r.preset}) over clean/"
                    + (f" + {r.mix_pairs[1]:.0%} of batches from the pairs of {r.mix_pairs[0]}" if r.mix_pairs else "")
                    + (" + unlabelled real rainy patches (8 photos held out)" if r.real else ""),
            "preset": r.preset, "batch": batch, "patch": crop, "lr": r.lr, "paper_sizes": PAPER_SIZES[r.arch]["source"],
            "machine": machine_info(), "loader_workers": workers, "rain_synthesis": r.synth,
            "interrupted": trainer.interrupted, start[0]: start[1],
            **({"resumed_at_step": from_step} if start[0] == "resume" else {})}


def run_recipe(r: Recipe, out: Path, *, device, time_s: float, max_steps: int | None, batch_cap, crop_cap,
               workers: int, precision: str, seed: int, command: str, log: Callable[[str], None]) -> dict:
    """Train one recipe for at most ``time_s`` seconds (everything included) and write its files."""
    from derain_lib.checkpoint import read_metadata, save_weights
    from derain_lib.models.registry import config_dict

    from .batches import loader

    t0 = time.time()
    model, trainer, shipped, start = _model_and_trainer(r, device, precision, seed)
    scale = int(getattr(model, "scale", 1))
    batch, crop = sizes(r, batch_cap, crop_cap, scale)
    batches = loader(r, batch, crop, scale, seed, trainer.device, workers)
    from_step = trainer.step
    hist0 = len(trainer.history["time"])
    left = time_s - (time.time() - t0) - WRITE_S
    log(f"{r.name}: batch {batch}, crop {crop}, {trainer.compute_precision}, {left:.0f} s for training "
        f"({start[0]} {start[1]})")
    date0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    wall0 = time.time()
    trainer.fit(batches, from_step + max_steps if max_steps else 10 ** 9, log_every=10, progress=False,
                time_limit=max(left, 1e-3))
    wall = time.time() - wall0
    steps = trainer.step - from_step
    hist = {k: v[hist0:] for k, v in trainer.history.items()}
    hist["time"] = [wall]
    parent = list(read_metadata(shipped)["info"].get("lineage") or [])
    run = _lineage_entry(r, trainer, hist, date0=date0, from_step=from_step, start=start, batch=batch, crop=crop,
                         device=trainer.device, workers=workers, command=command)
    run["train_seconds"] = round(wall, 1)
    info = {"command": command, "steps": sum(int(e.get("steps") or 0) for e in parent) + steps,
            "train_seconds": round(wall, 1), "final_loss": hist["loss"][-1] if hist["loss"] else None,
            "machine": run["machine"], "data": run["data"], "batch": batch, "patch": crop, "lr": r.lr,
            "lineage": parent + [run], "summary": read_metadata(shipped)["info"].get("summary", "")}
    path = save_weights(model, out / f"{r.name}.safetensors", info)
    history = {k: [round(float(x), 6) for x in v] for k, v in hist.items() if k not in ("lr", "time")}
    side = {"arch": r.arch, "config": config_dict(model), **info, "history": history}
    path.with_suffix(".json").write_text(json.dumps(side, indent=2, default=str) + "\n")
    trainer.save_checkpoint(out / f"{r.name}.pt")
    return {"name": r.name, "arch": r.arch, "status": "ok", "steps": steps, "train_seconds": round(wall, 2),
            "steps_per_second": round(steps / wall, 3) if wall > 0 else None, "batch": batch, "crop": crop,
            "precision": trainer.compute_precision, "final_loss": info["final_loss"],
            "seconds_total": round(time.time() - t0, 2), "files": [path.name, path.with_suffix(".json").name,
                                                                   f"{r.name}.pt"]}


def run_campaign(recipes: list[Recipe], out: str | Path, *, device: str = "auto", budget_s: float = 420.0,
                 max_steps: int | None = None, batch_cap: int | None = None, crop_cap: int | None = None,
                 workers: int | None = None, precision: str = "auto", seed: int = 100, command: str = "",
                 log: Callable[[str], None] = print) -> dict:
    """Train ``recipes`` one after the other within ``budget_s`` wall-clock seconds; returns (and writes as
    ``out/campaign.json``) the summary."""
    from derain_lib.runtime import resolve_device

    t_start = time.time()
    deadline = t_start + budget_s - RESERVE_S
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True      # fixed crop sizes: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if workers is None:
        workers = min(8, max(0, (os.cpu_count() or 1) - 2)) if dev.type == "cuda" else 0
    rows = []
    for i, r in enumerate(recipes):
        left = deadline - time.time()
        shares = sum(x.share for x in recipes[i:])
        time_s = left * r.share / shares
        if time_s < MIN_RECIPE_S:
            rows.append({"name": r.name, "arch": r.arch, "status": "skipped: budget spent", "steps": 0})
            log(f"{r.name}: skipped, {left:.1f} s of the budget left")
            continue
        try:
            rows.append(run_recipe(r, out, device=dev, time_s=time_s, max_steps=max_steps, batch_cap=batch_cap,
                                   crop_cap=crop_cap, workers=workers, precision=precision, seed=seed + i,
                                   command=command, log=log))
            row = rows[-1]
            log(f"{r.name}: {row['steps']} steps in {row['train_seconds']:.1f} s "
                f"({row['steps_per_second']} steps/s), loss {row['final_loss']}")
        except (FloatingPointError, RuntimeError, ValueError, FileNotFoundError) as e:
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            rows.append({"name": r.name, "arch": r.arch, "status": f"error: {type(e).__name__}: {e}", "steps": 0})
            log(f"{r.name}: {rows[-1]['status']}")
    summary = {"device": dev.type, "gpu": device_name(dev), "budget_s": budget_s,
               "elapsed_s": round(time.time() - t_start, 2), "max_steps": max_steps, "batch_cap": batch_cap,
               "crop_cap": crop_cap, "workers": workers, "command": command, "python": sys.version.split()[0],
               "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t_start)),
               "runs": rows}
    (out / "campaign.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
