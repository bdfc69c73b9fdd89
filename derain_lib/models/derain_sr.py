"""Joint heavy-rain removal and super-resolution (Vu & Kim, "Jointly Learning of Heavy Rain Removal and
Super-Resolution in Single Images").

Input: a low-resolution heavy-rain image ``I`` (streaks + haze/veiling); output: the clean image at ``scale`` x
the input size.  Two stages, trained jointly:

Stage 1, coarse decomposition at low resolution (Sec. 2.1) -- three candidate clean images:

* multiplication layer   ``J1 = I * R1``                       (Eq. 1)
* addition layer         ``J2 = I + R2``                       (Eq. 2)
  each ``R`` from two 3x3 convolutions on ``[I, M]``, ``M`` the MSER guidance map (:mod:`derain_lib.mser`);
* ATS model (heavy-rain physics, Li et al. CVPR 2019: ``I = T (J + sum_i S_i) + (1 - T) A``) inverted:
  ``J0 = (I - (1 - T) A) / T - sum_i S_i``,
  rain streaks ``S_i`` from two dense blocks and three 3x3 convolutions, transmission ``T`` through global
  average pooling and fully connected layers, atmospheric light ``A`` from a small U-Net.  The division is
  guarded: ``T`` is produced in ``[t_min, 1]`` and :func:`invert_heavy_rain` also clamps it.

Stage 2, refinement and upsampling (Sec. 2.2): an attention module (two 1x1 and two 3x3 convolutions)
predicts per-pixel weights with a softmax over the candidates, ``J = sum_k W_k J_k``; residual channel
attention blocks (RCAB, RCAN) refine features of ``J`` and sub-pixel convolution (PixelShuffle) upsamples x2/x4.

Losses (Sec. 2.3): ``L = L_stage1 + L_stage2``,
``L_stage1 = l0 L2(J_lr, J0) + l1 L2(J_lr, J1) + l2 L2(J_lr, J2)``,
``L_stage2 = L2(J_hr, J_sr) + l3 L_VGG(J_hr, J_sr)`` (VGG16 features from local weights only; skipped with
one logged line when they are missing, see :mod:`derain_lib.perceptual`).

Ablation (Table 1): ``Config.variant`` selects the candidate set: ``"add+mul"``, ``"ats+mul"``, ``"ats+add"``
or ``"ats+add+mul"`` (the full model).

What the paper leaves open and we chose (so the reader can tell paper from implementation): channel widths,
the number of RCABs, dense-block growth/depth, the U-Net depth, the number of streak layers, the loss weights
``l0..l3`` and the exact form of the MSER input (see :mod:`derain_lib.mser`).  We could not consult the
paper's text for these numbers here; the defaults below are RCAN/DenseNet-style values, marked "ours".
``T`` is produced per pixel (the physics model's transmission is a depth-dependent map): the GAP + FC layers
act as channel attention on the T-branch features before a 3x3 convolution maps them to ``T``.

Shipped weights (``derain_sr-x2``, ``derain_sr-x4``; commands and figures in their JSON sidecars): a small
CPU configuration (``features=32, n_rcab=4, stage1_features=16, global_residual=True``) trained ~1400 steps
on a shared 2-core CPU on synthetic ``heavy_haze`` rain over ``clean/`` photos, without the VGG term (no local
weights).  x2, held-out synthetic heavy rain: 22.00 dB Y vs 16.13 bicubic and 21.07 DRN+bicubic.  x2, the four
real Outdoor-Rain pairs: 14.82 dB / 0.547 Y vs 15.43 / 0.521 bicubic -- PSNR below bicubic at this budget.

ONNX export: :meth:`DerainSR.graph_module` (:mod:`derain_lib.models.derain_sr_graph`); the MSER guidance map is a
second graph input (:attr:`DerainSR.graph_inputs`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.dense import DenseBlock
from ..layers.rcab import RCAB
from ..mser import mser_guidance

VARIANTS = {
    # name -> candidates fused by the attention module (paper Table 1)
    "ats+add+mul": ("J0", "J1", "J2"),
    "add+mul": ("J1", "J2"),
    "ats+mul": ("J0", "J1"),
    "ats+add": ("J0", "J2"),
}


def invert_heavy_rain(I: torch.Tensor, T: torch.Tensor, A: torch.Tensor, S_sum: torch.Tensor,
                      eps: float = 1e-3) -> torch.Tensor:
    """``J0 = (I - (1 - T) A) / T - sum_i S_i`` (Sec. 2.1), with ``T`` clamped to ``>= eps`` (division guard).

    ``I`` (B, 3, H, W); ``T`` (B, 1, H, W) or broadcastable; ``A`` (B, 3, H, W) or (B, 3, 1, 1); ``S_sum`` like I.
    """
    return (I - (1.0 - T) * A) / T.clamp_min(eps) - S_sum


def synthesize_heavy_rain(J: torch.Tensor, T: torch.Tensor, A: torch.Tensor, S_sum: torch.Tensor) -> torch.Tensor:
    """The forward physics model ``I = T (J + sum_i S_i) + (1 - T) A`` (the inverse of :func:`invert_heavy_rain`)."""
    return T * (J + S_sum) + (1.0 - T) * A


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class OperationLayer(nn.Module):
    """``R`` from two 3x3 convolutions on ``[I, M]`` (Eq. 1-2); ``op`` = ``"mul"`` (J1 = I*R) or ``"add"`` (J2 = I+R).

    The multiplicative ``R1`` starts near 1 and the additive ``R2`` near 0 (bias init of the last conv, small
    weights), so both candidates start as the input itself; the formula is unchanged.
    """

    def __init__(self, op: str, in_ch: int, features: int):
        super().__init__()
        if op not in ("mul", "add"):
            raise ValueError(f"op must be 'mul' or 'add', got {op!r}")
        self.op = op
        self.conv1 = _conv(in_ch, features)
        self.conv2 = _conv(features, 3)
        nn.init.normal_(self.conv2.weight, std=1e-3)
        nn.init.constant_(self.conv2.bias, 1.0 if op == "mul" else 0.0)

    def forward(self, I: torch.Tensor, guide: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        inp = I if guide is None else torch.cat([I, guide], dim=1)  # (B, 3 or 4, H, W)
        R = self.conv2(torch.relu(self.conv1(inp)))  # (B, 3, H, W)
        return (I * R if self.op == "mul" else I + R), R


class StreakNet(nn.Module):
    """Rain streaks ``S_i``: 3x3 stem, two dense blocks, three 3x3 convolutions (Sec. 2.1)."""

    def __init__(self, features: int, n_layers: int, growth: int, dense_layers: int):
        super().__init__()
        self.n_layers = n_layers
        self.stem = _conv(3, features)
        self.dense = nn.Sequential(DenseBlock(features, growth, dense_layers),
                                   DenseBlock(features, growth, dense_layers))
        self.conv1 = _conv(features, features)
        self.conv2 = _conv(features, features)
        self.conv3 = _conv(features, 3 * n_layers)
        nn.init.normal_(self.conv3.weight, std=1e-3)  # streaks start near 0
        nn.init.zeros_(self.conv3.bias)

    def forward(self, I: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, n, 3, H, W)
        f = self.dense(torch.relu(self.stem(I)))
        f = torch.relu(self.conv2(torch.relu(self.conv1(f))))
        B, _, H, W = I.shape
        return self.conv3(f).view(B, self.n_layers, 3, H, W)


class TransmissionNet(nn.Module):
    """Transmission ``T`` in ``[t_min, 1]``: two 3x3 convs, GAP + two FC layers (channel gating), 3x3 conv, sigmoid."""

    def __init__(self, features: int, t_min: float):
        super().__init__()
        self.t_min = t_min
        self.conv1 = _conv(3, features)
        self.conv2 = _conv(features, features)
        hidden = max(4, features // 4)
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, features)
        self.out = _conv(features, 1)
        nn.init.constant_(self.out.bias, 2.0)  # start near T = 0.9 (light haze) so J0 starts close to I

    def forward(self, I: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, 1, H, W)
        f = torch.relu(self.conv2(torch.relu(self.conv1(I))))  # (B, F, H, W)
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(f.mean(dim=(2, 3))))))  # GAP -> FC -> FC: (B, F)
        t = torch.sigmoid(self.out(f * g[:, :, None, None]))
        return self.t_min + (1.0 - self.t_min) * t


class SmallUNet(nn.Module):
    """Atmospheric light ``A`` (B, 3, H, W) in (0, 1) from a ``depth``-level U-Net (Ronneberger et al. 2015)."""

    def __init__(self, features: int, depth: int):
        super().__init__()
        self.depth = depth
        chans = [features * 2 ** d for d in range(depth + 1)]
        self.enc = nn.ModuleList()
        cin = 3
        for c in chans:
            self.enc.append(nn.Sequential(_conv(cin, c), nn.ReLU(), _conv(c, c), nn.ReLU()))
            cin = c
        self.dec = nn.ModuleList(
            nn.Sequential(_conv(chans[d + 1] + chans[d], chans[d]), nn.ReLU(), _conv(chans[d], chans[d]), nn.ReLU())
            for d in reversed(range(depth))
        )
        self.out = nn.Conv2d(chans[0], 3, 1)

    def forward(self, I: torch.Tensor) -> torch.Tensor:  # H, W must be multiples of 2**depth
        skips, f = [], I
        for d, block in enumerate(self.enc):
            f = block(f)
            if d < self.depth:
                skips.append(f)
                f = F.max_pool2d(f, 2)
        for block in self.dec:
            skip = skips.pop()
            f = block(torch.cat([F.interpolate(f, size=skip.shape[-2:], mode="bilinear", align_corners=False),
                                 skip], dim=1))
        return torch.sigmoid(self.out(f))


class AttentionFusion(nn.Module):
    """Per-pixel weights over the K candidates: 1x1 -> 3x3 -> 3x3 -> 1x1 convs, softmax over K (Sec. 2.2)."""

    def __init__(self, k: int, features: int):
        super().__init__()
        self.k = k
        self.body = nn.Sequential(
            nn.Conv2d(3 * k, features, 1), nn.ReLU(),
            _conv(features, features), nn.ReLU(),
            _conv(features, features), nn.ReLU(),
            nn.Conv2d(features, k, 1),
        )

    def forward(self, cands: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        W = torch.softmax(self.body(torch.cat(cands, dim=1)), dim=1)  # (B, K, H, W), sums to 1 over K
        fused = sum(W[:, i:i + 1] * c for i, c in enumerate(cands))  # (B, 3, H, W)
        return fused, W


class Upsampler(nn.Sequential):
    """Sub-pixel convolution (Shi et al., CVPR 2016): conv to ``r^2 C`` channels + PixelShuffle(r); x4 = two x2."""

    def __init__(self, scale: int, features: int):
        layers: list[nn.Module] = []
        if scale in (2, 4, 8):
            for _ in range(int(math.log2(scale))):
                layers += [_conv(features, 4 * features), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [_conv(features, 9 * features), nn.PixelShuffle(3)]
        elif scale != 1:
            raise ValueError(f"scale must be 1, 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)


class DerainSR(nn.Module):
    """Two-stage joint heavy-rain removal + super-resolution network (Vu & Kim, Sec. 2)."""

    @dataclass
    class Config:
        scale: int = 2                 # x2 (paper also reports x4)
        variant: str = "ats+add+mul"   # Table 1 ablation: "add+mul", "ats+mul", "ats+add", "ats+add+mul"
        features: int = 64             # stage-2 width (ours; RCAN uses 64)
        n_rcab: int = 10               # residual channel attention blocks (ours)
        rcab_reduction: int = 16       # channel-attention reduction (RCAN)
        stage1_features: int = 32      # width of operation layers, streak and T branches (ours)
        dense_growth: int = 16         # dense block growth rate (ours)
        dense_layers: int = 4          # conv layers per dense block (ours)
        n_streak_layers: int = 1       # streak layers S_i; only their sum enters J0 (ours)
        unet_features: int = 16        # atmospheric-light U-Net base width (ours)
        unet_depth: int = 2            # U-Net levels; sets tile_multiple = 2**depth (ours)
        t_min: float = 0.05            # lower bound of T: the division guard in J0
        use_mser: bool = True          # MSER guidance map fed to the operation layers
        mser_frac: int = 16            # patch size H/16 x W/16 around each MSER (paper)
        global_residual: bool = False  # add bicubic(J) to the SR output (not in the paper; helps short training)
        lambda_j0: float = 1.0         # l0 (ours)
        lambda_j1: float = 1.0         # l1 (ours)
        lambda_j2: float = 1.0         # l2 (ours)
        lambda_vgg: float = 0.01       # l3 (ours)

    def __init__(self, cfg: DerainSR.Config | None = None):
        super().__init__()
        cfg = cfg or self.Config()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"unknown variant {cfg.variant!r}; choose one of {sorted(VARIANTS)}")
        self.config = cfg
        self.scale = int(cfg.scale)
        self.tile_multiple = 2 ** cfg.unet_depth
        self.candidates = VARIANTS[cfg.variant]
        f1 = cfg.stage1_features
        guide_ch = 1 if cfg.use_mser else 0
        # Stage 1 (Sec. 2.1): only the branches the variant uses are built.
        self.mul = OperationLayer("mul", 3 + guide_ch, f1) if "J1" in self.candidates else None
        self.add = OperationLayer("add", 3 + guide_ch, f1) if "J2" in self.candidates else None
        if "J0" in self.candidates:
            self.streaks = StreakNet(f1, cfg.n_streak_layers, cfg.dense_growth, cfg.dense_layers)
            self.transmission = TransmissionNet(f1, cfg.t_min)
            self.atmosphere = SmallUNet(cfg.unet_features, cfg.unet_depth)
        else:
            self.streaks = self.transmission = self.atmosphere = None
        # Stage 2 (Sec. 2.2)
        self.fusion = AttentionFusion(len(self.candidates), cfg.features)
        self.head = _conv(3, cfg.features)
        self.body = nn.Sequential(*[RCAB(cfg.features, cfg.rcab_reduction) for _ in range(cfg.n_rcab)],
                                  _conv(cfg.features, cfg.features))
        self.upsample = Upsampler(self.scale, cfg.features)
        self.tail = _conv(cfg.features, 3)

    @property
    def uses_guidance(self) -> bool:
        """Whether the model feeds an MSER guidance map to its operation layers (``use_mser`` and a J1 or J2
        branch in the variant)."""
        return bool(self.config.use_mser) and (self.mul is not None or self.add is not None)

    # -- helpers -------------------------------------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        m = self.tile_multiple
        H, W = x.shape[-2:]
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            mode = "reflect" if (ph < H and pw < W) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, ph, pw

    def decompose(self, I: torch.Tensor, guide: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Stage 1 on a padded input: the candidates J0/J1/J2 of this variant and their components."""
        out: dict[str, torch.Tensor] = {}
        if self.mul is not None:
            out["J1"], out["R1"] = self.mul(I, guide)
        if self.add is not None:
            out["J2"], out["R2"] = self.add(I, guide)
        if self.streaks is not None:
            S = self.streaks(I)          # (B, n, 3, H, W)
            T = self.transmission(I)     # (B, 1, H, W) in [t_min, 1]
            A = self.atmosphere(I)       # (B, 3, H, W)
            out["J0"] = invert_heavy_rain(I, T, A, S.sum(dim=1), eps=self.config.t_min)
            out.update(S=S, T=T, A=A)
        return out

    def refine(self, J: torch.Tensor) -> torch.Tensor:
        """Stage 2 after fusion: RCABs (long skip, as in RCAN) and sub-pixel upsampling."""
        f = self.head(J)
        f = f + self.body(f)
        sr = self.tail(self.upsample(f))
        if self.config.global_residual and self.scale > 1:
            sr = sr + F.interpolate(J, scale_factor=self.scale, mode="bicubic", align_corners=False)
        elif self.config.global_residual:
            sr = sr + J
        return sr

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        """(B, 3, H, W) in [0, 1], any H, W -> (B, 3, scale*H, scale*W); with ``return_stages`` also a dict:

        ``J0, J1, J2`` (the candidates present in this variant), ``S`` (B, n, 3, H, W), ``T``, ``A``, ``R1``, ``R2``,
        ``guidance`` (MSER map), ``attention`` (B, K, H, W; channel k weights ``names[k]``), ``fused`` and
        ``names`` (the candidate order) -- all at the input (low) resolution.

        Two parts look at the whole input: the global average pooling of the T branch and the max-normalised
        MSER map.  When ``derain_lib.derain`` tiles a large image they see one tile at a time, so tiled and
        untiled outputs differ slightly (more than for purely local models).
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DerainSR expects (B, 3, H, W) images in [0, 1], got shape {tuple(x.shape)}")
        H, W = x.shape[-2:]
        guide = None
        if self.uses_guidance:
            guide = mser_guidance(x, frac=self.config.mser_frac)  # (B, 1, H, W), from the unpadded image
        xp, _, _ = self._pad(x)
        gp = self._pad(guide)[0] if guide is not None else None
        stages = self.decompose(xp, gp)
        cands = [stages[k] for k in self.candidates]
        fused, att = self.fusion(cands)
        sr = self.refine(fused)[..., : self.scale * H, : self.scale * W]
        if not return_stages:
            return sr
        aux = {k: v[..., :H, :W] for k, v in stages.items()}
        aux.update(attention=att[..., :H, :W], fused=fused[..., :H, :W], names=list(self.candidates))
        if guide is not None:
            aux["guidance"] = guide
        return sr, aux

    # -- ONNX export (derain_lib.export) ------------------------------------------------------------------------
    @property
    def graph_inputs(self) -> tuple[str, ...]:
        """Inputs of the exported graph, in order: the image, and its MSER guidance map when the model uses one
        (MSER is OpenCV code, so it is computed outside the graph)."""
        return ("image", "guidance") if self.uses_guidance else ("image",)

    @property
    def graph_min_side(self) -> int:
        """Smallest image side the exported graph accepts: it pads by reflection only (no branch on the size),
        which needs at least ``tile_multiple`` pixels."""
        return self.tile_multiple

    def graph_module(self) -> nn.Module:
        """The module :mod:`derain_lib.export` traces to ONNX:
        :class:`~derain_lib.models.derain_sr_graph.DerainSRGraph`."""
        from .derain_sr_graph import DerainSRGraph

        return DerainSRGraph(self)


def _downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=1.0 / scale, mode="bicubic", align_corners=False, antialias=True)


def training_loss(model: DerainSR, batch: dict) -> tuple[torch.Tensor, dict]:
    """``L_stage1 + L_stage2`` (Sec. 2.3); L2 = mean squared error.

    ``batch``: ``rainy`` (B, 3, h, w) low-resolution input, ``clean`` (B, 3, s*h, s*w) and ``clean_lr``
    (B, 3, h, w; made by bicubic downsampling of ``clean`` when absent).  Only the candidates of the model's
    variant enter L_stage1.  The VGG term is skipped (one logged line) when no local VGG16 weights exist.
    """
    from ..perceptual import perceptual_loss

    cfg = model.config
    rainy, clean = batch["rainy"], batch["clean"]
    s = model.scale
    if clean.shape[-2:] != (s * rainy.shape[-2], s * rainy.shape[-1]):
        raise ValueError(f"clean {tuple(clean.shape[-2:])} must be scale={s} x rainy {tuple(rainy.shape[-2:])}")
    clean_lr = batch.get("clean_lr")
    if clean_lr is None:
        clean_lr = clean if s == 1 else _downsample(clean, s)
    sr, aux = model(rainy, return_stages=True)
    weights = {"J0": cfg.lambda_j0, "J1": cfg.lambda_j1, "J2": cfg.lambda_j2}
    logs: dict[str, float] = {}
    l_stage1 = sr.new_zeros(())
    for k in model.candidates:
        lk = F.mse_loss(aux[k], clean_lr)
        logs[f"l2_{k}"] = float(lk.detach())
        l_stage1 = l_stage1 + weights[k] * lk
    l_sr = F.mse_loss(sr, clean)
    l_stage2 = l_sr
    logs["l2_sr"] = float(l_sr.detach())
    if cfg.lambda_vgg > 0:
        vgg = perceptual_loss(device=sr.device)
        if vgg is not None:
            l_vgg = vgg(sr, clean)
            logs["l_vgg"] = float(l_vgg.detach())
            l_stage2 = l_stage2 + cfg.lambda_vgg * l_vgg
    loss = l_stage1 + l_stage2
    logs.update(l_stage1=float(l_stage1.detach()), l_stage2=float(l_stage2.detach()))
    return loss, logs


PAPER_SCHEDULE = {
    "optimizer": "adam",
    "lr": 5e-5,
    "batch": 4,
    "patch": (200, 300),
    "epochs": 500,
    "milestones": (100,),   # in epochs: lr halved after 100 epochs
    "gamma": 0.5,
    "notes": (
        "Vu & Kim: Adam, lr 5e-5 halved after 100 of 500 epochs, batch 4, 200x300 training crops, "
        "Outdoor-Rain-style heavy-rain pairs with bicubic-downsampled inputs (x2 / x4). Milestones are in epochs; "
        "convert to steps (epochs * images / batch) for Trainer. Whether 200x300 is the LR or HR crop size is not "
        "stated in what we had; we treat it as the HR crop."
    ),
}
