"""Shared test fixtures, and the one torch thread setting of the whole run.

Tests are CPU-only and seeded; data tests skip loudly when data is absent.  The tiers (markers registered in
pyproject.toml): ``slow`` (end-to-end runs: the CLI training round trip, ONNX exports of every weight, the wheel,
the campaign dry run, the benchmark scripts), ``notebooks`` (nbval and the full-mode smoke), ``browser`` (Chromium).
The fast lane, ``python -m pytest -m "not slow and not notebooks and not browser"``, takes about a minute.
Torch threads: ``DERAIN_TEST_THREADS`` (default 1), set once here and never by a test module at import; pytest-xdist
runs one worker per core (``addopts`` in pyproject.toml), so the cores are used by files in parallel.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ.get("DERAIN_TEST_THREADS", "1")))

from helpers import TinyNet


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def photo():
    """A real photograph bundled with scikit-image (no download needed)."""
    from skimage import data
    return np.ascontiguousarray(data.astronaut()[::2, ::2])  # 256x256x3 uint8


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return TinyNet().eval()
