"""Where data and weights live.

The data root is one setting: the ``DERAIN_DATA`` environment variable, else ``../shared/data`` beside the
folder that holds the package (for a clone, beside the checkout; the layout of this project's development
machines).  Nothing from the data root is ever copied into the project.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"

ENV_VAR = "DERAIN_DATA"

# Benchmark sets: evaluation only, never training.
BENCHMARK_SETS = ("rain100H", "rain100L", "rain100L_subset10", "outdoor_rain_sample", "real_rain_gt35")

# Real rainy photos held back from the unlabelled training pool (passed as ``--exclude`` when training the
# shipped weights) so that results can be shown on photos the matching never saw: two light-rain DRN examples,
# two heavy-rain HeavyRainRemoval web photos, four SIRR/Syn2Real photos (people, close-up, street, hazy park).
HELD_OUT_REAL = (
    "real_rainy/rainy/drn_real_14.jpg", "real_rainy/rainy/drn_real_24.jpg",
    "real_rainy/rainy/heavyrain_web_Image1.png", "real_rainy/rainy/heavyrain_web_Image4.png",
    "real_rainy_more/rainy/sirr_real_008.jpg", "real_rainy_more/rainy/sirr_real_049.jpg",
    "real_rainy_more/rainy/sirr_real_117.jpg", "real_rainy_more/rainy/sirr_real_091.jpg",
)


def refuse_test_set(folder: str | Path, advice: str) -> None:
    """Raise ``ValueError`` when ``folder`` (a dataset name or path) is one of the benchmark test sets."""
    name = Path(folder).name
    if name in BENCHMARK_SETS:
        raise ValueError(f"{name} is a benchmark test set: {advice}")


def data_root() -> Path:
    """The data root: ``$DERAIN_DATA``, else ``<clone>/../shared/data`` (two folders above the package)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return (PACKAGE_DIR.parents[1] / "shared" / "data").resolve()


def resolve_dataset(name_or_path: str | Path) -> Path:
    """A dataset folder: a path to a folder, or a name under the data root (``rain100H``), with an explanation
    when it is neither.  Training, evaluation, the lab's scoreboard and the notebooks all find their sets here."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    q = data_root() / p
    if q.is_dir():
        return q
    looked = f"{p}" if q == p else f"{p} and {q}"
    raise FileNotFoundError(
        f"dataset {str(name_or_path)!r} not found (looked at {looked}); set {ENV_VAR} to the folder that holds "
        f"the data sets (see ../shared/data/SOURCES.md for what each set is)"
    )


def has_dataset(name: str) -> bool:
    return (data_root() / name).exists()
