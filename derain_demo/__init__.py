"""The Derain Lab web demo as a package: ``demo_app.py`` parses the command line and launches ``build_demo()``.

Modules: ``config`` (limits, files, look), ``model_bank`` (the weights offered), ``picker`` (the model table),
``helpers`` (shared small pieces), ``app`` (the event handlers), ``ui`` (the tabs and their wiring).
"""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local demo does not phone home

from .app import DerainApp, _no_weights_message
from .config import (
    CSS,
    DEFAULT_MAX_MEGAPIXELS,
    DEFAULT_WORK_MEGAPIXELS,
    FALLBACK_DEFAULT,
    LATENCY_FILE,
    METRIC_HEADERS,
    METRIC_NOTE,
    OVERLAP,
    QUEUE_SIZE,
    RECOMMENDED_TAGS,
    RESULT_CACHE,
    SCORE_SETS,
    SCOREBOARD_FILE,
    STAGES_MAX_PIXELS,
    TILE,
    TILE_ABOVE,
    launch_kwargs,
)
from .helpers import (
    Results,
    _digest,
    _fmt,
    _image_input,
    _metric_row,
    _resize,
    _safe_name,
    _secs,
    _user_error,
    _user_errors,
)
from .model_bank import ModelBank, _read_sidecar, load_scoreboard
from .picker import Picker
from .ui import build_demo

__all__ = [
    'CSS', 'DEFAULT_MAX_MEGAPIXELS', 'DEFAULT_WORK_MEGAPIXELS', 'FALLBACK_DEFAULT', 'LATENCY_FILE',
    'METRIC_HEADERS', 'METRIC_NOTE', 'OVERLAP', 'QUEUE_SIZE', 'RECOMMENDED_TAGS', 'RESULT_CACHE', 'SCOREBOARD_FILE',
    'SCORE_SETS', 'STAGES_MAX_PIXELS', 'TILE', 'TILE_ABOVE', 'DerainApp', 'ModelBank', 'Picker', 'Results',
    '_digest', '_fmt', '_image_input', '_metric_row', '_no_weights_message', '_read_sidecar', '_resize',
    '_safe_name', '_secs', '_user_error', '_user_errors', 'build_demo', 'launch_kwargs', 'load_scoreboard',
]
