"""Weight files: the tensors (safetensors) and the metadata derain_lib reads back (format, arch, config, info).

The reading and writing that training needs: :mod:`.lineage` writes a run's weights through it and
:mod:`.recipe` reads the weights a run starts from (``init``).  :mod:`.checkpoint`, the shipped-weights hub
(names, loading a model onto a device, promotion), re-exports :func:`save_weights` and :func:`read_metadata`,
where users have always imported them from.  Nothing here is unpickled: safetensors stores raw tensors, and a
training checkpoint is read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .models.registry import config_dict

FORMAT_VERSION = "1"


def save_weights(model: torch.nn.Module, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights, architecture name and config (and optional ``info``) to ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=file_metadata(model.arch, config_dict(model), info or {}))
    return path


def file_metadata(arch: str, config: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
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


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The model tensors of a ``.safetensors`` weight file, or of a training checkpoint (its ``model`` entry), on
    the CPU."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def rewrite_info(src: str | Path, dst: str | Path, info: dict[str, Any]) -> dict[str, Any]:
    """Copy the weight file ``src`` to ``dst`` with its tensors, arch and config unchanged and ``info`` as its info;
    returns ``src``'s metadata."""
    from safetensors.torch import load_file, save_file

    meta = read_metadata(src)
    save_file(load_file(str(src), device="cpu"), str(dst), metadata=file_metadata(meta["arch"], meta["config"], info))
    return meta
