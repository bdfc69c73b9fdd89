"""Small tensor helpers shared by the models' ONNX graph adapters (the ``*_graph.py`` files beside each model)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["reflect_pad"]


def reflect_pad(x: torch.Tensor, m: int) -> torch.Tensor:
    """Pad bottom/right to a multiple of ``m`` by reflection, with no branch on the size (a graph needs one
    path for every size; a zero pad is a no-op).  Valid for sides of at least ``m`` pixels."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")
