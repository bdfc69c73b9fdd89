"""What several subcommands share: argument types, the model options, loading the model, expanding inputs."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def key_value(s: str) -> tuple[str, object]:
    """``KEY=VALUE`` with the value read as JSON where it parses (numbers, lists, booleans), else as a string."""
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        val: object = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k, val


def wxh(size: str) -> tuple[int, int]:
    """``"608x412"`` -> ``(608, 412)``; a ValueError (one line on the command line) otherwise."""
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be WxH (e.g. 608x412), got {size!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return w, h


def add_model_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", "-m", help="shipped weight name (see 'list') or a .safetensors file")
    sp.add_argument("--untrained", metavar="ARCH", help="use an untrained ARCH instead (smoke tests)")
    sp.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")


def load_model_from_args(args):
    """The model that ``--model`` names, or an untrained ``--untrained ARCH`` (seeded, with a warning)."""
    from ..checkpoint import load_model
    from ..models.registry import build_model

    if getattr(args, "untrained", None):
        import torch

        from ..runtime import resolve_device
        torch.manual_seed(0)
        model = build_model(args.untrained).to(resolve_device(args.device)).eval()
        print(f"note: using an UNTRAINED {args.untrained} (random weights); its output is not a derained image",
              file=sys.stderr)
        return model
    if not args.model:
        from ..checkpoint import list_weights
        raise ValueError(f"--model is required (shipped weights: {', '.join(list_weights()) or 'none'})")
    return load_model(args.model, device=args.device)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; folders replaced by the images directly inside them, sorted by name."""
    from ..io import IMAGE_SUFFIXES
    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(p)
    return files


def command_line(args) -> str:
    """The command as a user would retype it, for the records a run writes (``args.argv`` is set by ``main``)."""
    argv = getattr(args, "argv", None)
    prog = getattr(args, "prog", "python -m derain_lib")
    return f"{prog} " + " ".join(shlex.quote(str(a)) for a in (sys.argv[1:] if argv is None else argv))


def add_backend_argument(parser) -> None:
    """Add ``--backend {torch,onnxruntime,openvino}`` (default torch) to a subcommand's parser."""
    from ..backends import BACKENDS

    parser.add_argument("--backend", choices=BACKENDS, default="torch",
                        help="inference backend: torch (default), onnxruntime or openvino (CPU; optional packages, "
                             "the model is exported to ONNX once and cached)")
