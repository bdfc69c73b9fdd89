"""Small pieces the tabs share: error messages for the user, image inputs, metric rows, a result cache."""
from __future__ import annotations

import functools
import hashlib
import math
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable

import gradio as gr
import numpy as np
from PIL import Image

from derain_lib import io as dio
from derain_lib import metrics

from .config import (
    RESULT_CACHE,
)


def _secs(t: float) -> str:
    return f"{t:.2f} s" if t < 10 else f"{t:.0f} s"


# ----------------------------------------------------------------------------------------------------------------
# Small helpers (UI plumbing only)
def _user_error(message: str, **kw) -> gr.Error:
    """An error shown in the page; expected (bad input), so no server-side traceback."""
    return gr.Error(message, print_exception=False, **kw)


def _user_errors(fn: Callable) -> Callable:
    """Turn library errors into a readable message in the page (``gr.Error``); the app keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except dio.ImageError as err:
            raise _user_error(f"Cannot use this image: {err}", title="Image error") from err
        except (ValueError, FileNotFoundError, KeyError) as err:
            raise _user_error(str(err)) from err
        except MemoryError as err:
            raise gr.Error("Out of memory on this image: try a smaller one, or leave 'full resolution' off.") from err
        except Exception as err:  # pragma: no cover - unexpected: show it rather than an anonymous failure
            traceback.print_exc()
            raise gr.Error(f"Unexpected error ({type(err).__name__}): {err}") from err

    return wrapper


def _image_input(label: str, **kw) -> gr.Image:
    """An upload box that hands the *original file* to ``derain_lib.io.read_image``.

    ``type="filepath"`` with ``image_mode=None`` keeps Gradio from converting the upload (which would drop
    16-bit depth and alpha handling choices); Gradio still opens the file with PIL first, so a non-image or
    corrupt upload is turned into a readable ``gr.Error`` here instead of an anonymous failure.
    """
    comp = gr.Image(label=label, type="filepath", image_mode=None, format="png",
                    sources=["upload", "clipboard"], **kw)
    original = comp.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as err:
            name = getattr(payload, "orig_name", None) or "the uploaded file"
            detail = str(err).replace(str(getattr(payload, "path", None) or "\0"), name)
            raise _user_error(f"{name} is not an image this demo can read ({detail}). "
                              "Use PNG, JPEG, BMP, TIFF or WebP.", title="Image error") from err

    comp.preprocess = preprocess
    return comp


def _safe_name(text: str) -> str:
    """A file-name-safe version of ``text`` (download names)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"


def _digest(img: np.ndarray) -> str:
    return hashlib.sha1(img.tobytes() + str(img.shape).encode()).hexdigest()


def _fmt(x: float, nd: int) -> float | str:
    return "inf" if math.isinf(x) else round(float(x), nd)


def _metric_row(label: str, pred: np.ndarray, ref: np.ndarray) -> list:
    return [label,
            _fmt(metrics.psnr(pred, ref, y_channel=True), 2), _fmt(metrics.ssim(pred, ref, y_channel=True), 4),
            _fmt(metrics.psnr(pred, ref, y_channel=False), 2), _fmt(metrics.ssim(pred, ref, y_channel=False), 4)]


def _resize(img: np.ndarray, size: tuple[int, int], method: str = "lanczos") -> np.ndarray:
    """Resize a uint8 RGB image to ``size`` = (W, H) (Lanczos to shrink, bicubic for the SR baseline)."""
    resize = getattr(dio, "resize", None)
    if resize is not None:  # prefer the library's when it has one
        return resize(img, size, method=method)
    m = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC, "area": Image.BOX}[method]
    return np.asarray(Image.fromarray(img).resize(size, m))


class Results:
    """LRU cache of model outputs: ``(image digest, model, mode) -> (output, seconds, stages)``."""

    def __init__(self, size: int = RESULT_CACHE):
        self.size = size
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


# ----------------------------------------------------------------------------------------------------------------
