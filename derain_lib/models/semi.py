"""MSNet: multi-scale de-raining network trained semi-supervised by feature-statistics matching.

Paper: Qiu, Huang, Peng, Chen, Huang, "Single image de-raining algorithm based on semi-supervised learning".

The point of the paper: a network trained on synthetic pairs generalises poorly to real rain, because real
streaks (and the haze, blur and noise around them) have other statistics.  So the network is split in two:

1. a **semi-matching network** (Sec. 3.1, Fig. 3) -- a feature transformation (image -> 32 channels) followed
   by cascade convolution learning blocks -- whose output features are pushed to have the same first- and
   second-order statistics for a synthetic and a real rainy batch (``L_match = L_mean + L_cov``, see
   :func:`derain_lib.losses.mean_cov_matching`);
2. a stack of **multi-scale de-raining units** (Sec. 3.2, Fig. 5) that turn these features into the rain layer,
   which is subtracted from the input through a global residual (features -> image, 3 channels).

Because the de-raining units only ever see matched features, what they learn on synthetic pairs is meant to
carry over to real photos.  Supervision comes only from synthetic pairs; the real photos enter only ``L_match``.

Shape walk-through (B images, C = ``cfg.channels``)::

    x (B,3,H,W) --pad to a multiple of 4--> (B,3,H',W')
      head conv3x3                    -> (B,C,H',W')     feature transformation
      semi-matching: K cascade blocks -> f (B,C,H',W')   "features" (statistics matched)
      U multi-scale units, dense+res  -> (B,C,H',W')
      tail conv3x3                    -> r (B,3,H',W')   (negative) rain layer
      y = x + r, crop back            -> (B,3,H,W)

Readings of parts the paper's description leaves open (the paper's text was not available to us; these
choices are ours and are listed so that a reader can change them):

* **Cascade convolution learning block** (Fig. 3): ``convs`` 3x3 conv + ReLU layers applied one after the
  other (the "cascade"), with a local identity skip around them, so that stacking blocks stays easy to train.
* **Semi-matching network**: ``match_blocks`` such blocks after the head conv; the matched features are its
  output.  Statistics are taken over per-pixel feature vectors (every spatial position of every image is one
  sample of dimension d = C): that is what :func:`feature_vectors` returns and what ``training_loss`` feeds to
  the matching loss.
* **Multi-scale unit** (Sec. 3.2, Fig. 5): for scale i = 1..n (n = 3) the features are max-pooled with kernel
  and stride 2^(i-1) (i = 1 is the identity), passed through their own cascade block, upsampled back
  (bilinear; ``upsample`` config field) and summed: ``F_hat = sum_i Z_i``.
* **Residual and dense connections between units**: unit k's input is a 1x1 conv over the concatenation of
  the matched features and all previous unit outputs (dense), and its output is ``F_hat + input`` (residual).
  A last 1x1 conv fuses the matched features and all unit outputs before the tail conv.
* **Supervised loss**: mean squared error between output and clean target (the usual loss of this paper's
  baselines, e.g. DDN/JORDER); ``training_loss`` logs it separately from the matching terms.
* **Paper widths**: 32 channels (stated); the number of blocks/units is our reading (defaults below).
* **Initialisation**: the tail conv starts at 0.1x its default scale with zero bias, so the untrained network
  is close to the identity map (ours; it shortens short CPU runs).

Shipped weights (``derain_lib/weights/msnet-sup`` and ``msnet-semi``, sidecar JSON has command and figures):
``channels=16`` (the paper's 32 costs about 3x more per training step on a CPU), everything else the
defaults; both share their first runs, then take the same last run (steps, seed, synthetic batches, learning
rate); in it ``msnet-semi`` adds ``L_match`` against patches of the real photos in ``real_rainy/`` and
``real_rainy_more/`` minus :data:`derain_lib.paths.HELD_OUT_REAL`, weighted ``match_weight=0.1`` (ours: at
the paper's 1 the term outweighed the MSE many times over at the start of a fine-tuning run and cost more than
0.5 dB on the benchmarks).
Matching can also be satisfied partly by shrinking all features; compare the feature RMS along with the gap.

ONNX export: :meth:`MSNet.graph_module` (:mod:`derain_lib.models.semi_graph`): the forward with a branchless pad.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PAPER_SCHEDULE",
    "CascadeBlock",
    "MSNet",
    "MultiScaleUnit",
    "feature_gap",
    "feature_vectors",
    "training_loss",
]


class CascadeBlock(nn.Module):
    """Cascade convolution learning block (Fig. 3): ``convs`` x (conv3x3 + ReLU) with a local identity skip."""

    def __init__(self, channels: int, convs: int = 2):
        super().__init__()
        if convs < 1:
            raise ValueError(f"convs must be >= 1, got {convs}")
        layers: list[nn.Module] = []
        for _ in range(convs):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B,C,H,W) -> (B,C,H,W)
        return x + self.body(x)


class MultiScaleUnit(nn.Module):
    """Multi-scale de-raining unit (Sec. 3.2, Fig. 5).

    ``Z_i = up(CCB_i(maxpool_{2^(i-1)}(F)))`` for i = 1..n and ``F_hat = sum_i Z_i``.  Large rain streaks are
    seen whole at the coarse scales, thin ones at full resolution.  H and W must be multiples of 2^(n-1)
    (:class:`MSNet` pads its input so that they are).
    """

    def __init__(self, channels: int, scales: int = 3, convs: int = 2, upsample: str = "bilinear"):
        super().__init__()
        if scales < 1:
            raise ValueError(f"scales must be >= 1, got {scales}")
        if upsample not in ("bilinear", "nearest"):
            raise ValueError(f"upsample must be 'bilinear' or 'nearest', got {upsample!r}")
        self.scales = scales
        self.upsample = upsample
        self.blocks = nn.ModuleList(CascadeBlock(channels, convs) for _ in range(scales))

    def forward(self, f: torch.Tensor, return_scales: bool = False):
        h, w = f.shape[-2:]
        zs = []
        for i, block in enumerate(self.blocks):
            k = 2 ** i  # kernel = stride = 2^(i-1) with the paper's 1-based i
            p = f if k == 1 else F.max_pool2d(f, kernel_size=k, stride=k)  # (B,C,H/k,W/k)
            z = block(p)
            if k != 1:
                kw = {"align_corners": False} if self.upsample == "bilinear" else {}
                z = F.interpolate(z, size=(h, w), mode=self.upsample, **kw)  # back to (B,C,H,W)
            zs.append(z)
        out = torch.stack(zs, 0).sum(0)  # F_hat = sum_i Z_i
        return (out, zs) if return_scales else out


def feature_vectors(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) feature maps -> (B*H*W, C): every pixel of every image is one sample of dimension C."""
    if feat.dim() != 4:
        raise ValueError(f"expected (B, C, H, W) features, got shape {tuple(feat.shape)}")
    return feat.permute(0, 2, 3, 1).reshape(-1, feat.shape[1])


