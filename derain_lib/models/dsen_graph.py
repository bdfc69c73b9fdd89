"""DSEN / S-DSEN (Liu et al., ICIP 2019) as an ONNX graph: what :meth:`DSEN.graph_module
<derain_lib.models.dsen.DSEN.graph_module>` and :meth:`SDSEN.graph_module <derain_lib.models.dsen.SDSEN.graph_module>`
return for :mod:`derain_lib.export`.

Every p4 group convolution becomes an ordinary convolution with the expanded (rotated, orientation-rolled) filter
bank on ``(B, 4 C, H, W)`` maps, the channel layout of ``view(B, C, 4, H, W)`` (the body's ``plain_convs()``); the
S-DSEN stages are unrolled with their skip links.  The expanded filter banks are constants of the graph.  The CPU
fast path (tiled FFT convolutions, oneDNN post-ops) is a runtime trick of PyTorch, not part of the function; the ONNX
runtimes apply their own fusions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.gconv import OrientationPool

__all__ = ["ConvPair", "DSENGraph"]


class ConvPair(nn.Module):
    """The weight and bias of one plain 2D convolution, as buffers (constants of the graph)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None):
        super().__init__()
        self.register_buffer("w", w.detach().contiguous().clone())
        self.register_buffer("b", b.detach().contiguous().clone() if b is not None else None)


class DSENGraph(nn.Module):
    """DSEN (``stages == 1``) or S-DSEN (``stages`` passes of one shared ``body``) as plain 2D convolutions:
    ``image (B, 3, H, W) -> B_T (B, 3, H, W)``, any H and W."""

    def __init__(self, body: nn.Module, stages: int, kernel_size: int):
        super().__init__()
        self.stages = stages
        self.link = body.link
        self.slope = float(body.act.negative_slope)
        self.k = kernel_size
        self.pool = body.aggregate.mode if isinstance(body.aggregate, OrientationPool) else None
        self.has_agg_act = body.has_aggregation_act
        with torch.no_grad():
            head, layers, links, agg = body.plain_convs()  # agg is None for the pooling ablations
        self.head = ConvPair(*head)
        self.layers = nn.ModuleList(ConvPair(*wb) for wb in layers)
        self.links = nn.ModuleList(ConvPair(*wb) for wb in links) if links is not None else None
        self.agg = ConvPair(*agg) if agg is not None else None
        self.se, self.out = body.se, body.out
        self.c = self.layers[0].w.shape[0]  # maps per layer: 4 C for p4

    def _conv(self, x, p: ConvPair, w=None):
        return F.conv2d(x, p.w if w is None else w, p.b, padding=self.k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, self.slope)
        y, prev = x, None
        for _ in range(self.stages):
            h = act(self._conv(y, self.head))               # (B, 4C, H, W) for p4
            feats = []
            for i, layer in enumerate(self.layers):
                if self.link == "concat" and prev is not None:
                    u = self._conv(torch.cat([h, act(self._conv(prev[i], self.links[i]))], 1), layer)
                elif self.link == "concat":                  # first stage: the link half of the input is zeros
                    u = self._conv(h, layer, layer.w[:, :self.c])
                elif self.link == "add" and prev is not None:
                    u = self._conv(h + act(self._conv(prev[i], self.links[i])), layer)
                else:
                    u = self._conv(h, layer)
                h = h + act(u)                               # residual connection around each group conv
                feats.append(h)
            if self.pool is not None:                        # (B, C, 4, H, W) pooled over orientations
                g = h.reshape(h.shape[0], -1, 4, h.shape[-2], h.shape[-1])
                a = g.amax(2) if self.pool == "max" else g.mean(2)
            else:
                a = self._conv(h, self.agg)
                a = act(a) if self.has_agg_act else a
            y = y - self.out(self.se(a))                     # B_t = B_{t-1} - R
            prev = feats if self.link != "none" else None
        return y
