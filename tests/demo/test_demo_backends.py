"""The demo's backends (the Backend dropdown, ``--backend``): ONNX Runtime and OpenVINO give PyTorch's pixels,
whole and tiled, through the handlers and the served ``/derain`` endpoint; only importable backends are offered,
and a missing or unknown one is named in the message."""
from __future__ import annotations

import builtins
import socket

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="gradio is not installed: the web demo cannot be tested")
pytest.importorskip("gradio_client", reason="gradio_client is not installed")
torch = pytest.importorskip("torch")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from derain_demo import DerainApp, ModelBank, build_demo, launch_kwargs
from derain_lib.backends import available_backends
from derain_lib.infer import plan_tiles
from derain_lib.io import read_image, save_image
from derain_lib.models.registry import build_model

# gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

TINY = "tiny-drn (untrained)"


def _tiny():
    torch.manual_seed(0)
    return build_model("drn", stages=2, recursions=1, features=8).eval()


def _without(monkeypatch, package: str):
    """Make ``import package`` fail, as on a machine where it is not installed."""
    real_import = builtins.__import__

    def fake(name, *a, **kw):
        if name == package:
            raise ImportError(f"no module named {package}")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)


def _app(backend: str):
    bank = ModelBank(weights=[], extra={TINY: _tiny()}, device="cpu")
    return DerainApp(bank, max_pixels=10**7, work_pixels=10**7, backend=backend)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("size", [(67, 91), (1101, 961)])  # odd sizes; the second is above 1 MP: tiled
def test_backend_gives_the_torch_pixels(backend, size):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed (optional)")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    ref, _, _, how_ref = _app("torch").run(TINY, img)
    out, _, _, how = _app(backend).run(TINY, img)
    assert out.shape == ref.shape == img.shape
    # the graphs agree with PyTorch within 1e-4 on [0, 1] floats (tests/lib/test_export.py); after rounding to
    # 8 bits a value on a rounding edge may land one step apart, nothing more
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.mean(out != ref) < 1e-3
    assert backend in how and "onnx" not in how_ref
    plan = plan_tiles(*size)  # the library's policy, the one the command line follows
    assert how.startswith(plan.describe()) and how_ref == plan.describe()
    assert ("tiles" in how) == plan.tiled == (size == (1101, 961))


def test_missing_backend_package_is_named(monkeypatch):
    _without(monkeypatch, "onnxruntime")
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        build_demo(weights=[], device="cpu", backend="onnxruntime")


def test_dropdown_offers_only_importable_backends(monkeypatch):
    _without(monkeypatch, "openvino")
    demo = build_demo(weights=[], extra_models={TINY: _tiny()}, device="cpu")
    app = demo.derain_app
    assert isinstance(app, DerainApp)
    assert app.backends == [b for b in ("torch", "onnxruntime") if b in available_backends()]
    dropdown = next(c for c in demo.blocks.values() if getattr(c, "elem_id", None) == "backend")
    assert [v for _, v in dropdown.choices] == app.backends and dropdown.value == "torch"
    assert "openvino" in dropdown.info  # the note says what is missing
    # a request naming the missing one (an API client can) is refused before any image is read
    with pytest.raises(gr.Error, match="pip install openvino"):
        app.derain("never-read.png", [TINY], False, False, "openvino")
    with pytest.raises(gr.Error, match="Unknown backend 'tensorrt'"):
        app.run(TINY, np.zeros((16, 16, 3), np.uint8), backend="tensorrt")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_tiny(tmp_path_factory):
    torch.set_num_threads(1)
    tiny = _tiny()
    demo = build_demo(weights=[], extra_models={TINY: tiny}, device="cpu")
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                            quiet=True, **launch_kwargs())
    client = Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")),
                    analytics_enabled=False)
    try:
        yield client, demo, tiny, tmp_path_factory.mktemp("inputs")
    finally:
        demo.close()


def _derain_endpoint(served, path, backend=None):
    client, demo, _, _ = served
    args = [handle_file(str(path)), [TINY], False, False] + ([backend] if backend else [])
    out = client.predict(*args, api_name="/derain")
    slider = out[1 + demo.derain_app.bank.derain_names.index(TINY)]
    return out[0], np.asarray(Image.open(slider[1]).convert("RGB"))


def test_derain_endpoint_onnxruntime_matches_torch(served_tiny):
    pytest.importorskip("onnxruntime")
    _, _, tiny, tmp = served_tiny
    rng = np.random.default_rng(3)
    path = tmp / "small.png"
    save_image(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8), path)
    md_torch, out_torch = _derain_endpoint(served_tiny, path, "torch")
    md_ort, out_ort = _derain_endpoint(served_tiny, path, "onnxruntime")
    _, out_default = _derain_endpoint(served_tiny, path)  # a client that names no backend gets torch
    assert "onnxruntime" in md_ort and "onnxruntime" not in md_torch
    np.testing.assert_array_equal(out_default, out_torch)
    with torch.inference_mode():  # PyTorch's float output, before the 8-bit rounding of the PNG
        x = torch.from_numpy(read_image(path).copy()).permute(2, 0, 1)[None].float() / 255
        ref = tiny(x)[0].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float64)
    # ONNX Runtime's PNG is the rounding of values within 1e-4 of PyTorch's ...
    assert np.abs(out_ort / 255.0 - ref).max() <= 0.5 / 255 + 1e-4
    # ... so wherever PyTorch's value is more than 1e-4 away from a rounding edge, the pixels are the same
    away = np.abs((ref * 255) % 1 - 0.5) > 255 * 1e-4
    assert away.mean() > 0.9
    np.testing.assert_array_equal(out_ort[away], out_torch[away])


def test_derain_endpoint_names_an_unknown_backend(served_tiny):
    _, _, _, tmp = served_tiny
    path = tmp / "tiny.png"
    save_image(np.full((16, 16, 3), 128, np.uint8), path)
    with pytest.raises(AppError, match="Unknown backend 'tensorrt'"):
        _derain_endpoint(served_tiny, path, "tensorrt")
