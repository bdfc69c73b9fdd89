"""The demo with ``--backend onnxruntime``/``openvino``: the same pixels as PyTorch, whole and tiled, and a clear
error where the package is missing."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gradio", reason="gradio is not installed: the web demo cannot be tested")
torch = pytest.importorskip("torch")

import demo_app
from derain_demo.config import TILE_ABOVE
from derain_lib.backends import available_backends
from derain_lib.models.registry import build_model

TINY = "tiny-drn (untrained)"


def _app(backend: str):
    torch.manual_seed(0)
    tiny = build_model("drn", stages=2, recursions=1, features=8).eval()
    bank = demo_app.ModelBank(weights=[], extra={TINY: tiny}, device="cpu")
    return demo_app.DerainApp(bank, max_pixels=10**7, work_pixels=10**7, backend=backend)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("size", [(67, 91), (801, 1003)])        # odd sizes; the second is tiled (TILE_ABOVE)
def test_backend_gives_the_torch_pixels(backend, size):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed (optional)")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    ref, _, _, how_ref = _app("torch").run(TINY, img)
    out, _, _, how = _app(backend).run(TINY, img)
    assert out.shape == ref.shape == img.shape
    # the graphs agree with PyTorch within 1e-4 on [0, 1] floats (tests/test_export.py); after rounding to
    # 8 bits a value on a rounding edge may land one step apart, nothing more
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.mean(out != ref) < 1e-3
    assert backend in how and "onnx" not in how_ref
    assert ("tiles" in how) == (size[0] * size[1] > TILE_ABOVE)


def test_missing_backend_package_is_named(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ort(name, *a, **kw):
        if name == "onnxruntime":
            raise ImportError("no module named onnxruntime")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        demo_app.build_demo(weights=[], device="cpu", backend="onnxruntime")
