"""DRN: Dual Recursive Network for fast image deraining.

Cai, Li, Ren, Wang, "Dual Recursive Network for Fast Image Deraining", ICIP 2019
(official code: github.com/csdwren/DRN).

The network is *recursive twice* (Sec. 2, Fig. 2 of the paper):

* **outer recursion over stages** (Sec. 2.1, Eq. 1): stage ``t`` sees the rainy image ``y`` and its own
  previous estimate and predicts a residual,

      x^t = y + f_out(f_rec(f_in(concat(y, x^{t-1})))),     x^0 = y,   t = 1..T  (T = 7)

  and *every stage uses the same weights*;
* **inner recursion inside a stage** (Sec. 2.2): ``f_rec`` applies the same pair of residual blocks
  ``R`` times (R = 7), again with shared weights.

So the unfolded network is T * (2 + 4R) = 210 convolutions deep but has only the parameters of one stage:
``f_in`` (3x3 conv 6->16 + ReLU), two ResBlocks (each conv-ReLU-conv-ReLU, added to its input, then ReLU)
and ``f_out`` (3x3 conv 16->3), all with bias: 880 + 4 * 2320 + 435 = **10,595 parameters**, the figure of the
paper's Table 1.  (The text says "a 4-layer ResNet"; the released code and the parameter count agree on two
ResBlocks of two convolutions, i.e. four 16->16 convolutions, which is what is built here.)

Loss (Sec. 2.3, Eq. 2-3): negative SSIM on every stage, weighted, ``L = -sum_t lambda_t SSIM(x^t, x_gt)`` with
lambda = (0.1, 0.2, ..., 0.6, 1.7) for T = 7; :func:`stage_weights` generalises it to any T.

Module and state-dict names follow the official code (``conv0``, ``res_conv1``, ``res_conv2``, ``conv``), so a
state dict of the released ``DRN`` model maps onto this one key for key.

Speed: in eval mode without autograd, :meth:`DRN.forward` takes :meth:`DRN._forward_fast` (the same function,
arranged for the CPU: channels-last memory, the y-part of ``f_in`` computed once per image, ReLU and sums fused
into oneDNN convolutions that write into three reused buffers, no per-stage concatenation).
``lab/benchmarks/bench_drn.py`` times it (and ``derain()``) against the authors' forward written op for op
(:mod:`derain_lib.models.drn_reference`) and checks that the outputs agree within 1e-4.

ONNX export: :meth:`DRN.graph_module` (:mod:`derain_lib.models.drn_graph`) holds :meth:`DRN.forward_reference`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DRNConfig:
    """Paper defaults (Sec. 3.1): T = 7 stages, R = 7 recursions of the ResBlock pair, 16 features."""

    stages: int = 7            # T, outer (stage) recursions, weights shared across stages (Eq. 1)
    recursions: int = 7        # R, inner recursions of the two ResBlocks inside each stage (Sec. 2.2)
    features: int = 16         # channels of every hidden feature map
    in_channels: int = 3       # RGB
    fast_inference: bool = True  # use the fused CPU path in eval/no-grad mode (same numbers, see _forward_fast)


def stage_weights(T: int) -> list[float]:
    """Per-stage loss weights lambda_1..lambda_T (paper Eq. 3).

    The paper gives (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.7) for T = 7: intermediate stages get small weights rising
    linearly, the last stage a dominant one.  For other T we keep that shape: the T-1 intermediate weights rise
    linearly from 0.6/(T-1) to 0.6 (``lambda_t = 0.6 t / (T-1)``), the last stage keeps 1.7.  For T = 7 this is
    exactly the paper's list; for T = 1 it is ``[1.7]``.
    """
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if T == 1:
        return [1.7]
    return [round(0.6 * t / (T - 1), 10) for t in range(1, T)] + [1.7]


_MKLDNN_FUSED = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise_")
_PAD, _ONE = [1, 1], [1, 1]


def _conv_sum_(out: torch.Tensor, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
               relu: bool) -> torch.Tensor:
    """``out <- act(out + conv3x3(x; w, b))`` in place, one oneDNN convolution with a sum (+ ReLU) post-op."""
    return torch.ops.mkldnn._convolution_pointwise_.binary(
        out, x, w, b, _PAD, _ONE, _ONE, 1, "add", 1.0, "relu" if relu else None, [], None)


class DRN(nn.Module):
    """Dual Recursive Network (Cai et al., ICIP 2019), see the module docstring for the equations."""

    Config = DRNConfig
    scale = 1          # pure deraining, output size = input size
    tile_multiple = 1  # only 3x3 stride-1 padded convolutions: any H, W works without padding
    graph_inputs = ("image",)  # inputs of the exported graph (derain_lib.export), in order
    graph_min_side = 1         # smallest image side the exported graph accepts

    def __init__(self, cfg: DRNConfig | None = None):
        super().__init__()
        cfg = cfg or DRNConfig()
        if cfg.stages < 1 or cfg.recursions < 0 or cfg.features < 1:
            raise ValueError(f"invalid DRN config {cfg}")
        self.config = cfg
        c, f = cfg.in_channels, cfg.features
        # f_in: concat(y, x^{t-1}) (2c channels) -> f features
        self.conv0 = nn.Sequential(nn.Conv2d(2 * c, f, 3, 1, 1), nn.ReLU())
        # f_rec: two ResBlocks (conv-ReLU-conv-ReLU, + input, ReLU), recursed R times with shared weights
        self.res_conv1 = nn.Sequential(nn.Conv2d(f, f, 3, 1, 1), nn.ReLU(), nn.Conv2d(f, f, 3, 1, 1), nn.ReLU())
        self.res_conv2 = nn.Sequential(nn.Conv2d(f, f, 3, 1, 1), nn.ReLU(), nn.Conv2d(f, f, 3, 1, 1), nn.ReLU())
        # f_out: f features -> residual image
        self.conv = nn.Sequential(nn.Conv2d(f, c, 3, 1, 1))

    # -- reference path (training, autograd) ------------------------------------------------------------------
    def stage(self, y: torch.Tensor, x_prev: torch.Tensor) -> torch.Tensor:
        """One stage of Eq. 1: x^t = y + f_out(f_rec(f_in(concat(y, x^{t-1}))))."""
        h = self.conv0(torch.cat((y, x_prev), 1))          # (B, f, H, W)
        for _ in range(self.config.recursions):           # inner recursion (Sec. 2.2)
            h = F.relu(self.res_conv1(h) + h)
            h = F.relu(self.res_conv2(h) + h)
        return y + self.conv(h)                            # residual learning: (B, 3, H, W)

    def forward_reference(self, y: torch.Tensor) -> list[torch.Tensor]:
        """The reference function, Eq. 1 unrolled stage by stage: ``[x^1, ..., x^T]`` (autograd-capable; what
        training runs and what the ONNX graph holds)."""
        x, outs = y, []
        for _ in range(self.config.stages):                # outer recursion (Eq. 1), shared weights
            x = self.stage(y, x)
            outs.append(x)
        return outs

    # -- fast inference path ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _forward_fast(self, y: torch.Tensor, keep_stages: bool = False) -> list[torch.Tensor]:
        """Same function as :meth:`forward_reference` (within float rounding), arranged for CPU inference.

        * ``f_in`` is linear in ``concat(y, x^{t-1})``: split its kernel into ``W_y`` and ``W_x``.  With
          ``x^{t-1} = y + r^{t-1}`` (``r`` the output of ``f_out``, ``r^0 = 0``), stage ``t`` gets
          ``relu(C + conv(r^{t-1}; W_x))`` where ``C = conv(y; W_y + W_x) + b`` is computed once per image.
        * channels-last (NHWC) tensors: oneDNN convolves NHWC directly (NCHW costs layout reorders per conv).
        * oneDNN post-op fusion (``torch.ops.mkldnn._convolution_pointwise_``): ReLU and the ``+ C`` sum run inside
          the convolution, which writes into one of three buffers allocated once per call.  Fresh 16-channel
          outputs per convolution would be new multi-MB allocations, and their page faults cost about a third of
          a convolution each (``lab/benchmarks/bench_drn.py --profile``).
        * The ReLU after each ResBlock's residual add is dropped: both summands are outputs of a ReLU (>= 0), so
          the sum is already >= 0 (exact).
        """
        if y.dtype != torch.float32 or not _MKLDNN_FUSED:
            return self._forward_fast_aten(y, keep_stages)
        cl = torch.channels_last
        c = self.config.in_channels
        w0, b0 = self.conv0[0].weight, self.conv0[0].bias
        w_x = w0[:, c:].contiguous(memory_format=cl)
        w_c = (w0[:, :c] + w0[:, c:]).contiguous(memory_format=cl)       # W_y + W_x (x^0 = y)
        res = [(m.weight.contiguous(memory_format=cl), m.bias)
               for m in (self.res_conv1[0], self.res_conv1[2], self.res_conv2[0], self.res_conv2[2])]
        w_out, b_out = self.conv[0].weight.contiguous(memory_format=cl), self.conv[0].bias
        y = y.contiguous(memory_format=cl)
        const = F.conv2d(y, w_c, b0, padding=1)                            # C: (B, f, H, W)
        h = torch.empty_like(const, memory_format=cl)                      # the three working buffers
        a, o = torch.empty_like(h), torch.empty_like(h)
        outs, r = [], None                                                 # r: f_out of the previous stage
        for t in range(self.config.stages):
            if t == 0:
                torch.clamp_min(const, 0, out=h)                           # f_in(concat(y, y))
            else:
                h.copy_(const)
                _conv_sum_(h, r, w_x, None, relu=True)                     # relu(C + conv(r; W_x))
            for _ in range(self.config.recursions):
                for (wa, ba), (wb, bb) in ((res[0], res[1]), (res[2], res[3])):
                    _conv_sum_(a.zero_(), h, wa, ba, relu=True)            # a = relu(conv(h))
                    _conv_sum_(o.zero_(), a, wb, bb, relu=True).add_(h)    # o = relu(conv(a)) + h
                    h, o = o, h
            r = F.conv2d(h, w_out, b_out, padding=1)                       # f_out: r^t, x^t = y + r^t
            if keep_stages or t == self.config.stages - 1:
                outs.append((y + r).contiguous())
        return outs

    @torch.no_grad()
    def _forward_fast_aten(self, y: torch.Tensor, keep_stages: bool = False) -> list[torch.Tensor]:
        """Fallback fast path with plain ATen ops (no oneDNN post-ops; other dtypes): channels-last, the y-half
        of ``f_in`` once per image, in-place ReLU/adds."""
        c = self.config.in_channels
        w0, b0 = self.conv0[0].weight, self.conv0[0].bias
        w_y, w_x = w0[:, :c].contiguous(), w0[:, c:].contiguous()
        cl = torch.channels_last
        y = y.contiguous(memory_format=cl)
        y_part = F.conv2d(y, w_y, b0, padding=1)           # (B, f, H, W), constant over stages
        r1a, r1b = self.res_conv1[0], self.res_conv1[2]
        r2a, r2b = self.res_conv2[0], self.res_conv2[2]
        out = self.conv[0]
        x, outs = y, []
        for t in range(self.config.stages):
            h = F.conv2d(x, w_x, None, padding=1).add_(y_part).relu_()
            for _ in range(self.config.recursions):
                a = F.conv2d(h, r1a.weight, r1a.bias, padding=1).relu_()
                h = F.conv2d(a, r1b.weight, r1b.bias, padding=1).relu_().add_(h)
                a = F.conv2d(h, r2a.weight, r2a.bias, padding=1).relu_()
                h = F.conv2d(a, r2b.weight, r2b.bias, padding=1).relu_().add_(h)
            x = F.conv2d(h, out.weight, out.bias, padding=1).add_(y)
            if keep_stages or t == self.config.stages - 1:
                outs.append(x)
        return [o.contiguous() for o in outs]

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """``x``: rainy (B, 3, H, W) in [0, 1], any H and W.  Returns x^T, or (x^T, [x^1, ..., x^T])."""
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"DRN expects (B, {self.config.in_channels}, H, W), got {tuple(x.shape)}")
        fast = (self.config.fast_inference and not self.training and not torch.is_grad_enabled()
                and x.device.type == "cpu")
        outs = self._forward_fast(x, keep_stages=return_stages) if fast else self.forward_reference(x)
        return (outs[-1], outs) if return_stages else outs[-1]

    def graph_module(self) -> nn.Module:
        """The module :mod:`derain_lib.export` traces to ONNX: :class:`~derain_lib.models.drn_graph.DRNGraph`."""
        from .drn_graph import DRNGraph

        return DRNGraph(self)


def training_loss(model: DRN, batch: dict) -> tuple[torch.Tensor, dict]:
    """Paper Eq. 2-3: ``L = sum_t lambda_t * (-SSIM(x^t, x_gt))`` over all T stage outputs.

    SSIM is :func:`derain_lib.losses.ssim_torch` (Gaussian 11x11 window, sigma 1.5, as in the paper's code).
    Logs the final-stage SSIM and the weighted loss.
    """
    from derain_lib.losses import ssim_torch

    rainy, clean = batch["rainy"], batch["clean"]
    _, stages = model(rainy, return_stages=True)
    lambdas = stage_weights(len(stages))
    ssims = [ssim_torch(s, clean) for s in stages]
    loss = sum(-lam * s for lam, s in zip(lambdas, ssims))
    return loss, {"ssim_last": float(ssims[-1].detach()), "ssim_first": float(ssims[0].detach())}


# Paper Sec. 3.1 (training on RainTrainH/L): Adam, lr 1e-3, batch 16, 100x100 patches, 100 epochs,
# lr multiplied by 0.5 at epochs 30, 50 and 80.
PAPER_SCHEDULE = {
    "optimizer": "adam",
    "lr": 1e-3,
    "batch": 16,
    "patch": 100,
    "epochs": 100,
    "milestones": [30, 50, 80],
    "milestones_unit": "epochs",
    "gamma": 0.5,
    "loss": "sum_t lambda_t * (-SSIM(x^t, gt)), lambda = 0.1..0.6, 1.7 (Eq. 2-3)",
    "notes": "Cai et al. ICIP 2019, Sec. 3.1. An epoch is one pass over the 100x100 training patches cropped "
             "from the paired training set (e.g. RainTrainH, 1,800 pairs).",
}
