"""Residual channel attention block (RCAB).

Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention Networks" (RCAN), ECCV 2018,
Sec. 3.3-3.4: ``x + CA(conv(relu(conv(x))))`` where the channel attention ``CA`` rescales each channel by
``sigmoid(W_U relu(W_D GAP(f)))`` (Eq. 8-12 there).  Used by the refinement stage of Vu & Kim's joint
heavy-rain removal + super-resolution network (their Sec. 2.2).
"""
from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Squeeze (global average pooling) -> 1x1 down -> ReLU -> 1x1 up -> sigmoid -> rescale channels."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.down = nn.Conv2d(channels, hidden, 1)
        self.up = nn.Conv2d(hidden, channels, 1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel scale in (0, 1): (B, C, 1, 1)."""
        return torch.sigmoid(self.up(torch.relu(self.down(self.pool(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class RCAB(nn.Module):
    """``x + CA(conv3x3(relu(conv3x3(x))))`` (RCAN Eq. 12; no batch norm, as in RCAN)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.ca = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return x + self.ca(self.conv2(torch.relu(self.conv1(x))))


def rcab_param_count(channels: int, reduction: int = 16) -> int:
    """Closed-form parameter count of one :class:`RCAB` (for tests and docs)."""
    hidden = max(1, channels // reduction)
    convs = 2 * (9 * channels * channels + channels)
    ca = (channels * hidden + hidden) + (hidden * channels + channels)
    return convs + ca
