"""Model registry: architecture name -> builder, and default training losses.

The idea follows BasicSR's ``Registry`` (name -> builder, a KeyError that lists the names), but with an
explicit table instead of scanning files, so that what exists is visible in one place and a broken model
file only breaks its own name.

Model contract (every entry follows it):

* ``Model.Config`` is a dataclass whose defaults reproduce the paper's configuration; every field is
  JSON-serialisable, so a checkpoint can carry it.
* ``Model(cfg)`` builds the network; ``model.config`` holds that dataclass.
* ``model.forward(x, return_stages=False)``: ``x`` is (B, 3, H, W) in [0, 1], any H and W (the model pads and
  crops inside ``forward``).  Returns the restored image (B, 3, scale*H, scale*W), or ``(image, aux)`` when
  ``return_stages=True`` (aux: a list of per-stage outputs, or a dict of named intermediates).
* ``model.scale`` (int, 1 for pure deraining) and ``model.tile_multiple`` (int, tile sizes are rounded to it).
* The model's module defines ``training_loss(model, batch) -> (loss, logs)``; ``batch`` is a dict of tensors
  (``rainy``, ``clean`` and, where the method needs them, ``real`` or ``clean_lr``); ``logs`` maps names to
  floats.  It also defines ``PAPER_SCHEDULE`` (dict) with the paper's optimiser settings.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# name -> (module, class). Keep alphabetical within each paper.
_MODELS: dict[str, tuple[str, str]] = {
    # Cai et al., "Dual Recursive Network for Fast Image Deraining", ICIP 2019
    "drn": ("derain_lib.models.drn", "DRN"),
    # Liu et al., "Self-refining Deep Symmetry Enhanced Network for Rain Removal"
    "dsen": ("derain_lib.models.dsen", "DSEN"),
    "sdsen": ("derain_lib.models.dsen", "SDSEN"),
    # Qiu et al., "Single image de-raining algorithm based on semi-supervised learning"
    "msnet": ("derain_lib.models.semi", "MSNet"),
    # Vu & Kim, "Jointly Learning of Heavy Rain Removal and Super-Resolution in Single Images"
    "derain_sr": ("derain_lib.models.derain_sr", "DerainSR"),
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(_MODELS)


def _lookup(name: str) -> tuple[Any, type]:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    module_name, cls_name = _MODELS[name]
    module = importlib.import_module(module_name)
    return module, getattr(module, cls_name)


def model_class(name: str) -> type:
    return _lookup(name)[1]


class ConfigError(TypeError, ValueError):
    """A config key the architecture does not have (a ``TypeError``, as for a bad keyword, and a ``ValueError``,
    as for any bad value a user typed)."""


def build_model(name: str, **config: Any):
    """Build architecture ``name`` with the paper's defaults, overridden by ``config``.

    Unknown config keys raise :class:`ConfigError` (a ``TypeError``) naming the valid ones (a typo must not be
    ignored silently).
    """
    _, cls = _lookup(name)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise ConfigError(f"{name}: unknown config key(s) {unknown}; valid keys: {sorted(fields)}")
    model = cls(cls.Config(**config))
    model.arch = name
    return model


def config_dict(model) -> dict:
    """The model's config as a plain dict (what a checkpoint stores)."""
    return dataclasses.asdict(model.config)


def training_loss(name: str) -> Callable:
    """The default training loss of architecture ``name`` (the paper's)."""
    module, _ = _lookup(name)
    return module.training_loss


def paper_schedule(name: str) -> dict:
    module, _ = _lookup(name)
    return dict(module.PAPER_SCHEDULE)
