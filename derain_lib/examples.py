"""Example images that the project makes itself: synthetic rain over scikit-image's bundled photographs.

The clean photographs come with scikit-image (``skimage.data``; no download): ``astronaut`` (NASA, public
domain), ``coffee`` (Rachel Michetti, CC0), ``chelsea`` (Stefan van der Walt, CC0) and ``rocket`` (SpaceX,
public domain).  Each is resized so that its longer side is ``LONG_SIDE`` pixels (Lanczos), stored as JPEG,
and the rainy version is made from the *decoded* JPEG with :func:`derain_lib.rain.add_rain` and a fixed seed,
then stored as lossless PNG.  So every ``NAME_rainy.png`` / ``NAME_clean.jpg`` pair is exact: the only
difference between the two decoded images is the synthetic rain, and PSNR/SSIM against the clean file measure
exactly what a model removed.

The demo (``demo_app.py``) and the tests use these files.  They live inside the package, in
``derain_lib/example_images/`` (package data, a few hundred KB in all), so that an installed wheel has them too;
``python -m lab.tools.build_examples`` (a maintainers' tool) rebuilds them with :func:`build_examples`.

:func:`real_examples` lists *real* rainy photos from the shared data root (``real_rainy/``, ``real_rainy_more/``;
never copied into the project), which the demo offers first when they are present: the photos that
``msnet-semi``'s feature matching never saw (:data:`derain_lib.paths.HELD_OUT_REAL`), so no shipped model
has seen them. :func:`demo_examples` chooses between the two.
"""
from __future__ import annotations

import io as _io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .paths import PACKAGE_DIR

# Package data (see [tool.setuptools.package-data] in pyproject.toml): found the same way in a checkout and in an
# installed wheel.  Not "examples/": that name would clash with this module.
EXAMPLES_DIR = PACKAGE_DIR / "example_images"
LONG_SIDE = 320
JPEG_QUALITY = 92


@dataclass(frozen=True)
class Example:
    """One example: which ``skimage.data`` photo, and the rain drawn over it (``add_rain`` keyword args)."""

    name: str
    photo: str
    title: str
    rain: dict = field(default_factory=dict)


# The four kinds of rain a user asks about: light vertical, heavy tilted, rain with haze, long steep streaks.
# Every add_rain argument is spelled out, so that a change of its defaults cannot silently change the examples.
_FIXED = {"blur": 0.5, "atmospheric_light": 0.85}
EXAMPLES: tuple[Example, ...] = (
    Example("astronaut", "astronaut", "light vertical rain",
            dict(angle=0.0, density=0.001, length=20.0, width=0.7, brightness=0.35, layers=1, spread=15.0,
                 haze=0.0, **_FIXED, seed=1)),
    Example("coffee", "coffee", "heavier rain tilted 30 degrees",
            dict(angle=30.0, density=0.0012, length=30.0, width=0.9, brightness=0.5, layers=1, spread=15.0,
                 haze=0.0, **_FIXED, seed=2)),
    Example("chelsea", "chelsea", "rain in three directions with haze",
            dict(angle=-10.0, density=0.0007, length=35.0, width=0.8, brightness=0.45, layers=3, spread=12.0,
                 haze=0.2, **_FIXED, seed=3)),
    Example("rocket", "rocket", "long streaks tilted -20 degrees",
            dict(angle=-20.0, density=0.001, length=50.0, width=0.8, brightness=0.45, layers=1, spread=15.0,
                 haze=0.0, **_FIXED, seed=4)),
)


