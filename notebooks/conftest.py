"""nbval runs every notebook (marked ``notebooks``); those that need the shared datasets skip loudly where the data
root lacks them (a user's clone without ../shared/data), instead of failing cell by cell."""
from __future__ import annotations

import pytest
from notebook_data import NEEDS  # tests/ is on pytest's pythonpath (pyproject.toml)

from derain_lib.paths import data_root, has_dataset


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix != ".ipynb":
            continue
        item.add_marker(pytest.mark.notebooks)
        needs = NEEDS.get(item.path.name, ())
        missing = [n for n in needs if not has_dataset(n)]
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"NOTEBOOK SKIPPED: {item.path.name} needs dataset(s) {', '.join(missing)} under "
                       f"{data_root()} (set DERAIN_DATA; see ../shared/data/SOURCES.md)"))
