"""The things scored: a shipped weight, the rainy input itself, and the bicubic baselines of the SR protocol."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from derain_lib.checkpoint import sha256_file
from derain_lib.paths import WEIGHTS_DIR


def bicubic_down(img: np.ndarray, s: int) -> np.ndarray:
    from derain_lib.io import to_tensor, to_uint8
    from derain_lib.rain import downsample
    return to_uint8(downsample(to_tensor(img), s))


def bicubic_up(img: np.ndarray, s: int) -> np.ndarray:
    import torch.nn.functional as F

    from derain_lib.io import to_tensor, to_uint8
    return to_uint8(F.interpolate(to_tensor(img), scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1))


def crop(img: np.ndarray, s: int) -> np.ndarray:
    """``img`` cropped to a multiple of ``s`` (an SR model's output then matches the clean image's size)."""
    return img[: img.shape[0] // s * s, : img.shape[1] // s * s] if s > 1 else img


class Method:
    """Something that turns a rainy image into an estimate of the clean one, at full resolution.

    ``prep(rainy)`` builds what the method is given (the LR image for scale > 1); ``run(prep_out)`` is the timed
    part; ``baseline(rainy)`` is what "the input" means for this method (the rainy image, or for scale > 1 the LR
    rainy image bicubic-upsampled back).  ``identity``: the method is the rainy input itself (the input row)."""

    def __init__(self, key: str, fingerprint: str, run: Callable[[np.ndarray], np.ndarray], scale: int = 1,
                 timed: bool = True, info: dict[str, Any] | None = None, identity: bool = False):
        self.key, self.fingerprint, self._run, self.scale, self.timed = key, fingerprint, run, scale, timed
        self.info, self.identity = info or {}, identity
        self._warm = not timed

    def prep(self, rainy: np.ndarray) -> np.ndarray:
        return bicubic_down(rainy, self.scale) if self.scale > 1 else rainy

    def run(self, x: np.ndarray) -> np.ndarray:
        if not self._warm:  # one untimed call on a small image: one-time allocations are not timed
            self._warm = True
            self._run(self.prep(np.zeros((64, 64, 3), np.uint8)))
        return self._run(x)

    def baseline(self, rainy: np.ndarray) -> np.ndarray:
        return bicubic_up(bicubic_down(rainy, self.scale), self.scale) if self.scale > 1 else rainy


def input_method() -> Method:
    """The rainy input itself (the input row)."""
    return Method("input", "rainy-input", lambda x: x, timed=False, identity=True)


def bicubic_method(s: int) -> Method:
    """The rainy LR image bicubic-upsampled by ``s``: what an SR weight must beat."""
    return Method(f"bicubic-x{s}", f"bicubic-x{s}", lambda x: bicubic_up(x, s), scale=s, timed=False)


def weight_files(weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(Path(weights_dir).glob("*.safetensors"))}


def weight_method(name: str, path: Path) -> tuple[Method, Any]:
    from derain_lib.checkpoint import load_model
    from derain_lib.infer import derain
    model = load_model(path, device="cpu")
    scale = int(getattr(model, "scale", 1))
    m = Method(name, sha256_file(path), lambda x: derain(x, model, tile=0), scale=scale, info={"file": path.name})
    return m, model


def drn_then_bicubic(name: str, path: Path, s: int) -> Method:
    """A deraining DRN weight on the rainy LR image, then bicubic xs: the two-step rival of a joint SR weight."""
    dm, _ = weight_method(name, path)
    return Method(f"{name}+bicubic-x{s}", dm.fingerprint, lambda x: bicubic_up(dm.run(x), s), scale=s,
                  info={"file": path.name})
