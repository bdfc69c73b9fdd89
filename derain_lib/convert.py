"""Import the authors' released DRN weights
(github.com/csdwren/DRN, e.g. ``logs/Rain100H_inter7_intra7/net_latest.pth``).

Their training script saves ``model.state_dict()`` of their ``network.DRN`` (a plain dict of 12 tensors, see
:data:`derain_lib.models.drn_reference.AUTHORS_KEYS`).  :func:`convert_authors_drn` reads such a file with
``torch.load(weights_only=True)`` (no code is unpickled), checks the keys and shapes strictly, and writes our
safetensors format plus a ``.json`` sidecar, after which ``load_model``, ``eval``, the demo (``--weights``) and
``derain`` accept it like a shipped weight::

    python -m derain_lib convert-drn net_latest.pth -o drn-authors-rain100H.safetensors --stages 7 --recursions 7

The file does not record T and R (their ``inter_iter`` / ``intra_iter``; the released files are named
``..._inter7_intra7``), so they are options.  Their code concatenates the rainy input first
(``torch.cat((input, x), 1)``), as our DRN does; ``--concat x-first`` converts weights of a model that
concatenated the other way by swapping the two input halves of ``conv0``'s kernel.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import sha256_file
from .models.drn_reference import AUTHORS_KEYS, AuthorsDRN

__all__ = ["convert_authors_drn", "read_authors_state_dict", "sha256_file"]

CONCAT_ORDERS = ("input_first", "x_first")



def read_authors_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The authors' state dict from ``path``, keys checked strictly (``module.`` prefixes of a DataParallel
    model are removed).  Raises ``ValueError`` naming the missing / unexpected keys or wrong shapes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- pickle errors, a safetensors or text file, disallowed globals...
        raise ValueError(f"{path}: not a PyTorch state dict readable with torch.load(weights_only=True) ({e})") \
            from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        kind = type(state).__name__
        hint = (" (a training checkpoint? pass the dict under its 'state_dict'/'model' key, saved on its own)"
                if isinstance(state, dict) else "")
        raise ValueError(f"{path}: expected a plain state dict of tensors (their model.state_dict()), got a {kind}"
                         f"{hint}")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    missing = [k for k in AUTHORS_KEYS if k not in state]
    unexpected = sorted(k for k in state if k not in AUTHORS_KEYS)
    if missing or unexpected:
        raise ValueError(f"{path}: not the authors' DRN layout; missing keys: {missing or 'none'}; "
                         f"unexpected keys: {unexpected or 'none'} (expected exactly: {', '.join(AUTHORS_KEYS)})")
    expected = AuthorsDRN().state_dict()
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in AUTHORS_KEYS if state[k].shape != expected[k].shape]
    if wrong:
        raise ValueError(f"{path}: tensor shapes differ from the authors' DRN (3 channels, 16 features): "
                         + "; ".join(wrong))
    return {k: state[k].detach().to(torch.float32).contiguous() for k in AUTHORS_KEYS}


def convert_authors_drn(src: str | Path, dst: str | Path, stages: int = 7, recursions: int = 7,
                        concat: str = "input_first") -> Path:
    """Convert the authors' ``.pth`` at ``src`` into our ``dst`` (``.safetensors`` + ``.json`` sidecar).

    ``concat``: the input order of the model that produced the file, ``"input_first"`` (their released code,
    ``cat((input, x))``) or ``"x_first"`` (``cat((x, input))``).  Returns the written ``.safetensors`` path.
    """
    from .checkpoint import save_weights
    from .models.registry import build_model, config_dict

    concat = concat.replace("-", "_")
    if concat not in CONCAT_ORDERS:
        raise ValueError(f"concat must be one of {', '.join(CONCAT_ORDERS)}, got {concat!r}")
    if stages < 1 or recursions < 0:
        raise ValueError(f"need stages >= 1 and recursions >= 0, got {stages} and {recursions}")
    src = Path(src)
    state = read_authors_state_dict(src)
    if concat == "x_first":  # their conv0 sees (x, input); ours sees (input, x): swap the kernel's input halves
        w = state["conv0.0.weight"]
        state["conv0.0.weight"] = torch.cat((w[:, 3:], w[:, :3]), 1).contiguous()
    model = build_model("drn", stages=stages, recursions=recursions)
    model.load_state_dict(state, strict=True)  # same key names as the authors' module
    digest = sha256_file(src)
    info = {
        "summary": f"the authors' released DRN weights ({src.name}), converted; T={stages}, R={recursions}",
        "source": {"file": src.name, "sha256": digest, "code": "github.com/csdwren/DRN (network.py, class DRN)",
                   "concat": concat},
        "command": f"python -m derain_lib convert-drn {src.name} --stages {stages} --recursions {recursions}"
                   f" --concat {concat.replace('_', '-')}",
    }
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        dst = dst.with_suffix(".safetensors")
    path = save_weights(model, dst, info=info)
    sidecar = {"arch": "drn", "config": config_dict(model), **info}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return path
