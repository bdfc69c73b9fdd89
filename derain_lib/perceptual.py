"""VGG16 perceptual loss from local weights only (used by Vu & Kim's L_stage2, Sec. 2.3).

``L_VGG(x, y) = mean((phi(x) - phi(y))^2)`` with ``phi`` the VGG16 feature extractor (Simonyan & Zisserman,
ICLR 2015) up to ``relu3_3`` by default (Johnson et al., ECCV 2016), on ImageNet-normalised inputs.

The network is defined here in plain torch with exactly torchvision's ``vgg16().features`` layout, so the
ImageNet weights torchvision caches (``vgg16-397923af.pth``) load into it without torchvision (which cannot be
installed beside our torch build).  Nothing is ever downloaded.  Weights are looked up, in order, at:

1. ``$DERAIN_VGG16`` (a ``.pth`` or ``.safetensors`` file),
2. ``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`` (``TORCH_HOME`` defaults to ``~/.cache/torch``),
3. ``derain_lib/weights/vgg16_features.safetensors``.

``.pth`` files are read with ``torch.load(weights_only=True)`` (no arbitrary unpickling).  When none exists,
:func:`perceptual_loss` returns ``None`` and logs ONE line saying that the VGG term is skipped.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger("derain_lib.perceptual")

# torchvision's VGG16 configuration "D": channels, "M" = 2x2 max-pool.
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_FILE = "vgg16-397923af.pth"


def _layer_names() -> list[str]:
    """Names of the entries of ``vgg16().features`` in order: conv1_1, relu1_1, ..., pool5."""
    names, block, idx = [], 1, 1
    for v in VGG16_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


LAYER_NAMES = _layer_names()


class VGG16Features(nn.Module):
    """``torchvision.models.vgg16().features[: index(layer) + 1]`` in plain torch (same state-dict keys)."""

    def __init__(self, layer: str = "relu3_3"):
        super().__init__()
        if layer not in LAYER_NAMES:
            raise ValueError(f"unknown VGG16 layer {layer!r}; choose one of {LAYER_NAMES}")
        mods: list[nn.Module] = []
        in_ch = 3
        for v in VGG16_CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = v
        self.layer = layer
        self.features = nn.Sequential(*mods[: LAYER_NAMES.index(layer) + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1]
        return self.features((x - self.mean) / self.std)


def candidate_paths() -> list[Path]:
    """Where the VGG16 weights are looked for, in order."""
    paths = []
    if os.environ.get("DERAIN_VGG16"):
        paths.append(Path(os.environ["DERAIN_VGG16"]).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")).expanduser()
    paths.append(torch_home / "hub" / "checkpoints" / VGG16_FILE)
    paths.append(Path(__file__).resolve().parent / "weights" / "vgg16_features.safetensors")
    return paths


def find_vgg16_weights() -> Path | None:
    for p in candidate_paths():
        if p.is_file():
            return p
    return None


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def load_vgg16_features(layer: str = "relu3_3", path: str | Path | None = None) -> VGG16Features:
    """Build :class:`VGG16Features` and load ImageNet weights from ``path`` (or the first file found).

    Raises ``FileNotFoundError`` (listing the places searched) when there is no weight file.
    """
    path = Path(path) if path is not None else find_vgg16_weights()
    if path is None or not path.is_file():
        where = ", ".join(str(p) for p in ([path] if path else candidate_paths()))
        raise FileNotFoundError(f"no VGG16 weights found (looked at: {where})")
    net = VGG16Features(layer)
    state = _read_state(path)
    # Accept torchvision's full-model keys ("features.N.weight") or bare features ("N.weight").
    wanted = net.state_dict().keys()
    picked = {}
    for k in wanted:  # k = "features.N.weight"
        bare = k[len("features."):]
        if k in state:
            picked[k] = state[k]
        elif bare in state:
            picked[k] = state[bare]
    missing = sorted(set(wanted) - set(picked))
    if missing:
        raise KeyError(f"{path}: VGG16 weights lack {missing[:4]}{'...' if len(missing) > 4 else ''}")
    net.load_state_dict(picked, strict=True)
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


class PerceptualLoss(nn.Module):
    """``mean((phi(x) - phi(y))^2)`` with frozen VGG16 features ``phi`` (the target side is detached)."""

    def __init__(self, features: VGG16Features):
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fy = self.features(y)
        return F.mse_loss(self.features(x), fy)


_CACHE: dict[tuple, PerceptualLoss | None] = {}
_WARNED = False


def perceptual_loss(layer: str = "relu3_3", device: torch.device | str = "cpu") -> PerceptualLoss | None:
    """Cached :class:`PerceptualLoss` on ``device``, or ``None`` (one logged line) when no weights exist."""
    global _WARNED
    path = find_vgg16_weights()
    key = (layer, str(device), str(path))
    if key not in _CACHE:
        if path is None:
            _CACHE[key] = None
        else:
            _CACHE[key] = PerceptualLoss(load_vgg16_features(layer, path)).to(device)
    if _CACHE[key] is None and not _WARNED:
        _WARNED = True
        log.warning("VGG16 weights not found (set DERAIN_VGG16 or put %s in $TORCH_HOME/hub/checkpoints); "
                    "the perceptual term L_VGG is skipped", VGG16_FILE)
    return _CACHE[key]


def reset_cache() -> None:
    """Forget loaded networks and the 'skipped' warning (tests, or after placing the weight file)."""
    global _WARNED
    _CACHE.clear()
    _WARNED = False
