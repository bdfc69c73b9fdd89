"""``python -m derain_demo``: the web demo (the same as ``derain-demo`` and ``python demo_app.py``)."""
from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
