"""DerainSR (Vu & Kim) as an ONNX graph: what
:meth:`DerainSR.graph_module <derain_lib.models.derain_sr.DerainSR.graph_module>` returns for :mod:`derain_lib.export`.

Two inputs when the model uses MSER guidance (``DerainSR.graph_inputs``): the image and its MSER guidance map
``(B, 1, H, W)``.  MSER is OpenCV code, not a tensor op, so it stays outside the graph
(:func:`derain_lib.mser.mser_guidance` computes it, as the model does).  Both inputs are padded to a multiple of
``tile_multiple`` without a Python branch (:func:`~derain_lib.models.graph_ops.reflect_pad`), so sides must be at least
``tile_multiple`` pixels.
"""
from __future__ import annotations

import torch
from torch import nn

from .graph_ops import reflect_pad

__all__ = ["DerainSRGraph"]


class DerainSRGraph(nn.Module):
    """``image (B, 3, H, W)[, guidance (B, 1, H, W)] -> (B, 3, scale*H, scale*W)``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2:]
        mult = m.tile_multiple
        stages = m.decompose(reflect_pad(x, mult), reflect_pad(guide, mult) if guide is not None else None)
        fused, _ = m.fusion([stages[k] for k in m.candidates])
        return m.refine(fused)[..., : m.scale * h, : m.scale * w]
