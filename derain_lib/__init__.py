"""Derain Lab: single-image rain removal, four published methods, one small library.

Public API::

    from derain_lib import list_models, build_model, list_weights, load_model, derain, add_rain, psnr, ssim

Names are imported lazily so that ``import derain_lib`` stays fast and a notebook that only needs the rain
synthesizer does not pay for every model.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "list_models": "derain_lib.models.registry",
    "build_model": "derain_lib.models.registry",
    "list_weights": "derain_lib.checkpoint",
    "load_model": "derain_lib.checkpoint",
    "save_weights": "derain_lib.checkpoint",
    "derain": "derain_lib.infer",
    "add_rain": "derain_lib.rain",
    "psnr": "derain_lib.metrics",
    "ssim": "derain_lib.metrics",
    "read_image": "derain_lib.io",
    "save_image": "derain_lib.io",
    "data_root": "derain_lib.paths",
}

__all__ = [
    "add_rain",
    "build_model",
    "data_root",
    "derain",
    "list_models",
    "list_weights",
    "load_model",
    "psnr",
    "read_image",
    "save_image",
    "save_weights",
    "ssim",
]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'derain_lib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
