"""Inference on images of any size: overlapping tiles for big ones, ``scale`` for super-resolution models.

Tiling follows SwinIR's ``main_test_swinir.py::test()`` (tiles of ``tile`` pixels overlapping by ``overlap``,
outputs accumulated into a sum and a count), with one change: a tile contributes only its interior, i.e. it
drops a margin of ``overlap // 2`` pixels on every side that is not an image border.  Those margins are where
a tile saw zero padding instead of its neighbours, so plain averaging blends wrong pixels in; with the margins
dropped the result equals the whole-image output exactly whenever ``overlap // 2`` covers the model's receptive
field (tested), and is a seam-free approximation otherwise.  Memory is bounded by the tile, not the image.
Every model pads and crops inside its own ``forward``, so any size works without tiling too.

``backend`` picks what runs the model (:mod:`derain_lib.backends`): PyTorch, or its exported ONNX graph in ONNX
Runtime or OpenVINO; tiling is the same for all three, since each is a callable on image tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .io import MAX_PIXELS, read_image, to_tensor, to_uint8
from .runtime import resolve_device

__all__ = ["AUTO_TILE_PIXELS", "DEFAULT_OVERLAP", "DEFAULT_TILE", "MAX_OUTPUT_PIXELS", "TilePlan", "derain",
           "plan_tiles", "run_model", "stage_outputs"]

# The default tiling policy, the one every caller (derain(), the CLI, the demo) goes through plan_tiles() for:
# images above AUTO_TILE_PIXELS (about 1 MP, e.g. 1024x1024) run in DEFAULT_TILE-pixel tiles overlapping by
# DEFAULT_OVERLAP pixels; smaller ones in one pass.  A model whose output depends on the whole image (DSEN's
# squeeze-excitation pools over it) gives slightly different pixels tiled and whole, so one policy for all.
AUTO_TILE_PIXELS = 1024 * 1024
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32
# Refuse outputs (after upscaling) above this size: they could not be held in memory anyway.
MAX_OUTPUT_PIXELS = 4 * MAX_PIXELS


@dataclass(frozen=True)
class TilePlan:
    """How an ``height`` x ``width`` input is run: in one pass (``tile == 0``) or in square tiles of ``tile``
    pixels, overlapping by ``overlap``, with top-left corners ``origins`` ((y, x) pairs, rows first)."""

    height: int
    width: int
    tile: int
    overlap: int
    origins: tuple[tuple[int, int], ...]

    @property
    def tiled(self) -> bool:
        return self.tile > 0

    @property
    def pixels(self) -> int:
        """Input pixels the model processes: the sum of the tile areas (more than H*W when tiles overlap)."""
        if not self.tiled:
            return self.height * self.width
        return len(self.origins) * min(self.tile, self.height) * min(self.tile, self.width)

    def describe(self) -> str:
        """One line for people: "512 px tiles, 32 px overlap" or "whole image"."""
        return f"{self.tile} px tiles, {self.overlap} px overlap" if self.tiled else "whole image"


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)  # the last tile ends exactly at the border
    return starts


def plan_tiles(height: int, width: int, model: Any = None, tile: int | None = None,
               overlap: int = DEFAULT_OVERLAP) -> TilePlan:
    """The tiles an ``height`` x ``width`` input is run in.

    ``tile=None``: the default policy (``DEFAULT_TILE``-pixel tiles above ``AUTO_TILE_PIXELS`` pixels, else the
    whole image); ``tile=0``: never tile; ``tile=N``: N-pixel tiles, rounded down to the model's
    ``tile_multiple`` (``model`` may be None: multiple 1).  An image that fits in one tile runs whole.
    """
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if tile is None:
        tile = DEFAULT_TILE if height * width > AUTO_TILE_PIXELS else 0
    tile, overlap = int(tile), int(overlap)
    if tile < 0 or overlap < 0:
        raise ValueError(f"tile ({tile}) and overlap ({overlap}) must not be negative")
    if tile == 0 or (height <= tile and width <= tile):
        return TilePlan(height, width, 0, 0, ((0, 0),))
    multiple = int(getattr(model, "tile_multiple", 1))
    tile = max(multiple, tile // multiple * multiple)
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    stride = tile - overlap
    origins = tuple((y, x) for y in _starts(height, tile, stride) for x in _starts(width, tile, stride))
    return TilePlan(height, width, tile, overlap, origins)


def _model_device(model) -> torch.device:
    if not isinstance(model, torch.nn.Module):  # a backend runner: ONNX Runtime / OpenVINO on the CPU
        return torch.device("cpu")
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def run_model(model, x: torch.Tensor, tile: int | None = None, overlap: int = DEFAULT_OVERLAP,
              plan: TilePlan | None = None) -> torch.Tensor:
    """Run ``model`` (a module or a :class:`~derain_lib.backends.Runner`) on (B, 3, H, W) in [0, 1]; with ``tile``
    set (None or 0: the whole image), in overlapping tiles; ``plan`` (from :func:`plan_tiles`) overrides both.
    Returns the output."""
    scale = int(getattr(model, "scale", 1))
    dev = _model_device(model)
    b, _, h, w = x.shape
    if plan is None:
        plan = plan_tiles(h, w, model, tile or 0, overlap)
    elif (plan.height, plan.width) != (h, w):
        raise ValueError(f"the plan is for {plan.width}x{plan.height}, the input is {w}x{h}")
    if not plan.tiled:
        return model(x.to(dev)).float().cpu()
    tile, margin = plan.tile, plan.overlap // 2
    out = torch.zeros(b, 3, h * scale, w * scale)
    count = torch.zeros(1, 1, h * scale, w * scale)
    for y, x0 in plan.origins:
        patch = x[..., y:y + tile, x0:x0 + tile].to(dev)
        res = model(patch).float().cpu()
        th, tw = patch.shape[-2], patch.shape[-1]
        # interior of this tile, in input pixels: keep the margin only where it touches the image border
        top = 0 if y == 0 else margin
        left = 0 if x0 == 0 else margin
        bottom = th if y + th >= h else th - margin
        right = tw if x0 + tw >= w else tw - margin
        r = res[..., top * scale:bottom * scale, left * scale:right * scale]
        ys, xs = (y + top) * scale, (x0 + left) * scale
        out[..., ys:ys + r.shape[-2], xs:xs + r.shape[-1]] += r
        count[..., ys:ys + r.shape[-2], xs:xs + r.shape[-1]] += 1
    return out / count


def derain(image: Any, model: torch.nn.Module, tile: int | None = None, overlap: int = DEFAULT_OVERLAP,
           device: str | torch.device = "auto", max_pixels: int = MAX_PIXELS, backend: str = "torch",
           threads: int | None = None) -> np.ndarray:
    """Derain one image (path, PIL image or array) -> uint8 (H*scale, W*scale, 3).

    ``tile`` and ``overlap`` go to :func:`plan_tiles`: ``tile=None`` is the default policy (512-pixel tiles above
    about 1 MP), ``tile=0`` never tiles.  ``device``:
    "auto" keeps the model where it is (CUDA if it was loaded with device="auto" on a GPU machine).
    ``backend``: "torch" (default), "onnxruntime" or "openvino" (CPU only; the model is exported to ONNX once
    and the session cached, see :mod:`derain_lib.backends`).  ``threads``: CPU threads for this call (None: the
    current ``torch.get_num_threads()``).
    """
    from .backends import get_runner, require_backend

    require_backend(backend)  # an unknown or missing backend fails before the image is read
    img = read_image(image, max_pixels=max_pixels)
    scale = int(getattr(model, "scale", 1))
    h, w = img.shape[:2]
    if h * w * scale * scale > MAX_OUTPUT_PIXELS:
        raise ValueError(f"output would be {w * scale}x{h * scale}; over the limit of {MAX_OUTPUT_PIXELS / 1e6:.0f} MP")
    if str(device) != "auto":
        if backend != "torch" and resolve_device(device).type != "cpu":
            raise ValueError(f"backend {backend!r} runs on the CPU; got device={device!r}")
        model = model.to(resolve_device(device))
    plan = plan_tiles(h, w, model, tile, overlap)
    was_training = model.training
    model.eval()
    try:
        runner = model if backend == "torch" and threads is None else get_runner(model, backend, threads)
        out = run_model(runner, to_tensor(img), plan=plan)
    finally:
        model.train(was_training)
    return to_uint8(out)


@torch.inference_mode()
def stage_outputs(image: Any, model: torch.nn.Module) -> list[np.ndarray]:
    """Per-stage outputs of a multi-stage model (``return_stages=True``) as uint8 images."""
    img = read_image(image)
    x = to_tensor(img).to(_model_device(model))
    model.eval()
    _, aux = model(x, return_stages=True)
    if not isinstance(aux, (list, tuple)):
        raise TypeError(f"{type(model).__name__} does not return a list of stage outputs")
    return [to_uint8(s.float().cpu()) for s in aux]
