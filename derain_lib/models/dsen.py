"""DSEN and S-DSEN: Liu, Ye, Li, Shi, Liu, Sun, "Self-refining Deep Symmetry Enhanced Network for Rain Removal",
ICIP 2019 (arXiv:1811.04761).

Idea: rain streaks at different angles are rotated copies of each other, but a CNN must learn each angle
separately.  DSEN extracts *rotation-equivariant* features with p4 group convolutions (Sec. 2.1, Eq. 1-3, see
:mod:`derain_lib.layers.gconv`), aggregates the four orientations, and predicts a rain layer ``R``; the
restored image is ``B = O - R``.  S-DSEN (Sec. 2.2) re-applies the same network to its own output for several
stages, passing each layer's features of stage ``t-1`` to stage ``t`` through an intermediate group conv
("skip concatenation"); every stage is supervised with an L2 loss.

Architecture (DSEN, paper defaults; parameter counts in brackets, total **50,958** as in the paper's Table 1)::

    O (B, 3, H, W)
      P4ConvZ2 3 -> 10, 5x5, LeakyReLU(0.2)                   (B, 10, 4, H, W)   [    760]
      4 x [h + LeakyReLU(P4ConvP4 10 -> 10, 5x5)(h)]          (B, 10, 4, H, W)   [4 x 10,010]
      symmetry aggregation: 5x5 conv, 4*10 -> 10, LeakyReLU  (B, 10, H, W)      [ 10,010]
      squeeze-and-excitation, reduction 2                     (B, 10, H, W)      [    115]
      1x1 conv 10 -> 3                                        R (B, 3, H, W)     [     33]
    B = O - R

Every convolution has a bias (one per regular channel for group convs); that is the reading that gives
exactly 50,958.

Symmetry aggregation, a choice the paper leaves open: a plain 5x5 conv over the 40 stacked orientation maps
(``aggregation="conv_free"``) has 10,010 parameters but is *not* equivariant, so DSEN's rain layer would not
rotate with the image.  The default ``aggregation="conv"`` keeps the same 10,010 parameters but uses their
average over the four p4 rotations (rotate the filter, roll its orientation axis, average: the Reynolds
projection), which maps p4 features to rotation-equivariant planes; the whole DSEN is then exactly equivariant
(tested).  The price: the averaged filter has 2,500 effective degrees of freedom instead of 10,000.
``aggregation="max"|"avg"`` replace the conv by orientation pooling (DSEN_maxpool / DSEN_avgpool, Table 1).

Cost: DSEN has the parameters of a CNN with twice the channels but carries 4 x 10 = 40 maps per layer, so it
needs about 3.4x the multiply-adds per pixel of its CNN counterpart (173k vs 52k); S-DSEN with the concat link
costs about 2.9x DSEN per stage (8 stages: ~23x DSEN).  Squeeze-and-excitation pools over the whole image, so
tiled inference differs slightly from whole-image inference; prefer ``tile=None`` where memory allows.

Variants (all config fields; the registry names stay ``dsen`` and ``sdsen``):

* ``backbone="cnn"``: the CNN counterpart: plain convs with the channels doubled (20), aggregation 5x5 20 -> 20,
  SE(20), 1x1 20 -> 3: 52,113 parameters ("about 52k" in the paper).
* ``se=False``: DSEN w/o SE.
* S-DSEN ``link="concat"`` (paper, skip concatenation), ``"add"`` (the additive link, "+SC" variant) or
  ``"none"`` (plain recurrence: MDSEN, or MCNN with ``backbone="cnn"``; MCNN+SR is ``backbone="cnn"`` with
  ``link="concat"``).

ONNX export: :meth:`DSEN.graph_module` / :meth:`SDSEN.graph_module` (:mod:`derain_lib.models.dsen_graph`): the
group convolutions as plain convolutions with the expanded filter banks (:meth:`_Body.plain_convs`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import fftconv
from ..layers.gconv import N_ROT, OrientationPool, P4ConvBase, P4ConvP4, P4ConvZ2
from ..layers.se import SqueezeExcitation

_MKLDNN_FUSED = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise_")

__all__ = ["DSEN", "PAPER_SCHEDULE", "SDSEN", "SymmetryAggregation", "init_sdsen_from_dsen", "training_loss"]


class SymmetryAggregation(P4ConvBase):
    """p4 -> plane aggregation: (B, C_in, 4, H, W) -> (B, C_out, H, W), a 5x5 conv over the ``4 * C_in``
    orientation maps whose filter is averaged over the p4 rotations, so the output rotates with the input
    (``agg(rot_p4(x)) == rot(agg(x))``).  Same parameter count as the unconstrained conv."""

    in_orientations = N_ROT

    def _expand(self, weight: torch.Tensor) -> torch.Tensor:
        # mean_r rot^r(roll(W, r, orientation axis)): invariant under the p4 action on filters.
        sym = sum(torch.rot90(torch.roll(weight, shifts=r, dims=2), r, dims=(-2, -1)) for r in range(N_ROT)) / N_ROT
        c_out, c_in, s, k1, k2 = sym.shape
        return sym.reshape(c_out, c_in * s, k1, k2)  # (C_out, C_in * 4, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, s, h, w = x.shape
        y = F.conv2d(x.reshape(b, c * s, h, w), self.filter_bank(), padding=self.kernel_size // 2)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)  # (B, C_out, H, W)


class _FreeAggregation(nn.Module):
    """The unconstrained reading: a plain conv over the stacked orientation maps (not equivariant)."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in * N_ROT, c_out, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.flatten(1, 2))  # (B, C*4, H, W) -> (B, C_out, H, W)


