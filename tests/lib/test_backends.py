"""Inference backends (derain_lib.backends): torch, onnxruntime, openvino behind derain() and run_model().

ONNX Runtime and OpenVINO are optional packages: their tests skip where the package is missing.  Small random
models keep the exports quick; every comparison is against the PyTorch model on the same input.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pytest
import torch

from derain_lib import build_model, derain
from derain_lib.backends import BACKENDS, get_runner, require_backend
from derain_lib.cli.common import add_backend_argument
from derain_lib.infer import run_model

TOL = 1e-4
RUNTIMES = ["onnxruntime", "openvino"]


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    """Exported graphs go to a temporary cache, not the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DERAIN_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def _runtime(name):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    pytest.importorskip(name)


def _tiny(arch, seed=0, **cfg):
    torch.manual_seed(seed)
    return build_model(arch, **cfg).eval()


MODELS = {
    "drn": {"stages": 2, "recursions": 1, "features": 8},
    "sdsen": {"stages": 2, "channels": 2, "num_layers": 2, "kernel_size": 3},
    "msnet": {"channels": 4, "units": 1, "match_blocks": 1},
    "derain_sr": {"scale": 2, "features": 8, "n_rcab": 1, "rcab_reduction": 4, "stage1_features": 4,
                  "dense_growth": 4, "dense_layers": 1, "unet_features": 4, "unet_depth": 1},
}


def test_unknown_and_missing_backend(monkeypatch):
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'; choose one of torch, onnxruntime, openvino"):
        require_backend("tensorrt")
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown backend"):
        derain(img, _tiny("drn", **MODELS["drn"]), backend="tensorrt")
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed: import raises ImportError
    with pytest.raises(ImportError, match="pip install openvino"):
        derain(img, _tiny("drn", **MODELS["drn"]), backend="openvino")


def test_backend_argument():
    p = argparse.ArgumentParser()
    add_backend_argument(p)
    assert p.parse_args([]).backend == "torch"
    assert p.parse_args(["--backend", "openvino"]).backend == "openvino"
    with pytest.raises(SystemExit):
        p.parse_args(["--backend", "tflite"])
    assert BACKENDS == ("torch", "onnxruntime", "openvino")


@pytest.mark.parametrize("backend", RUNTIMES)
@pytest.mark.parametrize("arch", sorted(MODELS))
def test_backend_matches_torch(arch, backend):
    _runtime(backend)
    model = _tiny(arch, **MODELS[arch])
    x = torch.rand(1, 3, 27, 35, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = model(x)
    out = get_runner(model, backend, threads=1)(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= TOL


@pytest.mark.parametrize("backend", ["torch"] + RUNTIMES)
def test_tiled_equals_whole_with_every_backend(backend):
    if backend != "torch":
        _runtime(backend)
    model = _tiny("drn", stages=1, recursions=1, features=8)  # receptive field 4 + 4 = 8 px < overlap // 2
    x = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(2))
    runner = get_runner(model, backend, threads=1)
    whole = run_model(runner, x)
    tiled = run_model(runner, x, tile=24, overlap=20)
    assert float((tiled - whole).abs().max()) <= TOL
    with torch.inference_mode():
        assert float((whole - model(x)).abs().max()) <= TOL


@pytest.mark.parametrize("backend", RUNTIMES)
def test_derain_uint8_with_backend_and_threads(backend):
    _runtime(backend)
    model = _tiny("msnet", **MODELS["msnet"])
    img = (np.random.default_rng(0).random((33, 45, 3)) * 255).astype(np.uint8)
    ref = derain(img, model)
    out = derain(img, model, backend=backend, threads=2)
    assert out.dtype == np.uint8 and out.shape == ref.shape
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1  # float differences of 1e-6 may round apart
    tiny = (np.random.default_rng(1).random((3, 3, 3)) * 255).astype(np.uint8)  # below the graph's pad limit
    np.testing.assert_array_equal(derain(tiny, model, backend=backend), derain(tiny, model))


def test_sessions_cached_per_weights_backend_threads():
    _runtime("onnxruntime")
    model = _tiny("drn", **MODELS["drn"])
    r1 = get_runner(model, "onnxruntime", threads=1)
    assert get_runner(model, "onnxruntime", threads=1) is r1
    assert get_runner(model, "onnxruntime", threads=2) is not r1
    other = _tiny("drn", seed=5, **MODELS["drn"])
    assert get_runner(other, "onnxruntime", threads=1) is not r1  # other weights, other graph
    with pytest.raises(ValueError, match="threads"):
        get_runner(model, "onnxruntime", threads=0)
