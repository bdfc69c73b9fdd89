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

from typing import Any

import numpy as np
import torch

from .checkpoint import resolve_device
from .io import MAX_PIXELS, read_image, to_tensor, to_uint8

# Images above this many pixels are tiled automatically (about 1 MP, e.g. 1024x1024).
AUTO_TILE_PIXELS = 1024 * 1024
DEFAULT_TILE = 512
# Refuse outputs (after upscaling) above this size: they could not be held in memory anyway.
MAX_OUTPUT_PIXELS = 4 * MAX_PIXELS


def _model_device(model) -> torch.device:
    if not isinstance(model, torch.nn.Module):  # a backend runner: ONNX Runtime / OpenVINO on the CPU
        return torch.device("cpu")
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)  # the last tile ends exactly at the border
    return starts


@torch.inference_mode()
def run_model(model, x: torch.Tensor, tile: int | None = None, overlap: int = 32) -> torch.Tensor:
    """Run ``model`` (a module or a :class:`~derain_lib.backends.Runner`) on (B, 3, H, W) in [0, 1]; with ``tile``
    set, in overlapping tiles. Returns the output."""
    scale = int(getattr(model, "scale", 1))
    dev = _model_device(model)
    if tile is None or (x.shape[-2] <= tile and x.shape[-1] <= tile):
        return model(x.to(dev)).float().cpu()
    multiple = int(getattr(model, "tile_multiple", 1))
    tile = max(multiple, tile // multiple * multiple)
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    b, _, h, w = x.shape
    out = torch.zeros(b, 3, h * scale, w * scale)
    count = torch.zeros(1, 1, h * scale, w * scale)
    stride = tile - overlap
    margin = overlap // 2
    for y in _starts(h, tile, stride):
        for x0 in _starts(w, tile, stride):
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


def derain(image: Any, model: torch.nn.Module, tile: int | None = None, overlap: int = 32,
           device: str | torch.device = "auto", max_pixels: int = MAX_PIXELS, backend: str = "torch",
           threads: int | None = None) -> np.ndarray:
    """Derain one image (path, PIL image or array) -> uint8 (H*scale, W*scale, 3).

    ``tile=None`` tiles automatically above ~1 MP (512-pixel tiles); ``tile=0`` never tiles.  ``device``:
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
    if tile is None:
        tile = DEFAULT_TILE if h * w > AUTO_TILE_PIXELS else 0
    was_training = model.training
    model.eval()
    try:
        runner = model if backend == "torch" and threads is None else get_runner(model, backend, threads)
        out = run_model(runner, to_tensor(img), tile=tile or None, overlap=overlap)
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
