"""Reading, validating and saving images.

Every image that enters the library goes through :func:`read_image`, which returns an ``uint8`` RGB array
(H, W, 3) whatever came in: EXIF orientation applied; grayscale, palette, RGBA/LA (composited on white),
CMYK, 16-bit and float arrays converted.  Anything that is not a decodable image raises :class:`ImageError`
with a one-line message that names the file and the reason, and absurd sizes are refused before decoding.
"""
from __future__ import annotations

import io as _io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# 100 megapixels: a 12000x8000 photo fits; a decompression bomb does not.
MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An input that is not a usable image (the message says which and why)."""


def _name(src: Any) -> str:
    if isinstance(src, (str, Path)):
        return str(src)
    return f"<{type(src).__name__}>"


def _check_size(w: int, h: int, max_pixels: int, name: str) -> None:
    if w <= 0 or h <= 0:
        raise ImageError(f"{name}: empty image ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(
            f"{name}: image is {w}x{h} = {w * h / 1e6:.1f} MP, over the limit of {max_pixels / 1e6:.0f} MP"
        )


def _array_to_rgb8(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float64) / 65535.0
    elif arr.dtype == bool:
        x = arr.astype(np.float64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageError(f"{name}: float image contains NaN or infinity")
        x = np.clip(arr.astype(np.float64), 0.0, 1.0)
    elif np.issubdtype(arr.dtype, np.integer):
        x = np.clip(arr.astype(np.float64), 0, 255) / 255.0
    else:
        raise ImageError(f"{name}: unsupported array dtype {arr.dtype}")
    c = x.shape[2]
    if c in (2, 4):  # gray+alpha / RGBA: composite on white so transparent areas do not turn black
        alpha = x[:, :, -1:]
        x = x[:, :, :-1] * alpha + (1.0 - alpha)
        c -= 1
    if c == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(np.round(x * 255.0).astype(np.uint8))


def _pil_to_rgb8(img: Image.Image, name: str) -> np.ndarray:
    img = ImageOps.exif_transpose(img)  # honour the camera's orientation tag
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        arr = arr.astype(np.float64) / (65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0)
        return _array_to_rgb8(np.clip(arr, 0, 1), name)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 255.0 if arr.max(initial=0) > 1.0 else 1.0
        return _array_to_rgb8(np.clip(arr / top, 0, 1), name)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        return _array_to_rgb8(np.asarray(img.convert("RGBA")), name)
    if mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def read_image(src: Any, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read ``src`` (path, bytes, PIL image, numpy array or (3,H,W)/(1,3,H,W) tensor) as uint8 RGB (H, W, 3)."""
    name = _name(src)
    if isinstance(src, torch.Tensor):
        t = src.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise ImageError(f"{name}: expected a (3,H,W) or (1,3,H,W) tensor, got {tuple(src.shape)}")
        src = t.permute(1, 2, 0).numpy()
    if isinstance(src, np.ndarray):
        h, w = src.shape[:2] if src.ndim >= 2 else (0, 0)
        _check_size(w, h, max_pixels, name)
        return _array_to_rgb8(src, name)
    if isinstance(src, Image.Image):
        _check_size(src.width, src.height, max_pixels, name)
        return _pil_to_rgb8(src, name)
    if isinstance(src, (bytes, bytearray)):
        fp: Any = _io.BytesIO(src)
    elif isinstance(src, (str, Path)):
        path = Path(src)
        if not path.exists():
            raise ImageError(f"{name}: no such file")
        if path.is_dir():
            raise ImageError(f"{name}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{name}: file is empty")
        fp = path
    else:
        raise ImageError(f"cannot read an image from a {type(src).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                _check_size(img.width, img.height, max_pixels, name)
                img.load()  # decode now, so a truncated file fails here and not later
                return _pil_to_rgb8(img, name)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or an image format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: image too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: corrupt or truncated image ({e})") from None


def save_image(image: np.ndarray | torch.Tensor, path: str | Path, quality: int = 95) -> Path:
    """Save an RGB image; the format follows the suffix (PNG is lossless, JPEG uses ``quality``)."""
    path = Path(path)
    arr = read_image(image) if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                                    and image.ndim == 3 and image.shape[2] == 3) else image
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported output format {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"quality": quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
    Image.fromarray(arr).save(path, **kwargs)
    return path


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) or (3, H, W) in [0, 1] -> uint8 (H, W, 3), rounded and clipped."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_uint8 takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    return x.detach().float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
