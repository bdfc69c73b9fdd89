"""The weight hub: shipped weights by name, loading a weight file as a model on a device, promotion.

A weight file is safetensors tensors + a JSON config in the file's metadata (written and read by
:mod:`.weightfile`, whose ``save_weights`` and ``read_metadata`` are re-exported here).  Loading never unpickles
anything (``safetensors`` stores raw tensors), and loading is strict: a missing or unexpected tensor is an error,
not a warning.  A shipped weight file ``weights/NAME.safetensors`` may have a human-readable ``weights/NAME.json``
beside it (the command that trained it and the figures it reached).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .models.registry import build_model, list_models
from .paths import WEIGHTS_DIR
from .runtime import resolve_device
from .weightfile import FORMAT_VERSION, read_metadata, save_weights

__all__ = [
    "FORMAT_VERSION",
    "WeightsMismatch",
    "list_weights",
    "load_model",
    "promote_weights",
    "read_metadata",
    "save_weights",
    "sha256_file",
    "weights_path",
]


class WeightsMismatch(RuntimeError, ValueError):
    """A weight file whose tensors do not match the architecture its metadata names (a corrupt or foreign file)."""


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
    """Turn a training run's output (``train --out runs/X``) into a shipped weight ``out_dir/NAME`` (default: the
    shipped weights folder).

    The tensors are copied unchanged; the metadata gets the name and the one-line ``summary`` shown by ``list``,
    and its ``steps`` and ``train_seconds`` become totals over the whole recorded lineage (every run since the first
    weights, as ``train --init`` chains them).  The ``.json`` sidecar is rewritten from the same metadata and keeps
    the run's loss curve (``history``) when the run's own sidecar has one.  The run's files are left in place.
    :func:`derain_lib.lineage.promote` writes them (the one writer of lineages and sidecars).
    """
    from .lineage import promote

    return promote(src, name, summary, out_dir=Path(out_dir) if out_dir is not None else WEIGHTS_DIR)