_MAX_KEPT_SPECTRA_BYTES = 256 * 2 ** 20  # per spectrum (4 are alive at a time): images up to about 0.9 MP


def _keep_spectra(plan: fftconv.TilePlan, b: int, c: int) -> bool:
    """Whether S-DSEN keeps whole-image layer-input spectra for the next stage (fixed memory rule: each at most
    256 MiB, i.e. about 0.9 megapixels with 40 maps; larger images transform every input per chunk)."""
    return b * plan.ny * plan.nx * (plan.tile // 2 + 1) * plan.tile * 2 * c * 4 <= _MAX_KEPT_SPECTRA_BYTES


def _version(t: torch.Tensor) -> int:
    """The tensor's in-place version counter; -1 for inference tensors (``torch.inference_mode``, e.g.
    ``derain()``), which have none: there only the identity of the returned feature tensor is checked."""
    return -1 if t.is_inference() else t._version


def _attached_spectrum(t: torch.Tensor, plan: fftconv.TilePlan):
    """The spectrum :meth:`_Body._forward_fft_layers` attached to feature ``t``, if still valid for ``plan``."""
    got = t.__dict__.get("_fft_spectrum") if hasattr(t, "__dict__") else None
    if got is None or got[0] != plan or got[1] != _version(t):
        return None
    return got[2]


class _FFTWorkspace:
    """Buffers recycled across the FFT layers of one image size: spectra (at most 4 spare) and the link
    output (an internal padded buffer, never returned)."""

    def __init__(self, key):
        self.key = key
        self.spare: list[torch.Tensor] = []
        self.link = None

    def take_spectrum(self):
        return self.spare.pop() if self.spare else None

    def give_spectrum(self, s: torch.Tensor) -> None:
        if len(self.spare) < 4:
            self.spare.append(s)

    def link_buffer(self) -> torch.Tensor:
        plan, b, c, dtype = self.key
        if self.link is None:
            self.link = plan.empty(b, c, dtype)
        return self.link


class _Body(nn.Module):
    """One DSEN pass: image -> (rain layer R, per-layer features, aggregated features).

    ``link`` selects how features of the previous stage enter (S-DSEN, Sec. 2.2): ``"none"`` (DSEN, MDSEN),
    ``"concat"`` (intermediate conv, then concatenated with the layer's input), ``"add"`` (intermediate conv,
    then added to the layer's input).
    """

    def __init__(self, cfg: DSEN.Config, link: str = "none"):
        super().__init__()
        if cfg.backbone not in ("p4", "cnn"):
            raise ValueError(f"backbone must be 'p4' or 'cnn', got {cfg.backbone!r}")
        if cfg.aggregation not in ("conv", "conv_free", "max", "avg"):
            raise ValueError(f"aggregation must be conv|conv_free|max|avg, got {cfg.aggregation!r}")
        if link not in ("none", "concat", "add"):
            raise ValueError(f"link must be 'none', 'concat' or 'add', got {link!r}")
        if cfg.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {cfg.kernel_size}")
        self.link = link
        self.p4 = cfg.backbone == "p4"
        k = cfg.kernel_size
        c = cfg.channels if self.p4 else cfg.channels * cfg.cnn_width
        c_layer_in = 2 * c if link == "concat" else c
        if self.p4:
            self.head = P4ConvZ2(3, c, k)
            self.layers = nn.ModuleList([P4ConvP4(c_layer_in, c, k) for _ in range(cfg.num_layers)])
            self.links = nn.ModuleList([P4ConvP4(c, c, k) for _ in range(cfg.num_layers)]) if link != "none" else None
            if cfg.aggregation == "conv":
                self.aggregate = SymmetryAggregation(c, c, k)
            elif cfg.aggregation == "conv_free":
                self.aggregate = _FreeAggregation(c, c, k)
            else:
                self.aggregate = OrientationPool(cfg.aggregation)
            c_agg = c
        else:
            if cfg.aggregation not in ("conv", "conv_free"):
                raise ValueError(f"the CNN counterpart has no orientation axis to pool ({cfg.aggregation!r})")
            pad = k // 2
            self.head = nn.Conv2d(3, c, k, padding=pad)
            self.layers = nn.ModuleList([nn.Conv2d(c_layer_in, c, k, padding=pad) for _ in range(cfg.num_layers)])
            self.links = nn.ModuleList([nn.Conv2d(c, c, k, padding=pad) for _ in range(cfg.num_layers)]) \
                if link != "none" else None
            self.aggregate = nn.Conv2d(c, c, k, padding=pad)
            c_agg = c
        self.se = SqueezeExcitation(c_agg, cfg.se_reduction) if cfg.se else nn.Identity()
        self.out = nn.Conv2d(c_agg, 3, 1)
        self.act = nn.LeakyReLU(cfg.negative_slope)
        # Start near R = 0 (B = O): the network first learns the residual rain, not the whole image.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        self.has_aggregation_act = cfg.aggregation in ("conv", "conv_free") or not self.p4

    # -- fast inference path (eval, no autograd, float32 on the CPU) ----------------------------------------------
    def fast_ok(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward_fast` applies: inference (eval mode, no autograd) on float32 CPU tensors with a
        convolutional aggregation (the pooling ablations keep the reference path)."""
        return (not self.training and not torch.is_grad_enabled() and x.dtype == torch.float32
                and x.device.type == "cpu" and _MKLDNN_FUSED and not isinstance(self.aggregate, OrientationPool))

    def plain_convs(self):
        """Every convolution as (weight, bias) of a plain 2D conv on (B, C * 4, H, W) maps (p4: the expanded
        filter bank, channel index ``c * 4 + r`` as in ``view(B, C, 4, H, W)``; bias repeated per orientation),
        weights channels-last: ``(head, layers, links or None, aggregation)``, the aggregation None for the
        orientation-pooling ablations (no convolution there).  Used by :meth:`forward_fast` and the ONNX graph
        (:mod:`derain_lib.models.dsen_graph`)."""
        cl = torch.channels_last

        def plain(m):
            if isinstance(m, P4ConvBase):
                w = m.filter_bank()
                b = m.bias
                if b is not None and not isinstance(m, SymmetryAggregation):
                    b = b.repeat_interleave(N_ROT)
            else:
                m = m.conv if isinstance(m, _FreeAggregation) else m
                w, b = m.weight, m.bias
            return w.contiguous(memory_format=cl), b

        layers = [plain(m) for m in self.layers]
        links = [plain(m) for m in self.links] if self.links is not None else None
        agg = None if isinstance(self.aggregate, OrientationPool) else plain(self.aggregate)
        return plain(self.head), layers, links, agg

    def _fft_plan(self, x: torch.Tensor) -> fftconv.TilePlan | None:
        """The tiling for the FFT path, or None where :func:`fftconv.use_fft` says direct convolution: decided
        once per forward on the smallest FFT candidate (a link, ``C -> C`` maps with ``C`` = 4 x regular
        channels for p4), so every layer and link takes the same route; the head (3 input channels) and the
        aggregation (``C -> C / 4``) are always direct (oneDNN)."""
        k = self.head.kernel_size if isinstance(self.head, P4ConvBase) else self.head.kernel_size[0]
        c = self.layers[0].out_channels * N_ROT if self.p4 else self.layers[0].out_channels
        h, w = x.shape[-2:]
        return fftconv.TilePlan(h, w, k) if fftconv.use_fft(c, c, k, h, w) else None

    def _fft_spectra(self, plan: fftconv.TilePlan, layers, links):
        """Filter spectra of the layers (split into the ``h`` and link halves for ``link="concat"``) and links,
        computed once and cached on the module until a parameter changes (keyed on data pointers and versions,
        so ``load_state_dict`` / optimiser steps invalidate it)."""
        key = (plan.tile, tuple((q.data_ptr(), q._version) for q in self.parameters()))
        cache = self.__dict__.get("_fft_cache")
        if cache is not None and cache[0] == key:
            return cache[1]
        spec = fftconv.spectrum_matrix
        c = layers[0][0].shape[0]
        if self.link == "concat":
            lay = [[spec(w[:, :c], plan.tile), spec(w[:, c:], plan.tile)] for w, _ in layers]
        else:
            lay = [[spec(w, plan.tile)] for w, _ in layers]
        lnk = [spec(w, plan.tile) for w, _ in links] if links is not None else None
        object.__setattr__(self, "_fft_cache", (key, (lay, lnk)))
        return lay, lnk

    def _forward_fft_layers(self, h, prev, layers, links, plan, slope):
        """The residual group-conv layers (and links) by tiled FFT (:mod:`derain_lib.layers.fftconv`) on padded
        channels-last buffers; ``conv(cat(h, link))`` is summed in the frequency domain.  Returns the features as
        (B, C * 4, H, W) views into their padded buffers (the next stage finds the buffers again).

        Spectrum reuse (``link="concat"``): the input of layer ``i + 1`` is the feature ``h_i`` that the next
        stage's link ``i`` convolves again, so its tile spectrum (:func:`fftconv.spectrum`) is computed once
        and attached to the returned feature (``_fft_spectrum``, with the tensor version it was taken at);
        the next stage uses it when it gets that very tensor back unchanged (under ``torch.inference_mode``,
        which keeps no version counters: that very tensor), else transforms ``prev[i]`` anew.  Spectra a link has
        consumed, and the link output buffer, are recycled from call to call (:meth:`_fft_workspace`): no large
        allocations, no page faults."""
        lay, lnk = self._fft_spectra(plan, layers, links)
        conv = fftconv.conv2d_padded
        keep = self.link == "concat" and _keep_spectra(plan, h.shape[0], h.shape[1])
        ws = self._fft_workspace(plan, h.shape[0], h.shape[1], h.dtype)
        hb = plan.pad_nchw(h)
        feats = []
        try:
            for i, (_, b) in enumerate(layers):
                hin = hb
                if keep and i > 0:  # h_{i-1}: transformed once, for this layer and the next stage's link
                    hin = fftconv.spectrum(hb, plan, out=ws.take_spectrum())
                    f = feats[-1]
                    f.__dict__["_fft_spectrum"] = (plan, _version(f), hin)
                if self.link != "none" and prev is not None:
                    src = _attached_spectrum(prev[i], plan)
                    if src is None:
                        src = plan.buffer_of(prev[i])
                        src = plan.pad_nchw(prev[i]) if src is None else src
                    lk = conv([src], [lnk[i]], plan, links[i][1], slope, out=ws.link_buffer())
                    if src.dim() == 5:  # consumed: detach it from prev[i] and recycle it
                        del prev[i].__dict__["_fft_spectrum"]
                        ws.give_spectrum(src)
                    if self.link == "concat":
                        hb = conv([hin, lk], lay[i], plan, b, slope, residual=hb)
                    else:  # "add": conv(h + link)
                        hb = conv([hb + lk], lay[i], plan, b, slope, residual=hb)
                else:  # no link, or the first stage (the concatenated link half is zeros)
                    hb = conv([hin], lay[i][:1], plan, b, slope, residual=hb)
                feats.append(plan.interior(hb))
        finally:
            self.__dict__["_fft_ws"] = ws
        return feats

    def _fft_workspace(self, plan, b, c, dtype) -> _FFTWorkspace:
        """This module's recycled FFT buffers for this image size (taken out while a forward uses them, so a
        concurrent forward builds its own)."""
        ws = self.__dict__.pop("_fft_ws", None)
        key = (plan, b, c, dtype)
        return ws if ws is not None and ws.key == key else _FFTWorkspace(key)

    @torch.no_grad()
    def forward_fast(self, x: torch.Tensor, prev: list[torch.Tensor] | None = None):
        """Same function as :meth:`forward` (within float rounding), arranged for speed.  Images of at least one
        FFT tile (``fftconv.use_fft``; 28 x 28 for 5 x 5 filters) with enough channels run the residual layers
        and links as tiled FFT convolutions (:meth:`_forward_fft_layers`); otherwise, and always for the head and
        the aggregation, oneDNN: channels-last 4D maps (``B, C * 4, H, W``) throughout, bias + LeakyReLU fused
        into each convolution, and the skip concatenation ``conv(cat(h, link))`` computed as
        ``conv(h; W_h) + conv(link; W_l)`` with the sum fused into the second convolution (no concatenated copy;
        at the first stage the link half is zero and is skipped).  Returns the rain layer, the per-layer features
        as 4D channels-last maps (for the next stage's links) and the aggregated maps."""
        slope = [self.act.negative_slope]
        (w_head, b_head), layers, links, (w_agg, b_agg) = self.plain_convs()
        pad = [self.head.kernel_size // 2] * 2 if isinstance(self.head, P4ConvBase) else list(self.head.padding)
        conv = torch.ops.mkldnn._convolution_pointwise
        conv_sum_ = torch.ops.mkldnn._convolution_pointwise_.binary

        def lrelu_conv(inp, w, b):
            return conv(inp, w, b, pad, [1, 1], [1, 1], 1, "leaky_relu", slope, None)

        x = x.contiguous(memory_format=torch.channels_last)
        h = lrelu_conv(x, w_head, b_head)
        c = h.shape[1]
        plan = self._fft_plan(x)
        if plan is not None:
            feats = self._forward_fft_layers(h, prev, layers, links, plan, slope[0])
            h = feats[-1].contiguous(memory_format=torch.channels_last)
        else:
            feats = []
        for i, (w, b) in enumerate(layers if plan is None else []):
            if self.link == "concat" and prev is not None:
                lk = lrelu_conv(prev[i], *links[i])
                u = F.conv2d(lk, w[:, c:].contiguous(memory_format=torch.channels_last), None, padding=pad)
                u = conv_sum_(u, h, w[:, :c].contiguous(memory_format=torch.channels_last), b, pad, [1, 1],
                              [1, 1], 1, "add", 1.0, None, [], None)    # u += conv(h; W_h) + b
                u = F.leaky_relu_(u, slope[0])  # (oneDNN fuses only ReLU after an in-place sum)
            elif self.link == "concat":  # first stage: the link half of the input is zeros
                u = lrelu_conv(h, w[:, :c].contiguous(memory_format=torch.channels_last), b)
            elif self.link == "add" and prev is not None:
                u = lrelu_conv(h + lrelu_conv(prev[i], *links[i]), w, b)
            else:
                u = lrelu_conv(h, w, b)
            h = u.add_(h)                      # residual connection around each group conv
            feats.append(h)
        if self.has_aggregation_act:
            a = lrelu_conv(h, w_agg, b_agg)
        else:
            a = F.conv2d(h, w_agg, b_agg, padding=pad)
        a = self.se(a)
        return self.out(a), feats, a

    def forward(self, x: torch.Tensor, prev: list[torch.Tensor] | None = None):
        act = self.act
        h = act(self.head(x))  # p4: (B, C, 4, H, W); cnn: (B, C, H, W)
        feats = []
        for i, conv in enumerate(self.layers):
            inp = h
            if self.link == "concat":
                lk = act(self.links[i](prev[i])) if prev is not None else torch.zeros_like(h)
                inp = torch.cat([h, lk], dim=1)  # (B, 2C, 4, H, W): skip concatenation
            elif self.link == "add" and prev is not None:
                inp = h + act(self.links[i](prev[i]))
            h = h + act(conv(inp))  # residual connection around each group conv
            feats.append(h)
        a = self.aggregate(h)  # (B, C, H, W)
        if self.has_aggregation_act:
            a = act(a)
        a = self.se(a)
        return self.out(a), feats, a  # R: (B, 3, H, W)


def _check_input(x: torch.Tensor) -> None:
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"expected a (B, 3, H, W) image tensor in [0, 1], got {shape}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}; convert with io.to_tensor")


class DSEN(nn.Module):
    """Deep Symmetry Enhanced Network (Sec. 2.1): ``B = O - R(O)``, with R from p4-equivariant features."""

    @dataclass
    class Config:
        backbone: str = "p4"          # "p4" (DSEN) or "cnn" (the CNN counterpart, channels doubled)
        channels: int = 10           # regular channels of the p4 layers (each carries 4 orientation maps)
        cnn_width: int = 2           # CNN counterpart width = channels * cnn_width (paper: doubled)
        num_layers: int = 4          # P4ConvP4 layers with residual connections
        kernel_size: int = 5
        aggregation: str = "conv"    # "conv" (equivariant, default) | "conv_free" | "max" | "avg"
        se: bool = True
        se_reduction: int = 2
        negative_slope: float = 0.2  # LeakyReLU

    scale = 1
    tile_multiple = 1  # fully convolutional, no down-sampling: any H, W works as is
    graph_inputs = ("image",)  # inputs of the exported graph (derain_lib.export), in order
    graph_min_side = 1         # smallest image side the exported graph accepts

    def __init__(self, cfg: DSEN.Config | None = None):
        super().__init__()
        self.config = cfg = cfg or DSEN.Config()
        self.body = _Body(cfg, link="none")

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """x: (B, 3, H, W) -> restored (B, 3, H, W); with ``return_stages`` also a dict with the rain layer
        ``rain`` (B, 3, H, W), the last group features ``features`` ((B, C, 4, H, W) for p4) and the
        aggregated maps ``aggregated`` (B, C, H, W)."""
        _check_input(x)
        fast = self.body.fast_ok(x)
        rain, feats, agg = self.body.forward_fast(x) if fast else self.body(x)
        out = x - rain
        if return_stages:
            f = feats[-1]
            if fast and self.body.p4:  # (B, C * 4, H, W) channels-last -> (B, C, 4, H, W)
                f = f.contiguous().view(f.shape[0], -1, N_ROT, f.shape[-2], f.shape[-1])
            return out.contiguous(), {"rain": rain.contiguous(), "features": f.contiguous(),
                                      "aggregated": agg.contiguous()}
        return out.contiguous()

    def graph_module(self) -> nn.Module:
        """The module :mod:`derain_lib.export` traces to ONNX: one pass of the body as plain convolutions
        (:class:`~derain_lib.models.dsen_graph.DSENGraph`)."""
        from .dsen_graph import DSENGraph

        return DSENGraph(self.body, stages=1, kernel_size=self.config.kernel_size)


class SDSEN(nn.Module):
    """Self-refining DSEN (Sec. 2.2): ``B_t = B_{t-1} - R(B_{t-1}; features of stage t-1)``, ``B_0 = O``.

    One network is shared by all stages (stage-wise weight sharing), so the parameter count does not depend on
    ``stages`` (for ``stages >= 2``; with ``stages == 1`` no link is built and it equals DSEN).  At stage 1 the
    concatenated link input is zeros.  ``forward(x, return_stages=True)`` returns ``(B_T, [B_1, ..., B_T])``.
    """

    @dataclass
    class Config(DSEN.Config):
        stages: int = 8
        link: str = "concat"  # "concat" (skip concatenation, paper) | "add" (+SC) | "none" (MDSEN / MCNN)

    scale = 1
    tile_multiple = 1
    graph_inputs = ("image",)
    graph_min_side = 1

    def __init__(self, cfg: SDSEN.Config | None = None):
        super().__init__()
        self.config = cfg = cfg or SDSEN.Config()
        if cfg.stages < 1:
            raise ValueError(f"stages must be >= 1, got {cfg.stages}")
        self.body = _Body(cfg, link=cfg.link if cfg.stages > 1 else "none")

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        _check_input(x)
        body = self.body.forward_fast if self.body.fast_ok(x) else self.body
        y, prev, outs = x, None, []
        for _ in range(self.config.stages):
            rain, feats, _ = body(y, prev if self.body.link != "none" else None)
            y = y - rain  # (B, 3, H, W)
            outs.append(y)
            prev = feats  # gradients flow through the link into earlier stages
        if not y.is_contiguous():  # the fast path works in channels-last memory
            outs = [o.contiguous() for o in outs]
            y = outs[-1]
        return (y, outs) if return_stages else y

    def graph_module(self) -> nn.Module:
        """The module :mod:`derain_lib.export` traces to ONNX: the stages unrolled with their skip links, every
        convolution a plain one (:class:`~derain_lib.models.dsen_graph.DSENGraph`)."""
        from .dsen_graph import DSENGraph

        return DSENGraph(self.body, stages=self.config.stages, kernel_size=self.config.kernel_size)


@torch.no_grad()
def init_sdsen_from_dsen(sdsen: SDSEN, dsen: DSEN) -> SDSEN:
    """Warm start: copy a trained DSEN into every stage of ``sdsen`` and zero the link half of each layer's
    filter, so that S-DSEN starts as "DSEN applied T times" and learns the link from there.  (Our CPU-budget
    shortcut; the paper trains S-DSEN from scratch.)"""
    src, dst = dsen.body.state_dict(), sdsen.body.state_dict()
    for name, t in dst.items():
        if name.startswith("links."):
            continue
        s = src[name]
        if s.shape == t.shape:
            t.copy_(s)
        else:  # concat layer: (C, 2C, ...) <- (C, C, ...), link half zeroed
            t.zero_()
            t[:, : s.shape[1]].copy_(s)
    sdsen.body.load_state_dict(dst)
    return sdsen


def training_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Paper loss: L2 (mean squared error) between each stage's restored image and the clean image, summed
    over stages with equal weights (DSEN: one stage).  Logs: ``loss``, ``mse`` and ``psnr`` of the last stage."""
    rainy, clean = batch["rainy"], batch["clean"]
    net = getattr(model, "module", model)
    if isinstance(net, SDSEN):
        _, stages = model(rainy, return_stages=True)
    else:
        stages = [model(rainy)]
    mses = [F.mse_loss(s, clean) for s in stages]
    loss = torch.stack(mses).sum()
    last = float(mses[-1].detach())
    logs = {"loss": float(loss.detach()), "mse": last, "psnr": -10.0 * math.log10(max(last, 1e-12))}
    if len(mses) > 1:
        logs["mse_first"] = float(mses[0].detach())
    return loss, logs


PAPER_SCHEDULE = {
    "optimizer": "adam",
    "lr": 5e-4,
    "batch": 64,
    "patch": 64,
    "steps": 20000,
    "milestones": [15000, 17500],
    "gamma": 0.1,
    "loss": "L2 on the restored image of every stage, summed with equal weights",
    "notes": "Sec. 3: 64x64 crops, batch 64, Adam lr 5e-4 divided by 10 at steps 15000 and 17500 (20000 total); "
             "S-DSEN default 8 stages.",
}
