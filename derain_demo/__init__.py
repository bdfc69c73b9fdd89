"""The Derain Lab web demo as a package: ``cli`` (run by ``derain-demo``, ``python -m derain_demo`` and
``demo_app.py``) parses the command line and launches ``build_demo()``.

Modules: ``config`` (limits, caches, look), ``errors`` (messages for the user, upload boxes), ``model_bank`` (the
weights offered), ``picker`` (the model table), ``app`` (the event handlers), ``ui`` (the page and its wiring).
Tiling, the reports it shows (``derain_lib.reports``) and everything else about images come from ``derain_lib``.
"""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local demo does not phone home

from .app import DerainApp
from .config import (
    DEFAULT_MAX_MEGAPIXELS,
    DEFAULT_WORK_MEGAPIXELS,
    METRIC_HEADERS,
    QUEUE_SIZE,
    launch_kwargs,
)
from .model_bank import ModelBank
from .picker import Picker
from .ui import DemoBlocks, build_demo

__all__ = [
    "DEFAULT_MAX_MEGAPIXELS", "DEFAULT_WORK_MEGAPIXELS", "METRIC_HEADERS", "QUEUE_SIZE", "DemoBlocks", "DerainApp",
    "ModelBank", "Picker", "build_demo", "launch_kwargs",
]
