"""Evaluate a model on a paired folder: Y and RGB PSNR/SSIM of the input and the output, per image and mean."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import PairedFolder
from .infer import derain
from .io import save_image
from .metrics import all_metrics
from .paths import resolve_dataset


def _bicubic_down(img: np.ndarray, scale: int) -> np.ndarray:
    from .io import to_tensor, to_uint8
    from .rain import downsample
    return to_uint8(downsample(to_tensor(img), scale))


def evaluate(model: torch.nn.Module | None, dataset: str | Path, tile: int | None = None,
             max_images: int | None = None, save_dir: str | Path | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Score ``model`` on a paired folder (``model=None`` scores only the rainy inputs).

    For a super-resolution model (``model.scale > 1``) the input is the bicubic-downsampled rainy image and the
    output is compared with the full-resolution clean image (cropped to a multiple of the scale).
    """
    from tqdm.auto import tqdm

    ds = PairedFolder(resolve_dataset(dataset), max_images=max_images)
    scale = int(getattr(model, "scale", 1)) if model is not None else 1
    rows = []
    total_time = 0.0
    for i in tqdm(range(len(ds)), disable=not progress, desc=Path(dataset).name):
        rainy, clean, name = ds[i]
        if scale > 1:
            h, w = clean.shape[0] // scale * scale, clean.shape[1] // scale * scale
            rainy, clean = rainy[:h, :w], clean[:h, :w]
        row: dict[str, Any] = {"name": name}
        row.update({f"input_{k}": v for k, v in all_metrics(rainy, clean).items()})
        if model is not None:
            inp = _bicubic_down(rainy, scale) if scale > 1 else rainy
            t0 = time.perf_counter()
            out = derain(inp, model, tile=tile)
            dt = time.perf_counter() - t0
            total_time += dt
            row.update({f"output_{k}": v for k, v in all_metrics(out, clean).items()})
            row["seconds"] = dt
            if save_dir:
                save_image(out, Path(save_dir) / (Path(name).stem + ".png"))
        rows.append(row)
    keys = [k for k in rows[0] if k != "name"]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    return {
        "dataset": str(dataset),
        "images": len(rows),
        "model": getattr(model, "weights_name", getattr(model, "arch", None)) if model is not None else None,
        "mean": mean,
        "per_image": rows,
        "seconds_per_image": total_time / len(rows) if model is not None else None,
        "note": "Y = MATLAB rgb2ycbcr luma (BT.601, 16-235); RGB = all channels 0-255; SSIM Gaussian 11x11 s=1.5",
    }


def format_table(results: list[dict[str, Any]]) -> str:
    """A plain-text table of mean figures, one row per (dataset, model)."""
    head = f"{'dataset':<22} {'model':<22} {'PSNR-Y':>7} {'SSIM-Y':>7} {'PSNR-RGB':>8} {'SSIM-RGB':>8} {'s/img':>6}"
    lines = [head, "-" * len(head)]
    for r in results:
        m = r["mean"]
        ds = Path(r["dataset"]).name
        lines.append(f"{ds:<22} {'(rainy input)':<22} {m['input_psnr_y']:7.2f} {m['input_ssim_y']:7.4f} "
                     f"{m['input_psnr_rgb']:8.2f} {m['input_ssim_rgb']:8.4f} {'':>6}")
        if r["model"] is not None:
            lines.append(f"{ds:<22} {r['model']!s:<22} {m['output_psnr_y']:7.2f} {m['output_ssim_y']:7.4f} "
                         f"{m['output_psnr_rgb']:8.2f} {m['output_ssim_rgb']:8.4f} {r['seconds_per_image']:6.2f}")
    return "\n".join(lines)


def evaluate_sets(model: torch.nn.Module, datasets, log=print) -> dict[str, dict[str, float]]:
    """Score ``model`` on each of ``datasets`` (names or paired folders), log the table and return the mean figures
    by set name (what a training run records under ``eval``, e.g. ``train --eval``)."""
    results = [evaluate(model, d) for d in datasets]
    if results:
        log(format_table(results))
    return {Path(r["dataset"]).name: r["mean"] for r in results}
