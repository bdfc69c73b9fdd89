"""Rebuild the demo's example images (synthetic rain over scikit-image photos) inside the package.

    python -m lab.tools.build_examples                 # -> derain_lib/example_images/
    python -m lab.tools.build_examples --out /tmp/ex   # elsewhere

What the images are and how they are made: :mod:`derain_lib.examples`.
"""
from __future__ import annotations

import argparse

from derain_lib.examples import EXAMPLES_DIR, LONG_SIDE, build_examples


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(EXAMPLES_DIR), help="output folder (default: the package's example_images/)")
    ap.add_argument("--long-side", type=int, default=LONG_SIDE)
    args = ap.parse_args(argv)
    for p in build_examples(args.out, args.long_side):
        print(f"{p}  {p.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
