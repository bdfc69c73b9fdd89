"""Per-image results on disk, so a run evaluates only what no earlier run measured."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .methods import Method
from .protocol import PROTOCOL, set_fingerprint


class Cache:
    """Per-image results, ``<dir>/<method key>.json``:
    ``{"key", "fingerprint", "protocol", "sets": {"<set>|<set fingerprint>": {"<image name>": row}}}``.

    ``fingerprint`` is the weight file's sha256: results of another file (an older weight) are ignored and dropped
    at the next write.  A subset's figures are assembled from the per-image rows, so every5 reuses every20's images
    and all reuses both; an interrupted run keeps what it measured.  ``directory`` None: in memory only."""

    def __init__(self, directory: str | Path | None):
        self.dir = Path(directory) if directory else None
        self.computed: list[str] = []   # "<method>|<set>|<image>" evaluated (not read from the cache) by this object
        self._mem: dict[str, dict[str, Any]] = {}

    def _file(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def _load(self, m: Method) -> dict[str, Any]:
        if m.key in self._mem and self._mem[m.key]["fingerprint"] == m.fingerprint:
            return self._mem[m.key]
        d: dict[str, Any] = {}
        if self.dir is not None and self._file(m.key).exists():
            d = json.loads(self._file(m.key).read_text())
        if d.get("fingerprint") != m.fingerprint or d.get("protocol") != PROTOCOL:
            d = {"key": m.key, "fingerprint": m.fingerprint, "protocol": PROTOCOL, "info": m.info, "sets": {}}
        self._mem[m.key] = d
        return d

    @staticmethod
    def set_key(set_name: str) -> str:
        return f"{set_name}|{set_fingerprint(set_name)}"

    def rows(self, m: Method, set_name: str) -> dict[str, Any]:
        return self._load(m)["sets"].get(self.set_key(set_name), {})

    def put(self, m: Method, set_name: str, name: str, row: dict[str, Any]) -> None:
        self.computed.append(f"{m.key}|{set_name}|{name}")
        d = self._load(m)
        d["sets"].setdefault(self.set_key(set_name), {})[name] = row
        if self.dir is None:
            return
        if self._file(m.key).exists():  # merge what another process wrote meanwhile (several runs may share it)
            try:
                disk = json.loads(self._file(m.key).read_text())
            except json.JSONDecodeError:
                disk = {}
            if disk.get("fingerprint") == m.fingerprint and disk.get("protocol") == PROTOCOL:
                for k, rows in disk.get("sets", {}).items():
                    for n, r in rows.items():
                        d["sets"].setdefault(k, {}).setdefault(n, r)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._file(m.key).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(d, indent=0, sort_keys=True))
        tmp.replace(self._file(m.key))
