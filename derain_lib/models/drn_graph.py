"""DRN (Cai et al., ICIP 2019) as an ONNX graph: what :meth:`DRN.graph_module <derain_lib.models.drn.DRN.graph_module>`
returns for :mod:`derain_lib.export`.

The graph holds the model's *reference* function: T stages of R recursions, unrolled as they are
(:meth:`DRN.forward_reference <derain_lib.models.drn.DRN.forward_reference>`).  The CPU fast path (oneDNN post-ops,
reused buffers) is a runtime trick of PyTorch, not part of the function; the ONNX runtimes apply their own fusions.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["DRNGraph"]


class DRNGraph(nn.Module):
    """``image (B, 3, H, W) -> x^T (B, 3, H, W)``, any H and W."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_reference(x)[-1]
