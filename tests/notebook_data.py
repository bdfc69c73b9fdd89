"""What each notebook reads from the data root: the notebooks' nbval run and their full-mode smoke skip a notebook
whose datasets are missing, with the reason, instead of failing cell by cell."""
from __future__ import annotations

# What each notebook reads from the data root.
NEEDS = {
    "00_rain_and_metrics.ipynb": ("rain100H", "rain100L", "outdoor_rain_sample", "rain100H_train12", "ddn_pairs",
                                  "real_rainy"),
    "01_equivariance.ipynb": ("clean", "rain100H", "rain100L_subset10"),
    "02_recursive_unfolding.ipynb": ("rain100H", "rain100L_subset10", "real_rainy"),
    "03_distribution_matching.ipynb": ("clean", "real_rainy", "real_rainy_more", "rain100H"),
    "04_heavy_rain_and_super_resolution.ipynb": ("clean", "outdoor_rain_sample", "real_rainy"),
}
