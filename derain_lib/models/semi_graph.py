"""MSNet (Qiu et al.) as an ONNX graph: what :meth:`MSNet.graph_module <derain_lib.models.semi.MSNet.graph_module>`
returns for :mod:`derain_lib.export`.

The model's forward, with its pad to a multiple of ``tile_multiple`` (4 with the paper's 3 scales) written without a
Python branch (:func:`~derain_lib.models.graph_ops.reflect_pad`): a graph has one path for every size, so sides must
be at least ``tile_multiple`` pixels (``MSNet.graph_min_side``).
"""
from __future__ import annotations

import torch
from torch import nn

from .graph_ops import reflect_pad

__all__ = ["MSNetGraph"]


class MSNetGraph(nn.Module):
    """``image (B, 3, H, W) -> restored (B, 3, H, W)``, H and W at least ``model.tile_multiple``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2:]
        xp = reflect_pad(x, m.tile_multiple)
        rain, _ = m.derain_units(m.semi_matching(xp))
        return (xp + rain)[..., :h, :w]