def clean_photo(photo: str, long_side: int | None = LONG_SIDE) -> np.ndarray:
    """A ``skimage.data`` photograph as uint8 RGB, resized so its longer side is ``long_side`` (None: as is)."""
    import skimage.data

    if not hasattr(skimage.data, photo):
        raise ValueError(f"skimage.data has no photo {photo!r}")
    arr = np.asarray(getattr(skimage.data, photo)())
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = arr[..., :3].astype(np.uint8)
    if long_side is not None:
        h, w = arr.shape[:2]
        s = long_side / max(h, w)
        if s != 1:
            size = (max(1, round(w * s)), max(1, round(h * s)))
            arr = np.asarray(Image.fromarray(arr).resize(size, Image.LANCZOS))
    return arr


def _jpeg_roundtrip(arr: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    data = buf.getvalue()
    return data, np.asarray(Image.open(_io.BytesIO(data)).convert("RGB"))


def build_examples(out_dir: str | Path, long_side: int = LONG_SIDE) -> list[Path]:
    """Write ``NAME_clean.jpg`` and ``NAME_rainy.png`` for every entry of :data:`EXAMPLES`; return the paths."""
    from .rain import add_rain

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in EXAMPLES:
        jpeg, clean = _jpeg_roundtrip(clean_photo(ex.photo, long_side), JPEG_QUALITY)
        rainy = add_rain(clean, **ex.rain)
        cpath, rpath = out / f"{ex.name}_clean.jpg", out / f"{ex.name}_rainy.png"
        cpath.write_bytes(jpeg)
        Image.fromarray(np.asarray(rainy, dtype=np.uint8)).save(rpath, optimize=True)
        written += [cpath, rpath]
    return written


def example_pairs(folder: str | Path = EXAMPLES_DIR) -> list[tuple[Path, Path, str]]:
    """``(rainy, clean, title)`` for every example present in ``folder`` (in :data:`EXAMPLES` order)."""
    folder = Path(folder)
    pairs = []
    for ex in EXAMPLES:
        r, c = folder / f"{ex.name}_rainy.png", folder / f"{ex.name}_clean.jpg"
        if r.exists() and c.exists():
            pairs.append((r, c, ex.title))
    return pairs


def example_cleans(folder: str | Path = EXAMPLES_DIR) -> list[Path]:
    """The clean example photos present in ``folder`` (inputs for rain synthesis)."""
    return [c for _, c, _ in example_pairs(folder)]


# Real photos offered by the demo (paths under the data root), with what they show.  A subset of HELD_OUT_REAL
# (tested to stay one): sirr_real_008, a film still, is left out of the demo's examples.
REAL_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("real_rainy/rainy/heavyrain_web_Image1.png", "street and parked car, heavy rain"),
    ("real_rainy/rainy/drn_real_14.jpg", "palm leaves, light rain"),
    ("real_rainy_more/rainy/sirr_real_049.jpg", "walking in the rain"),
    ("real_rainy/rainy/drn_real_24.jpg", "trees, dense rain"),
    ("real_rainy/rainy/heavyrain_web_Image4.png", "statue, rain and haze"),
    ("real_rainy_more/rainy/sirr_real_117.jpg", "tulip close-up"),
    ("real_rainy_more/rainy/sirr_real_091.jpg", "park in hazy rain"),
)


def real_examples(root: str | Path | None = None) -> list[tuple[Path, str]]:
    """``(path, title)`` of the :data:`REAL_EXAMPLES` present under the data root (``root`` or ``data_root()``)."""
    from .paths import data_root

    base = Path(root) if root is not None else data_root()
    return [(base / rel, f"real photo: {title}") for rel, title in REAL_EXAMPLES if (base / rel).is_file()]


def demo_examples(folder: str | Path = EXAMPLES_DIR, root: str | Path | None = None
                  ) -> tuple[str, list[tuple[Path, Path | None, str]]]:
    """What the demo's Derain tab offers: ``("real", [(photo, None, title)])`` when real rainy photos are in the
    data root, else ``("synthetic", [(rainy, clean, title)])`` from ``folder`` (empty if neither exists)."""
    real = real_examples(root)
    if real:
        return "real", [(p, None, t) for p, t in real]
    return "synthetic", example_pairs(folder)
