"""The demo's command line: ``derain-demo`` (installed), ``python -m derain_demo`` or ``python demo_app.py`` in a
clone.  It parses the options and launches; the page itself is :func:`derain_demo.build_demo`."""
from __future__ import annotations

import argparse

from derain_lib import checkpoint
from derain_lib.backends import BACKENDS

from .config import DEFAULT_MAX_MEGAPIXELS, DEFAULT_WORK_MEGAPIXELS, QUEUE_SIZE, launch_kwargs
from .ui import build_demo

__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Derain Lab web demo")
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine "
                                                        "only; 0.0.0.0 exposes it to your network)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    ap.add_argument("--max-size", type=float, default=DEFAULT_MAX_MEGAPIXELS, metavar="MEGAPIXELS",
                    help=f"per-request image size limit in megapixels (default {DEFAULT_MAX_MEGAPIXELS:g})")
    ap.add_argument("--work-size", type=float, default=DEFAULT_WORK_MEGAPIXELS, metavar="MEGAPIXELS",
                    help="downscale larger photos to this size unless 'full resolution' is ticked "
                         f"(default {DEFAULT_WORK_MEGAPIXELS:g})")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--queue-size", type=int, default=QUEUE_SIZE, help="maximum number of waiting requests")
    ap.add_argument("--backend", choices=BACKENDS, default="torch",
                    help="preselected inference backend: torch (default), onnxruntime or openvino (optional "
                         "packages, CPU); the page's Backend dropdown offers every one installed here")
    ap.add_argument("--weights", nargs="+", default=[], metavar="FILE",
                    help="also offer these .safetensors files (e.g. your own training runs) next to the shipped ones")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        weights = checkpoint.list_weights() + [str(checkpoint.weights_path(w)) for w in args.weights]
        demo = build_demo(weights=weights, device=args.device, max_megapixels=args.max_size,
                          work_megapixels=args.work_size, queue_size=args.queue_size, backend=args.backend)
    except (RuntimeError, ValueError, FileNotFoundError, ImportError) as err:  # e.g. --device cuda without CUDA
        raise SystemExit(f"error: {err}") from None
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs())

