"""Generated blocks in Markdown files: the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

The one splicing helper of the lab: the scoreboard's README blocks, the notebook times and the benchmark tables
are all written through it, so that every generated block has the same markers and the same rules.
"""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["block", "markers", "splice", "write_block"]


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def splice(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``name``'s markers replaced by ``body``; ValueError if they are missing."""
    begin, end = markers(name)
    m = re.search(re.escape(begin) + r"\n?(.*?)" + re.escape(end), text, flags=re.DOTALL)
    if not m:
        raise ValueError(f"markers {begin} ... {end} not found")
    return text[:m.start()] + begin + "\n" + body.strip() + "\n" + end + text[m.end():]


def block(text: str, name: str) -> str | None:
    """What lies between ``name``'s markers (without the surrounding newlines), or None without the markers."""
    begin, end = markers(name)
    m = re.search(re.escape(begin) + r"\n?(.*?)\n?" + re.escape(end), text, flags=re.DOTALL)
    return m.group(1) if m else None


def write_block(path: str | Path, name: str, body: str, append: bool = False) -> None:
    """Replace block ``name`` of the file at ``path`` by ``body``.  Without the markers: append the block when
    ``append`` (a new section), else raise ValueError (a generated block that vanished is an error)."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if block(text, name) is None:
        if not append:
            raise ValueError(f"{path}: markers {' ... '.join(markers(name))} not found")
        begin, end = markers(name)
        text = text.rstrip("\n") + ("\n\n" if text else "") + f"{begin}\n{body.strip()}\n{end}\n"
    else:
        text = splice(text, name, body)
    path.write_text(text)
