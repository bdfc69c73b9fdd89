"""nbval runs every notebook; those that need the shared datasets skip loudly where the data root lacks them
(a user's clone without ../shared/data), instead of failing cell by cell."""
from __future__ import annotations

import pytest

from derain_lib.paths import data_root, has_dataset

# What each notebook reads from the data root.
NEEDS = {
    "00_rain_and_metrics.ipynb": ("rain100H", "rain100L", "outdoor_rain_sample", "rain100H_train12", "ddn_pairs",
                                  "real_rainy"),
    "01_equivariance.ipynb": ("clean", "rain100H", "rain100L_subset10"),
    "02_recursive_unfolding.ipynb": ("rain100H", "rain100L_subset10", "real_rainy"),
    "03_distribution_matching.ipynb": ("clean", "real_rainy", "real_rainy_more", "rain100H"),
    "04_heavy_rain_and_super_resolution.ipynb": ("clean", "outdoor_rain_sample", "real_rainy"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        needs = NEEDS.get(item.path.name, ())
        missing = [n for n in needs if not has_dataset(n)]
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"NOTEBOOK SKIPPED: {item.path.name} needs dataset(s) {', '.join(missing)} under "
                       f"{data_root()} (set DERAIN_DATA; see ../shared/data/SOURCES.md)"))
