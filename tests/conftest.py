"""Shared test fixtures. Tests are CPU-only, seeded and fast; data tests skip loudly when data is absent."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ.get("DERAIN_TEST_THREADS", "2")))

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
