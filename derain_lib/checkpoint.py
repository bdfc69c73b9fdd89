"""Checkpoints: safetensors weights + a JSON config in the file's metadata.

Loading never unpickles anything (``safetensors`` stores raw tensors), and loading is strict: a missing or
unexpected tensor is an error, not a warning.  A shipped weight file ``weights/NAME.safetensors`` may have a
human-readable ``weights/NAME.json`` beside it (the command that trained it and the figures it reached).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .models.registry import build_model, config_dict, list_models
from .paths import WEIGHTS_DIR
from .runtime import resolve_device

FORMAT_VERSION = "1"


class WeightsMismatch(RuntimeError, ValueError):
    """A weight file whose tensors do not match the architecture its metadata names (a corrupt or foreign file)."""


def save_weights(model: torch.nn.Module, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights, architecture name and config (and optional ``info``) to ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=_file_metadata(model.arch, config_dict(model), info or {}))
    return path


def _file_metadata(arch: str, config: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
    """The safetensors metadata of a derain_lib weight file (what :func:`read_metadata` reads back)."""
    return {"format": FORMAT_VERSION, "arch": arch, "config": json.dumps(config, sort_keys=True),
            "info": json.dumps(info, sort_keys=True)}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Architecture, config and info stored in a weight file (without loading tensors)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "arch" not in meta or "config" not in meta:
        raise ValueError(f"{path}: not a derain_lib weight file (no 'arch'/'config' metadata)")
    return {
        "arch": meta["arch"],
        "config": json.loads(meta["config"]),
        "info": json.loads(meta.get("info", "{}")),
    }


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (weight files, the authors' .pth)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_weights() -> list[str]:
    """Names of the trained weights shipped in ``derain_lib/weights``."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def weights_path(name_or_path: str | Path) -> Path:
    """Resolve a shipped weight name or a file path, with a helpful error."""
    p = Path(name_or_path)
    if p.suffix == ".safetensors" or p.exists():
        if not p.exists():
            raise FileNotFoundError(f"weight file not found: {p}")
        return p
    shipped = WEIGHTS_DIR / f"{name_or_path}.safetensors"
    if shipped.exists():
        return shipped
    hint = ""
    if str(name_or_path) in list_models():
        hint = (f" {name_or_path!r} is an architecture; build an untrained one with "
                f"build_model({str(name_or_path)!r}) or train it with 'python -m derain_lib train'.")
    names = ", ".join(list_weights()) or "(none shipped yet)"
    raise FileNotFoundError(f"no weights named {str(name_or_path)!r}; shipped weights: {names}.{hint}")


def load_model(name_or_path: str | Path, device: str | torch.device = "auto") -> torch.nn.Module:
    """Load shipped weights by name, or a ``.safetensors`` file, strictly, in eval mode."""
    from safetensors.torch import load_file

    path = weights_path(name_or_path)
    meta = read_metadata(path)
    model = build_model(meta["arch"], **meta["config"])
    state = load_file(str(path), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsMismatch(f"{Path(path).name}: its tensors do not fit {meta['arch']} {meta['config']}: {e}") \
            from None
    model.weights_name = Path(path).stem
    model.weights_info = meta["info"]
    return model.to(resolve_device(device)).eval()


def promote_weights(src: str | Path, name: str, summary: str, out_dir: str | Path | None = None) -> Path:
    """Turn a training run's output (``train --out runs/X``) into a shipped weight ``out_dir/NAME``.

    The tensors are copied unchanged; the metadata gets the name and the one-line ``summary`` shown by ``list``,
    and its ``steps`` and ``train_seconds`` become totals over the whole recorded lineage (every run since the first
    weights, as ``train --init`` chains them).  The ``.json`` sidecar is rewritten from the same metadata and keeps
    the run's loss curve (``history``) when the run's own sidecar has one.  The run's files are left in place.
    """
    import re

    from safetensors.torch import load_file, save_file

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
    runs = lineage or [old]          # a file without a lineage counts as one run
    steps = sum(int(r.get("steps") or 0) for r in runs)
    seconds = sum(float(r.get("train_seconds") or 0.0) for r in runs)
    info = {"name": name, "summary": summary.strip(), "steps": steps, "train_seconds": round(seconds, 1),
            "machine": old.get("machine", ""), "lineage": lineage}
    out_dir = Path(out_dir) if out_dir is not None else WEIGHTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / f"{name}.safetensors"
    state = load_file(str(src), device="cpu")
    save_file(state, str(dst), metadata=_file_metadata(meta["arch"], meta["config"], info))
    side = {"arch": meta["arch"], "config": meta["config"], **info}
    run_json = src.with_suffix(".json")
    if run_json.exists():
        run_side = json.loads(run_json.read_text())
        for k in ("history", "history_note"):
            if k in run_side:
                side[k] = run_side[k]
    dst.with_suffix(".json").write_text(json.dumps(side, indent=2) + "\n")
    return dst
