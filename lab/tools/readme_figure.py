"""Make the README's before/after picture: a real rainy photo and the recommended weights' output on it.

    python -m lab.tools.readme_figure                       # -> assets/readme/before_after.jpg
    python -m lab.tools.readme_figure --photo drn_real_21.jpg --weights drn-light

The photo is read from the data root (``DERAIN_DATA``, fallback ``../shared/data``), folder ``real_rainy/rainy``;
the weights default to the scoreboard's pick for real photos (``recommended.real_photos`` in
``derain_lib/weights/scoreboard.json``), so the picture always shows what the demo would preselect.  The output is
the two images side by side, each labelled, downscaled to ``--width`` pixels in all.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from derain_lib import derain, load_model, read_image
from derain_lib.paths import WEIGHTS_DIR, data_root
from lab import ROOT

DEFAULT_PHOTO = "drn_real_14.jpg"
OUT = ROOT / "assets" / "readme" / "before_after.jpg"


def recommended_weights() -> str:
    board = json.loads((WEIGHTS_DIR / "scoreboard.json").read_text())
    return board["recommended"]["real_photos"]


def _label(img: Image.Image, text: str) -> Image.Image:
    draw = ImageDraw.Draw(img)
    box = draw.textbbox((0, 0), text)
    pad = 6
    draw.rectangle((0, 0, box[2] + 2 * pad, box[3] + 2 * pad), fill=(0, 0, 0))
    draw.text((pad, pad), text, fill=(255, 255, 255))
    return img


def side_by_side(rainy: np.ndarray, clean: np.ndarray, left: str, right: str, width: int) -> Image.Image:
    gap = 8
    h, w = rainy.shape[:2]
    scale = min(1.0, (width - gap) / (2 * w))
    size = (round(w * scale), round(h * scale))
    a = _label(Image.fromarray(rainy).resize(size, Image.LANCZOS), left)
    b = _label(Image.fromarray(clean).resize(size, Image.LANCZOS), right)
    out = Image.new("RGB", (2 * size[0] + gap, size[1]), (255, 255, 255))
    out.paste(a, (0, 0))
    out.paste(b, (size[0] + gap, 0))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default=DEFAULT_PHOTO, help="file name under real_rainy/rainy of the data root")
    ap.add_argument("--weights", default=None, help="shipped weight name (default: the scoreboard's real-photo pick)")
    ap.add_argument("--width", type=int, default=960, help="width of the whole picture in pixels")
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    photo = data_root() / "real_rainy" / "rainy" / args.photo
    if not photo.is_file():
        print(f"error: {photo} not found (set DERAIN_DATA to the folder that holds real_rainy/)", file=sys.stderr)
        return 2
    name = args.weights or recommended_weights()
    rainy = read_image(photo)
    clean = derain(rainy, load_model(name))
    pic = side_by_side(rainy, clean, f"real rainy photo ({args.photo})", f"derained: {name}", args.width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pic.save(args.out, quality=88)
    print(f"wrote {args.out} ({pic.width}x{pic.height}) from {photo.name} with {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
