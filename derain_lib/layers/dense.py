"""Dense block (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017).

Each layer sees the concatenation of the block input and all earlier layer outputs (DenseNet Eq. 2); a 1x1
transition brings the concatenation back to the input width so blocks can be stacked, and a local residual
(as in the residual dense block of Zhang et al., CVPR 2018) keeps a stack of them easy to train from scratch.
Used by the rain-streak branch of the ATS model in Vu & Kim (Sec. 2.1), which is built from "two dense blocks
and three 3x3 convolutions".
"""
from __future__ import annotations

import torch
from torch import nn


class DenseBlock(nn.Module):
    """``x + transition(concat[x, l1, l2, ..., ln])`` with ``l_k = relu(conv3x3(concat[x, l1..l_{k-1}]))``."""

    def __init__(self, channels: int, growth: int = 16, layers: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv2d(channels + k * growth, growth, 3, padding=1) for k in range(layers)
        )
        self.transition = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        feats = [x]
        for conv in self.layers:
            feats.append(torch.relu(conv(torch.cat(feats, dim=1))))  # (B, growth, H, W)
        return x + self.transition(torch.cat(feats, dim=1))


def dense_block_param_count(channels: int, growth: int = 16, layers: int = 4) -> int:
    """Closed-form parameter count of one :class:`DenseBlock`."""
    n = sum(9 * (channels + k * growth) * growth + growth for k in range(layers))
    return n + (channels + layers * growth) * channels + channels