class MSNet(nn.Module):
    """Semi-matching network + multi-scale de-raining units with a global residual (see module docstring)."""

    @dataclass
    class Config:
        channels: int = 32          # Sec. 3: feature transformation 3 -> 32 channels
        match_blocks: int = 2       # cascade blocks in the semi-matching network (our reading)
        match_convs: int = 2        # conv layers per cascade block of the semi-matching network (our reading)
        units: int = 3              # multi-scale de-raining units (our reading)
        scales: int = 3             # Sec. 3.2: n = 3 scales, pooling 1, 2, 4
        unit_convs: int = 2         # conv layers per cascade block inside a unit (our reading)
        upsample: str = "bilinear"  # how Z_i is brought back to full size (our reading)
        match_weight: float = 1.0   # Sec. 4.1: weight of L_match in the training loss

    def __init__(self, cfg: MSNet.Config | None = None):
        super().__init__()
        cfg = cfg or MSNet.Config()
        for name in ("channels", "match_blocks", "match_convs", "units", "scales", "unit_convs"):
            if getattr(cfg, name) < 1:
                raise ValueError(f"MSNet.Config.{name} must be >= 1, got {getattr(cfg, name)}")
        self.config = cfg
        self.scale = 1
        # the coarsest scale pools by 2^(n-1); padding to that multiple keeps pooling exact
        self.tile_multiple = 2 ** (cfg.scales - 1)
        c = cfg.channels
        self.head = nn.Conv2d(3, c, 3, padding=1)  # feature transformation: image -> features
        self.matcher = nn.Sequential(*[CascadeBlock(c, cfg.match_convs) for _ in range(cfg.match_blocks)])
        self.units = nn.ModuleList(MultiScaleUnit(c, cfg.scales, cfg.unit_convs, cfg.upsample)
                                   for _ in range(cfg.units))
        # dense connections: unit k sees [f, u_1, ..., u_{k-1}] fused by a 1x1 conv (unit 1 sees f alone)
        self.fuse = nn.ModuleList(nn.Conv2d(c * (k + 1), c, 1) for k in range(1, cfg.units))
        self.fuse_out = nn.Conv2d(c * (cfg.units + 1), c, 1)
        self.tail = nn.Conv2d(c, 3, 3, padding=1)  # features -> image (the rain layer, subtracted via residual)
        # start close to the identity map (output ~ input): the residual branch then only has to learn the rain
        # layer, which shortens CPU training a lot (our choice; the paper does not describe initialisation)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    # --- padding -------------------------------------------------------------------------------------------
    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"MSNet expects a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.tile_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            # reflect keeps streak statistics at the border; it needs the pad to be smaller than the size
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return x, h, w

    # --- parts -----------------------------------------------------------------------------------------------
    def semi_matching(self, xp: torch.Tensor) -> torch.Tensor:
        """The semi-matching network on a padded input (B,3,H',W') -> matched features (B,C,H',W')."""
        return self.matcher(F.relu(self.head(xp)))  # (B,C,H',W')

    def match_features(self, x: torch.Tensor) -> torch.Tensor:
        """The semi-matching network's output (B, C, H, W) -- the features whose statistics are matched.

        Cheaper than a full forward: the de-raining units are not run.
        """
        xp, h, w = self._pad(x)
        return self.semi_matching(xp)[..., :h, :w]

    def derain_units(self, f: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The multi-scale de-raining units: matched features (B,C,H',W') -> (residual (B,3,H',W'), unit outputs)."""
        outs = [f]
        for k, unit in enumerate(self.units):
            inp = f if k == 0 else self.fuse[k - 1](torch.cat(outs, 1))  # dense connection
            outs.append(unit(inp) + inp)        # residual connection around the unit
        return self.tail(self.fuse_out(torch.cat(outs, 1))), outs[1:]

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        xp, h, w = self._pad(x)                 # (B,3,H',W')
        f = self.semi_matching(xp)              # (B,C,H',W') matched features
        rain, units = self.derain_units(f)      # (B,3,H',W')
        y = (xp + rain)[..., :h, :w]            # global residual, crop back
        if not return_stages:
            return y
        aux = {
            "features": f[..., :h, :w],
            "units": [u[..., :h, :w] for u in units],
            "rain": -rain[..., :h, :w],          # estimated rain layer (input - output)
        }
        return y, aux

    graph_inputs = ("image",)  # inputs of the exported graph (derain_lib.export), in order

    @property
    def graph_min_side(self) -> int:
        """Smallest image side the exported graph accepts: it pads by reflection only (no branch on the size),
        which needs at least ``tile_multiple`` pixels."""
        return self.tile_multiple

    def graph_module(self) -> nn.Module:
        """The module :mod:`derain_lib.export` traces to ONNX: :class:`~derain_lib.models.semi_graph.MSNetGraph`."""
        from .semi_graph import MSNetGraph

        return MSNetGraph(self)


@torch.no_grad()
def feature_gap(model: MSNet, synthetic: torch.Tensor, real: torch.Tensor) -> dict:
    """Synthetic-vs-real distance of the matched features: ``{"total", "mean", "cov"}`` of L_match (floats)."""
    from ..losses import mean_cov_matching

    total, m, c = mean_cov_matching(feature_vectors(model.match_features(synthetic)),
                                    feature_vectors(model.match_features(real)))
    return {"total": float(total), "mean": float(m), "cov": float(c)}


def training_loss(model: MSNet, batch: dict) -> tuple[torch.Tensor, dict]:
    """Sec. 4.1: ``L = MSE(model(rainy), clean) + w * L_match(features(rainy), features(real))``.

    ``batch["real"]`` (unlabelled real rainy patches) is optional: without it the loss is the supervised term
    alone (the supervised-only baseline).  ``w`` is ``model.config.match_weight`` (paper: 1).
    Logs: ``sup`` (MSE), and with real data ``match``, ``match_mean``, ``match_cov``.
    """
    rainy, clean = batch["rainy"], batch["clean"]
    xp, h, w = model._pad(rainy)
    f = model.semi_matching(xp)  # the synthetic batch's features serve both terms (one forward)
    pred = (xp + model.derain_units(f)[0])[..., :h, :w]
    sup = F.mse_loss(pred, clean)
    logs = {"sup": float(sup.detach())}
    loss = sup
    real = batch.get("real")
    if real is not None and model.config.match_weight != 0:
        from ..losses import mean_cov_matching

        fr = model.match_features(real)
        total, m_term, c_term = mean_cov_matching(feature_vectors(f[..., :h, :w]), feature_vectors(fr))
        loss = loss + model.config.match_weight * total
        logs.update(match=float(total.detach()), match_mean=float(m_term.detach()),
                    match_cov=float(c_term.detach()))
    return loss, logs


PAPER_SCHEDULE = {
    "lr": 5e-4,            # Sec. 4.1: Adam
    "batch": 16,
    "patch": 64,           # 64x64 crops
    "milestones": (),      # not stated
    "gamma": 0.5,
    "steps": None,         # not stated in the description available to us
    "match_weight": 1.0,
    "notes": ("Adam lr 5e-4, batch 16, 64x64 crops; each step: supervised loss on a synthetic pair batch + "
              "matching loss between that synthetic batch and an unlabelled batch of real rainy patches "
              "(batch['real'])."),
}
