"""How the demo reports problems: expected ones (bad input) as a readable message in the page, never a traceback.

``user_error`` makes such a message, ``user_errors`` wraps an event handler so that the library's errors become
one, and ``image_input`` is an upload box whose unreadable uploads do too.
"""
from __future__ import annotations

import functools
import traceback
from collections.abc import Callable

import gradio as gr

from derain_lib import io as dio

__all__ = ["image_input", "user_error", "user_errors"]


def user_error(message: str, **kw) -> gr.Error:
    """An error shown in the page; expected (bad input), so no server-side traceback."""
    return gr.Error(message, print_exception=False, **kw)


def user_errors(fn: Callable) -> Callable:
    """Turn library errors into a readable message in the page (``gr.Error``); the app keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except dio.ImageError as err:
            raise user_error(f"Cannot use this image: {err}", title="Image error") from err
        except (ValueError, FileNotFoundError, KeyError) as err:
            raise user_error(str(err)) from err
        except MemoryError as err:
            raise gr.Error("Out of memory on this image: try a smaller one, or leave 'full resolution' off.") from err
        except Exception as err:  # pragma: no cover - unexpected: show it rather than an anonymous failure
            traceback.print_exc()
            raise gr.Error(f"Unexpected error ({type(err).__name__}): {err}") from err

    return wrapper


def image_input(label: str, **kw) -> gr.Image:
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
            raise user_error(f"{name} is not an image this demo can read ({detail}). "
                             "Use PNG, JPEG, BMP, TIFF or WebP.", title="Image error") from err

    comp.preprocess = preprocess
    return comp
