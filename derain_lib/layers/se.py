"""Squeeze-and-excitation channel attention (Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018).

Used by DSEN after symmetry aggregation (S-DSEN paper, Sec. 2.1): global average pooling ("squeeze"), a
bottleneck of two 1x1 convolutions (C -> C / r -> C) with ReLU and a sigmoid ("excitation"), and a per-channel
rescaling.  Parameters: ``C * C/r + C/r + C/r * C + C`` (115 for C = 10, r = 2).

Global pooling is rotation-invariant, so SE keeps the rotation equivariance of the maps it rescales.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """(B, C, H, W) -> (B, C, H, W), each channel scaled by a learned gate in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        if channels < 1 or reduction < 1 or channels // reduction < 1:
            raise ValueError(f"need channels >= reduction >= 1, got channels={channels}, reduction={reduction}")
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(-2, -1), keepdim=True)  # (B, C, 1, 1) squeeze
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))  # (B, C, 1, 1) excitation
        return x * g
