"""Derain Lab web demo (Gradio 6): derain, compare models, measure, synthesize rain, heavy rain + SR.

    python demo_app.py                      # http://127.0.0.1:7860, CPU unless a GPU is present
    derain-demo                             # the same, once the package is installed (pip install ".[demo]")
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

This file runs ``derain_demo.cli.main``; the interface lives in the ``derain_demo`` package (settings,
model bank, picker, handlers, tabs), and reading images, rain synthesis, inference (with tiling) and metrics
in ``derain_lib``. Every event has an explicit ``api_name`` so the app is scriptable with
``gradio_client`` (see tests/demo/test_demo.py). ``launch()`` runs only under ``__main__``: for tests and embedding,
``derain_demo.build_demo()`` returns the ``gr.Blocks``.
"""
from __future__ import annotations

from derain_demo.cli import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    main()
