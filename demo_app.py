"""Derain Lab web demo (Gradio 6): derain, compare models, measure, synthesize rain, heavy rain + SR.

    python demo_app.py                      # http://127.0.0.1:7860, CPU unless a GPU is present
    python demo_app.py --port 8080 --max-size 8 --device cpu
    python demo_app.py --weights runs/my-drn.safetensors   # your own weights next to the shipped ones
    python demo_app.py --backend onnxruntime               # preselect ONNX Runtime in the Backend dropdown

Tabs
    Derain      upload a rainy photo (or pick an example), choose one or several of the shipped models, see each
                result against the input with a before/after slider, its run time, a lossless PNG download, and
                the stage-by-stage outputs of multi-stage models.
    Measure     upload the clean reference of the same photo: PSNR/SSIM on the Y channel (BT.601, the convention
                of the deraining papers) and on RGB, for the input and every model's output.
    Synthesize  add rain to a clean photo with sliders (angle, density, length, haze), derain it, and measure
                against the known clean photo.
    Heavy rain + SR   the joint deraining + super-resolution model (x2/x4) against bicubic upsampling.
    Backend     (above the tabs) PyTorch, or the models' exported ONNX graphs through ONNX Runtime or OpenVINO
                when those packages are installed; every tab runs its models through the chosen one.

This file parses the command line and launches; the interface lives in the ``derain_demo`` package (settings,
model bank, picker, handlers, tabs), and reading images, rain synthesis, inference (with tiling) and metrics
in ``derain_lib``. Every event has an explicit ``api_name`` so the app is scriptable with
``gradio_client`` (see tests/test_demo.py). ``launch()`` runs only under ``__main__``: for tests and embedding,
``derain_demo.build_demo()`` returns the ``gr.Blocks``.
"""
from __future__ import annotations

import argparse

from derain_demo import DEFAULT_MAX_MEGAPIXELS, DEFAULT_WORK_MEGAPIXELS, QUEUE_SIZE, build_demo, launch_kwargs
from derain_lib import checkpoint
from derain_lib.backends import BACKENDS

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


if __name__ == "__main__":
    main()
