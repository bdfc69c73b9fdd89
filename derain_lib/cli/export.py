"""``python -m derain_lib export WEIGHTS --format onnx -o FILE.onnx``: one ONNX file per weight.

Height and width are dynamic; the file's metadata names the weight, config, scale and opset
(:mod:`derain_lib.export`).  ``--check`` runs the file in ONNX Runtime on an odd-sized image and compares it with
the PyTorch model (max difference printed; fails above 1e-4).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHECK_TOL = 1e-4


def register(subparsers) -> None:
    """Add the ``export`` verb to an argparse sub-parser collection."""
    from ..export import FORMATS, OPSET

    sp = subparsers.add_parser("export", help="export weights to ONNX (dynamic height/width)",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("weights", metavar="WEIGHTS", help="shipped weight name (see 'list') or a .safetensors path")
    sp.add_argument("--format", default="onnx", choices=FORMATS, help="output format (default onnx)")
    sp.add_argument("-o", "--out", default=None, help="output file (default WEIGHTS.onnx in the current folder)")
    sp.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET}; 18-23)")
    sp.add_argument("--check", action="store_true",
                    help=f"compare the exported graph with PyTorch in ONNX Runtime (fails above {CHECK_TOL:g})")
    sp.set_defaults(func=run)


def _check(model, path: Path) -> float:
    import numpy as np
    import torch

    from ..backends import OnnxRuntimeRunner, require_backend

    require_backend("onnxruntime")
    x = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    runner = OnnxRuntimeRunner(model, path=path)
    with torch.inference_mode():
        ref = model(x).float()
    return float(np.abs(runner(x).numpy() - ref.numpy()).max())


def run(args) -> int:
    """Export ``args.weights``; prints the path (and the check), ``error: ...`` and 1 on bad input."""
    from ..checkpoint import load_model
    from ..export import export_onnx

    try:
        model = load_model(args.weights, device="cpu")
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    name = getattr(model, "weights_name", None) or Path(str(args.weights)).stem
    out = Path(args.out) if args.out else Path(f"{name}.onnx")
    if out.suffix != ".onnx":
        print(f"error: the output file must end in .onnx, got {out}", file=sys.stderr)
        return 1
    if out.exists() and out.is_dir():
        print(f"error: {out} is a folder; give a file name", file=sys.stderr)
        return 1
    try:
        path = export_onnx(model, out, opset=args.opset)
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB, opset {args.opset}, dynamic height and width)")
    if args.check:
        try:
            diff = _check(model, path)
        except ImportError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"check: max |onnxruntime - torch| = {diff:.2e} on a 53x37 image")
        if diff > CHECK_TOL:
            print(f"error: the exported graph differs from PyTorch by {diff:.2e} (> {CHECK_TOL:g})", file=sys.stderr)
            return 1
    return 0
