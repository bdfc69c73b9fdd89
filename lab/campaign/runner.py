"""Run the campaign: each recipe in turn, on one device, inside one wall-clock budget.

The budget is shared out as it goes: each recipe gets ``share / (shares still to run)`` of the time left, so
time a recipe does not use (a step cap, an error) passes to the next ones.  Each recipe's time covers building
its data, its training steps (the Trainer stops itself on its time limit between steps) and writing its files;
a fixed reserve at the end keeps the summary from being cut off.  Output, per recipe: ``NAME.safetensors`` (with
a lineage record: device, GPU name, steps, seconds, precision), the ``NAME.json`` sidecar, and ``NAME.pt`` (a
training checkpoint that the next campaign can resume); and ``campaign.json``, the summary.  Each run is the
library's (:func:`derain_lib.recipe.prepare`, ``fit``, ``write``) of the recipe's spec; its lineage entry continues
the shipped weight's lineage and counts only this campaign's steps.
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
from .recipes import Recipe, paper_sizes, train_spec

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


_POOLS: dict[str, object] = {}     # data root -> decoded clean photos, shared by every recipe of a campaign


def _clean_pool():
    """The clean photos of the data root, decoded once per campaign (forked DataLoader workers share them)."""
    from derain_lib.data import ImagePool, clean_image_files
    from derain_lib.paths import data_root

    key = str(data_root())
    if key not in _POOLS:
        _POOLS[key] = ImagePool(clean_image_files(None))
    return _POOLS[key]


def _repo_path(p: Path) -> str:
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def run_recipe(r: Recipe, out: Path, *, device, time_s: float, max_steps: int | None, batch_cap, crop_cap,
               workers: int, precision: str, seed: int, command: str, log: Callable[[str], None]) -> dict:
    """Train one recipe for at most ``time_s`` seconds (everything included) and write its files: the library's
    run of the recipe's :class:`~derain_lib.recipe.TrainSpec`, whose lineage continues the shipped weight's."""
    from derain_lib.checkpoint import read_metadata, weights_path
    from derain_lib.models.registry import build_model, config_dict
    from derain_lib.recipe import prepare
    from derain_lib.train import Trainer

    t0 = time.time()
    shipped = weights_path(r.name)
    meta = read_metadata(shipped)
    resume = ROOT / r.resume if r.resume and (ROOT / r.resume).exists() else None
    model = Trainer.read_checkpoint_model(resume) if resume else build_model(r.arch, **meta["config"])
    start = ("resume", r.resume) if resume else ("init", _repo_path(shipped))
    spec = train_spec(r, config=config_dict(model), scale=int(getattr(model, "scale", 1)),
                      init=None if resume else str(shipped), resume=str(resume) if resume else None,
                      summary=meta["info"].get("summary", ""), batch_cap=batch_cap, crop_cap=crop_cap,
                      device=str(device), precision=precision, seed=seed, workers=workers,
                      out=out / f"{r.name}.safetensors", command=command)
    run = prepare(spec, model, pool=_clean_pool(), log=lambda s: None)
    trainer = run.trainer
    from_step = trainer.step
    run.recipe.steps = from_step + max_steps if max_steps else 10 ** 9
    left = time_s - (time.time() - t0) - WRITE_S
    log(f"{r.name}: batch {run.recipe.batch}, crop {run.recipe.patch}, {trainer.compute_precision}, {left:.0f} s "
        f"for training ({start[0]} {start[1]})")
    wall0 = time.time()
    run.fit(time_limit=max(left, 1e-3), continues=list(meta["info"].get("lineage") or []))
    wall = time.time() - wall0
    steps = trainer.step - from_step
    path = run.write(device=trainer.device.type, gpu=device_name(trainer.device), channels_last=trainer.channels_last,
                     paper_sizes=paper_sizes(r.arch)["source"], loader_workers=workers, rain_synthesis=r.synth,
                     **{start[0]: start[1]}, **({"resumed_from": r.resume} if resume else {}))
    hist = trainer.history
    return {"name": r.name, "arch": r.arch, "status": "ok", "steps": steps, "train_seconds": round(wall, 2),
            "steps_per_second": round(steps / wall, 3) if wall > 0 else None, "batch": run.recipe.batch,
            "crop": run.recipe.patch, "precision": trainer.compute_precision,
            "final_loss": hist["loss"][-1] if steps and hist["loss"] else None,
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
