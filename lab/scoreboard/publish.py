"""Write every output of ``scoreboard --write``: the JSON the demo reads, docs/scoreboard.md, the plot and the
README's generated blocks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .plot import plot
from .protocol import JSON_PATH, MD_PATH, PNG_PATH, README_PATH
from .readme import update_readme
from .render import to_json, to_markdown


def write(board: dict[str, Any], json_path: str | Path = JSON_PATH, md_path: str | Path = MD_PATH,
          png_path: str | Path | None = PNG_PATH, readme_path: str | Path | None = README_PATH) -> list[Path]:
    """The paths written, in the order JSON, Markdown, plot (when ``png_path``), README (when its blocks exist)."""
    out = []
    jp = Path(json_path)
    jp.parent.mkdir(parents=True, exist_ok=True)
    jp.write_text(json.dumps(to_json(board), indent=1) + "\n")
    out.append(jp)
    mp = Path(md_path)
    mp.parent.mkdir(parents=True, exist_ok=True)
    mp.write_text(to_markdown(board))
    out.append(mp)
    if png_path:
        out.append(plot(board, png_path))
    if readme_path is not None and update_readme(board, readme_path):
        out.append(Path(readme_path))
    return out
