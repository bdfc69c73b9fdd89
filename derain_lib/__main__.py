"""``python -m derain_lib ...``: the command line lives in :mod:`derain_lib.cli` (one module per subcommand)."""
from __future__ import annotations

import sys

from .cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
