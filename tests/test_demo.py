"""The web demo through its public API: ``gradio_client`` against the app served on a free loopback port.

The app is launched with ``prevent_thread_lock=True`` (as gradio's own test/conftest.py does) and every call goes
through HTTP, the queue, Gradio's pre/post-processing and the PNG encoding that a browser user gets. Expected
values are computed here independently: pixels by calling the model directly, PSNR with a float64 BT.601 formula
written out below (not ``derain_lib.metrics``).

Models: the shipped weights when there are any (one deraining weight file, to keep CPU time small), plus a tiny
*untrained* DRN (2 stages, 1 recursion, 8 features) that is always there for the size/format tests and that is
the only model when no weights are shipped yet. CPU only, one torch thread; the whole file takes well under 60 s.
"""
from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="gradio is not installed: the web demo cannot be tested")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed")
torch = pytest.importorskip("torch")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

import demo_app  # noqa: E402
from derain_lib import checkpoint, examples, paths  # noqa: E402
from derain_lib.io import read_image  # noqa: E402
from derain_lib.models.registry import build_model  # noqa: E402

# gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

TINY = "tiny-drn (untrained)"
TINY_SR = "tiny-derain_sr x2 (untrained)"
MAX_MP, WORK_MP = 4.0, 0.25


# ---------------------------------------------------------------------------------------------------- helpers
def psnr_y_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Independent Y-PSNR: MATLAB rgb2ycbcr luma (16-235) in float64, on 0-255."""
    w = np.array([65.481, 128.553, 24.966]) / 255.0
    ya = a.astype(np.float64) @ w + 16.0
    yb = b.astype(np.float64) @ w + 16.0
    mse = np.mean((ya - yb) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def psnr_rgb_reference(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def load_png(path) -> np.ndarray:
    assert str(path).lower().endswith(".png"), f"result should be lossless PNG, got {path}"
    return np.asarray(Image.open(path).convert("RGB"))


def run_model(model, img: np.ndarray) -> np.ndarray:
    """The expected output, computed directly (no tiling, no Gradio)."""
    with torch.inference_mode():
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
        y = model(x)
    return (y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table_rows(value) -> dict[str, list]:
    """gradio_client returns a Dataframe as {'headers': [...], 'data': [[...], ...]}."""
    assert value["headers"][:5] == demo_app.METRIC_HEADERS, value["headers"]
    return {row[0]: row[1:5] for row in value["data"]}


def real_rainy_photo() -> Path:
    """A small real rainy photo from the data root if present, else a generated example."""
    folder = paths.data_root() / "real_rainy" / "rainy"
    if folder.is_dir():
        sizes = []
        for p in sorted(folder.iterdir()):
            try:
                with Image.open(p) as im:
                    sizes.append((im.width * im.height, p))
            except OSError:
                continue
        small = [p for n, p in sorted(sizes) if n <= WORK_MP * 1e6]
        if small:
            return small[0]
    return examples.example_pairs()[0][0]


def reference_pair() -> tuple[Path, Path]:
    """A (rainy, clean) pair: the first Rain100L image when staged, else a generated example."""
    root = paths.data_root() / "rain100L_subset10"
    if (root / "rainy").is_dir() and (root / "clean").is_dir():
        names = sorted(p.name for p in (root / "rainy").iterdir())
        if names:
            return root / "rainy" / names[0], root / "clean" / names[0]
    rainy, clean, _ = examples.example_pairs()[0]
    return rainy, clean


# ---------------------------------------------------------------------------------------------------- the app
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    torch.set_num_threads(1)
    if not examples.example_pairs():
        pytest.fail("assets/examples/ is empty: run `python -m derain_lib.examples`")
    bank = demo_app.ModelBank(device="cpu")
    shipped = bank.derain_names
    preferred = [n for n in shipped if n.startswith("drn")] or shipped
    weights = preferred[:1] + bank.sr_names[:1]
    torch.manual_seed(0)
    tiny = build_model("drn", stages=2, recursions=1, features=8).eval()
    extra = {TINY: tiny}
    if not bank.sr_names:  # exercise the SR tab with a tiny untrained joint model until weights are shipped
        extra[TINY_SR] = build_model("derain_sr", scale=2, features=8, n_rcab=1, dense_layers=2,
                                     unet_features=4).eval()
    demo = demo_app.build_demo(weights=weights, extra_models=extra, device="cpu",
                               max_megapixels=MAX_MP, work_megapixels=WORK_MP)
    kwargs = demo_app.launch_kwargs()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                            quiet=True, **kwargs)
    client = Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")),
                    analytics_enabled=False)
    main = preferred[0] if preferred else TINY
    models = {TINY: tiny}
    if preferred:
        models[main] = checkpoint.load_model(main, device="cpu")
    try:
        yield {"client": client, "demo": demo, "main": main, "models": models, "url": url,
               "n_sliders": len(demo.derain_app.bank.derain_names), "tmp": tmp_path_factory.mktemp("inputs")}
    finally:
        demo.close()


def derain(served, path, models, full_res=False, stages=False):
    """Call /derain; return (markdown, {model: (before, after)}, gallery, files)."""
    out = served["client"].predict(handle_file(str(path)), models, full_res, stages, api_name="/derain")
    n = served["n_sliders"]
    md, sliders, gallery, files = out[0], out[1:1 + n], out[1 + n], out[2 + n]
    names = served["demo"].derain_app.bank.derain_names
    got = {name: (load_png(s[0]), load_png(s[1])) for name, s in zip(names, sliders) if s}
    return md, got, gallery, files


# ---------------------------------------------------------------------------------------------------- tests
def test_examples_are_exact_pairs():
    """Each committed example is its clean photo plus the library's rain, nothing else (so PSNR is exact)."""
    from derain_lib.rain import add_rain

    pairs = examples.example_pairs()
    assert len(pairs) == len(examples.EXAMPLES)
    for ex, (rainy_p, clean_p, _) in zip(examples.EXAMPLES, pairs):
        rainy, clean = read_image(rainy_p), read_image(clean_p)
        again = add_rain(clean, **ex.rain)
        diff = np.abs(again.astype(int) - rainy.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, ex.name  # float rounding across CPUs at most
        assert psnr_y_reference(rainy, clean) < 35, ex.name  # and the rain is visible


def test_api_names_are_explicit(served):
    info = served["client"].view_api(print_info=False, return_format="dict")
    names = set(info["named_endpoints"])
    assert {"/derain", "/measure", "/add_rain", "/synthesize", "/make_lr_rainy", "/derain_sr"} <= names, names


def test_listens_on_loopback_only(served):
    assert served["url"].startswith("http://127.0.0.1:"), served["url"]
    assert not served["demo"].share
    assert served["demo"]._queue.max_size == demo_app.QUEUE_SIZE  # a bounded request queue


def test_command_line_defaults_are_safe():
    args = demo_app.parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.device == "auto"
    args = demo_app.parse_args(["--host", "0.0.0.0", "--port", "8080", "--share", "--max-size", "8"])
    assert (args.host, args.port, args.share, args.max_size) == ("0.0.0.0", 8080, True, 8.0)


def test_derain_real_photo_lossless(served):
    path = real_rainy_photo()
    name = served["main"]
    md, got, _, files = derain(served, path, [name])
    img = read_image(path)
    assert img.shape[0] * img.shape[1] <= WORK_MP * 1e6, "pick a photo below the working size for this test"
    before, after = got[name]
    np.testing.assert_array_equal(before, img)  # the slider's "before" is the input, pixel for pixel
    expected = run_model(served["models"][name], img)
    assert after.shape == img.shape
    assert np.abs(after.astype(int) - expected.astype(int)).max() <= 1  # rounding only; PNG is lossless
    assert len(files) == 1
    np.testing.assert_array_equal(load_png(files[0]), after)  # the download is the displayed result
    assert name in md and " s |" in md  # run time is reported


def test_several_models_and_stages(served):
    names = [served["main"], TINY] if served["main"] != TINY else [TINY]
    rainy, _, _ = examples.example_pairs()[1]
    md, got, gallery, files = derain(served, rainy, names, stages=True)
    assert set(got) == set(names) and len(files) == len(names)
    tiny_stages = [g for g in gallery if g["caption"].startswith(TINY)]
    assert len(tiny_stages) == 2, gallery  # the tiny DRN has T = 2 stages
    last = load_png(tiny_stages[-1]["image"])
    np.testing.assert_array_equal(last, got[TINY][1])  # the last stage is the output


def test_measure_against_reference(served):
    rainy_p, clean_p = reference_pair()
    name = TINY  # the metric path is the same for every model; the shipped one is exercised above (CPU time)
    table, md = served["client"].predict(handle_file(str(rainy_p)), handle_file(str(clean_p)), [name], False,
                                         api_name="/measure")
    rows = table_rows(table)
    rainy, clean = read_image(rainy_p), read_image(clean_p)
    assert rows["input (rainy)"][0] == pytest.approx(psnr_y_reference(rainy, clean), abs=0.006)
    assert rows["input (rainy)"][2] == pytest.approx(psnr_rgb_reference(rainy, clean), abs=0.006)
    out = run_model(served["models"][name], rainy)
    assert rows[name][0] == pytest.approx(psnr_y_reference(out, clean), abs=0.02)
    assert 0 < rows[name][1] <= 1 and 0 < rows[name][3] <= 1
    assert "Y" in md and "RGB" in md and "BT.601" in md  # the convention is labelled


def test_measure_rejects_mismatched_reference(served):
    rainy_p, _, _ = examples.example_pairs()[0]
    _, other_clean, _ = examples.example_pairs()[1]
    with pytest.raises(AppError, match="same size"):
        served["client"].predict(handle_file(str(rainy_p)), handle_file(str(other_clean)), [TINY], False,
                                 api_name="/measure")


def test_synthesize_rain_and_measure(served):
    from derain_lib.rain import add_rain

    clean_p = examples.example_cleans()[2]
    params = dict(angle=35, density=2.0, length=30, layers=2, haze=0.1, seed=7)
    rainy_path = served["client"].predict(handle_file(str(clean_p)), *params.values(), api_name="/add_rain")
    rainy = load_png(rainy_path)
    clean = read_image(clean_p)
    expected = add_rain(clean, angle=35, density=0.002, length=30, layers=2, haze=0.1, seed=7)
    np.testing.assert_array_equal(rainy, expected)  # what the page shows is exactly the library's rain
    assert psnr_y_reference(rainy, clean) < 35  # and there is visible rain

    out = served["client"].predict(handle_file(str(clean_p)), *params.values(), [TINY], api_name="/synthesize")
    rows = table_rows(out[1])
    assert rows["rainy input"][0] == pytest.approx(psnr_y_reference(rainy, clean), abs=0.006)
    assert TINY in rows


@pytest.mark.parametrize("kind", ["text", "truncated", "empty"])
def test_bad_file_gives_readable_error_and_app_keeps_serving(served, kind):
    tmp = served["tmp"]
    if kind == "text":
        bad = tmp / "notes.png"
        bad.write_text("this is not an image\n")
    elif kind == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, format="PNG")
        bad = tmp / "truncated.png"
        bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    else:
        bad = tmp / "empty.jpg"
        bad.write_bytes(b"")
    with pytest.raises(AppError) as info:
        served["client"].predict(handle_file(str(bad)), [TINY], False, False, api_name="/derain")
    msg = str(info.value).lower()
    assert any(w in msg for w in ("not an image", "corrupt", "truncated", "empty", "cannot")), msg
    # the app keeps serving
    rainy, _, _ = examples.example_pairs()[0]
    _, got, _, _ = derain(served, rainy, [TINY])
    assert TINY in got


def test_huge_image_is_refused_with_a_clear_message(served):
    big = served["tmp"] / "huge.png"
    Image.new("RGB", (2500, 2000), (90, 120, 160)).save(big)  # 5 MP > the 4 MP limit; a flat PNG is tiny
    with pytest.raises(AppError, match=r"(?i)limit"):
        served["client"].predict(handle_file(str(big)), [TINY], False, False, api_name="/derain")


def test_large_image_downscaled_with_note_or_tiled(served):
    rng = np.random.default_rng(0)
    arr = (rng.random((771, 781, 3)) * 255).astype(np.uint8)  # 0.6 MP: above the 0.25 MP working size and the
    # 768x768 tiling threshold; odd sizes
    path = served["tmp"] / "large.png"
    Image.fromarray(arr).save(path)
    md, got, _, _ = derain(served, path, [TINY])
    before, after = got[TINY]
    assert before.shape[0] * before.shape[1] <= WORK_MP * 1e6 and after.shape == before.shape
    assert "downscaled" in md
    md, got, _, _ = derain(served, path, [TINY], full_res=True)  # every pixel, in overlapping tiles
    before, after = got[TINY]
    np.testing.assert_array_equal(before, arr)
    assert after.shape == arr.shape and "px tiles" in md
    expected = run_model(served["models"][TINY], arr)
    # tiles with a 32 px overlap: the tiny model's receptive field is smaller, so tiling changes (almost) nothing
    assert np.abs(after.astype(int) - expected.astype(int)).mean() < 0.5


def _odd_inputs(tmp: Path) -> dict[str, tuple[Path, np.ndarray]]:
    rng = np.random.default_rng(1)
    base = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    out = {}
    g16 = (rng.random((41, 29)) * 65535).astype(np.uint16)
    p = tmp / "gray16.png"
    Image.fromarray(g16).save(p)
    out["gray16"] = (p, None)
    p = tmp / "rgba.png"
    Image.fromarray(np.dstack([base, np.full(base.shape[:2], 200, np.uint8)]), "RGBA").save(p)
    out["rgba"] = (p, None)
    p = tmp / "gray8.png"
    Image.fromarray(base[..., 0]).save(p)
    out["gray8"] = (p, np.repeat(base[..., :1], 3, axis=2))
    p = tmp / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(base).save(p, exif=exif.tobytes(), quality=95)
    out["exif_rotated"] = (p, None)
    return out


@pytest.mark.parametrize("kind", ["gray16", "rgba", "gray8", "exif_rotated"])
def test_unusual_formats(served, kind):
    path, exact = _odd_inputs(served["tmp"])[kind]
    _, got, _, _ = derain(served, path, [TINY])
    before, after = got[TINY]
    expected_in = read_image(path)
    np.testing.assert_array_equal(before, expected_in)
    if exact is not None:
        np.testing.assert_array_equal(before, exact)
    if kind == "exif_rotated":
        assert before.shape[:2] == (53, 37)  # displayed upright: width and height swapped
    assert after.shape == before.shape


def test_sr_tab(served):
    bank = served["demo"].derain_app.bank
    name = bank.sr_names[0]
    s = bank.scale(name)
    lr, hr = served["client"].predict(handle_file(str(examples.example_cleans()[3])), f"x{s}",
                                      api_name="/make_lr_rainy")
    lr_img, hr_img = load_png(lr), load_png(hr)
    assert hr_img.shape[0] == s * lr_img.shape[0] and hr_img.shape[1] == s * lr_img.shape[1]
    slider, md, table, files = served["client"].predict(handle_file(lr), name, handle_file(hr),
                                                        api_name="/derain_sr")
    bicubic, out = load_png(slider[0]), load_png(slider[1])
    assert out.shape == bicubic.shape == hr_img.shape
    rows = table_rows(table)
    assert rows[name][0] == pytest.approx(psnr_y_reference(out, hr_img), abs=0.006)
    assert rows[f"bicubic x{s} of the rainy input"][0] == pytest.approx(psnr_y_reference(bicubic, hr_img), abs=0.006)
    np.testing.assert_array_equal(load_png(files[0]), out)


def test_sr_tab_without_weights_says_so():
    """No joint derain + SR weights: the tab explains what to do instead of failing obscurely."""
    app = demo_app.DerainApp(demo_app.ModelBank(weights=[], device="cpu"), max_pixels=10**6, work_pixels=10**6)
    rainy, _, _ = examples.example_pairs()[0]
    with pytest.raises(gr.Error, match="No joint derain"):
        app.derain_sr(str(rainy), None, None)
    with pytest.raises(gr.Error, match="No trained deraining weights"):
        app.derain(str(rainy), [], False, False)


# ---------------------------------------------------------------------------------------------------- the picker
# These build the page (no server) and read only weight-file headers and sidecars: no model runs.
def _shipped_or_skip(*names):
    missing = [n for n in names if n not in checkpoint.list_weights()]
    if missing:
        pytest.skip(f"shipped weights {missing} are not in derain_lib/weights/")


def _latency_file(tmp_path, rows, sizes=None):
    import json

    data = {"machine": "test CPU, no GPU", "threads": 2, "date": "2026-12-01 20:40 UTC",
            "load_avg": {"before": [1.0, 1.0, 1.0], "after": [1.0, 1.0, 1.0], "cores": 2},
            "sizes": sizes or {"0.25MP": [608, 412], "1MP": [1216, 822]}, "rows": rows}
    path = tmp_path / "latency.json"
    path.write_text(json.dumps(data))
    return path


def _scoreboard_file(tmp_path, rows, recommended):
    import json

    data = {"generated": "2026-12-01", "input": {"sets": {"rain100L": {"psnr_y": 26.9}, "rain100H": {"psnr_y": 13.56}}},
            "rows": rows, "recommended": recommended}
    path = tmp_path / "scoreboard.json"
    path.write_text(json.dumps(data))
    return path


def _picker_demo(**kw):
    demo = demo_app.build_demo(device="cpu", **kw)
    return demo, demo.derain_app.picker


def _component(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_picker_table_lists_purpose_expected_time_and_scores(tmp_path):
    _shipped_or_skip("msnet-semi", "drn-mixed")
    lat = _latency_file(tmp_path, [{"weights": "msnet-semi", "seconds": {"0.25MP": 1.0, "1MP": 4.0}},
                                   {"weights": "drn-mixed", "seconds": {"0.25MP": 8.0, "1MP": 30.0}}])
    board = _scoreboard_file(tmp_path, [
        {"weights": "msnet-semi", "sets": {"rain100L": {"psnr_y": 30.123, "n": 100, "of": 100},
                                           "rain100H": {"psnr_y": 19.6, "n": 100, "of": 100}}},
        {"weights": "drn-mixed", "sets": {"rain100L": {"psnr_y": 28.0, "n": 20, "of": 100},
                                          "rain100H": {"psnr_y": 19.06, "n": 20, "of": 100}}}],
        {"real_photos": "msnet-semi", "heavy": "drn-mixed", "light": "msnet-semi"})
    demo, picker = _picker_demo(latency_file=lat, scoreboard_file=board)
    rows = {r["name"]: r for r in picker.rows(False, pixels=None)}
    assert set(rows) == {n for n in demo.derain_app.bank.derain_names if not demo.derain_app.bank.is_experiment(n)}
    # what it is for: one line taken from the sidecar
    import json
    side = json.loads(checkpoint.weights_path("msnet-semi").with_suffix(".json").read_text())
    assert rows["msnet-semi"]["for"] and rows["msnet-semi"]["for"] in (side.get("purpose") or side["summary"])
    # expected times: the measured sizes before a photo is chosen, n/a for a weight that was not measured
    assert rows["msnet-semi"]["expected"] == "1.00 s / 4.00 s"
    assert rows["drn-mixed"]["expected"] == "8.00 s / 30 s"
    if "dsen" in rows:
        assert rows["dsen"]["expected"] == "n/a"
    # scoreboard figures, with the subset marked, and the recommendations as tags
    assert rows["msnet-semi"]["rain100L"] == "30.12" and rows["drn-mixed"]["rain100H"] == "19.06 (20/100)"
    assert "recommended for real photos" in rows["msnet-semi"]["tags"]
    assert "best on heavy rain (Rain100H)" in rows["drn-mixed"]["tags"]
    page = picker.html(False, (800, 600))
    assert "this photo (800x600)" in page and "Rain100L<br><small>Y-PSNR, input 26.90" in page
    assert "<code>msnet-semi</code>" in page and "30.12" in page


def test_picker_expected_time_scales_with_megapixels(tmp_path):
    _shipped_or_skip("msnet-semi")
    lat = _latency_file(tmp_path, [{"weights": "msnet-semi", "seconds": {"0.25MP": 1.0, "1MP": 4.0}}])
    _, picker = _picker_demo(latency_file=lat, scoreboard_file=None)
    p0, p1 = 608 * 412, 1216 * 822
    assert picker.expected("msnet-semi", p0) == "1.00 s" and picker.expected("msnet-semi", p1) == "4.00 s"
    mid = 800 * 600
    assert picker.expected("msnet-semi", mid) == f"{1.0 + 3.0 * (mid - p0) / (p1 - p0):.2f} s"
    assert picker.expected("msnet-semi", 2 * p1) == "8.00 s"  # proportional above the largest measured size
    # the photo at hand: a 3 MP photo is processed at the 0.25 MP working size of this demo unless full-res
    app = demo_app.DerainApp(demo_app.ModelBank(weights=[], device="cpu"), max_pixels=16 * 10**6,
                             work_pixels=250_000)
    photo = tmp_path / "big.png"
    Image.new("RGB", (2000, 1500)).save(photo)
    w, h = app.photo_work_size({"path": str(photo)}, False)
    assert w * h <= 250_000 and abs(w / h - 2000 / 1500) < 0.01
    assert app.photo_work_size(str(photo), True) == (2000, 1500)
    assert app.processed_pixels(2000, 1500) > 2000 * 1500  # overlapping tiles
    assert app.photo_work_size({"path": str(tmp_path / "missing.png")}, False) is None
    # no latency.json: the column says n/a
    _, bare = _picker_demo(latency_file=tmp_path / "absent.json", scoreboard_file=None)
    assert bare.expected("msnet-semi", mid) == "n/a" and "No <code>latency.json</code>" in bare.html(False)


def test_picker_preselects_the_scoreboard_recommendation(tmp_path):
    _shipped_or_skip("drn-mixed", "msnet-semi")
    board = _scoreboard_file(tmp_path, [], {"real_photos": "drn-mixed", "heavy": None, "light": None})
    demo, picker = _picker_demo(scoreboard_file=board, latency_file=None)
    assert picker.default == "drn-mixed"
    assert _component(demo, "models").value == ["drn-mixed"]
    names = demo.derain_app.bank.derain_names
    sliders = [_component(demo, f"slider-{i}") for i in range(len(names))]
    assert [s.visible for s in sliders] == [n == "drn-mixed" for n in names]  # one slider, the chosen model's
    # no scoreboard: msnet-semi, the model trained for real photos
    _, picker = _picker_demo(scoreboard_file=tmp_path / "absent.json", latency_file=None)
    assert picker.default == "msnet-semi"
    assert "No <code>scoreboard.json</code>" in picker.html(False)


def test_picker_hides_experiment_weights_behind_a_toggle():
    _shipped_or_skip("dsen_narrow20", "dsen_cnn_narrow20")
    demo, picker = _picker_demo(latency_file=None, scoreboard_file=None)
    bank = demo.derain_app.bank
    assert bank.is_experiment("dsen_narrow20") and bank.is_experiment("dsen_cnn_narrow20")
    assert not bank.is_experiment(picker.default)
    shown = picker.names(False)
    assert "dsen_narrow20" not in shown and "dsen_cnn_narrow20" not in shown
    assert "dsen_narrow20" not in picker.html(False) and "dsen_narrow20" in picker.html(True)
    assert {"dsen_narrow20", "dsen_cnn_narrow20"} <= set(picker.names(True))
    cb = _component(demo, "models")
    assert "dsen_narrow20" not in [c[1] for c in cb.choices]
    toggle = _component(demo, "show-experiments")
    assert toggle.visible and toggle.value is False and "(2)" in toggle.label
    assert "experiment" in {t for r in picker.rows(True) if r["name"] == "dsen_narrow20" for t in r["tags"]}


def test_picker_lists_a_users_weights_file(tmp_path):
    """--weights FILE: the user's file is in the table with its sidecar's summary and, when its architecture and
    config were benchmarked, the expected time of that benchmarked weight."""
    import json

    from derain_lib.checkpoint import save_weights

    torch.manual_seed(0)
    model = build_model("drn", stages=2, recursions=1, features=8)
    path = save_weights(model, tmp_path / "my-drn.safetensors", {"summary": "my own DRN: night rain; 50 steps"})
    path.with_suffix(".json").write_text(json.dumps({"summary": "my own DRN: night rain; 50 steps"}))
    cfg = checkpoint.read_metadata(path)["config"]
    lat = _latency_file(tmp_path, [{"weights": "someone-drn", "arch": "drn", "config": cfg,
                                    "seconds": {"0.25MP": 0.5, "1MP": 2.0}}])
    demo = demo_app.build_demo(weights=[str(path)], device="cpu", latency_file=lat, scoreboard_file=None)
    picker = demo.derain_app.picker
    (row,) = picker.rows(False)
    assert row["label"] == "my-drn" and row["for"] == "my own DRN" and row["expected"] == "0.50 s / 2.00 s (as someone-drn)"
    assert picker.default == str(path)
    assert ("my-drn", str(path)) in _component(demo, "models").choices
    assert demo_app.parse_args(["--weights", "a.safetensors", "b.safetensors"]).weights == ["a.safetensors",
                                                                                           "b.safetensors"]


def test_examples_are_real_photos_when_the_data_root_has_them(tmp_path, monkeypatch):
    # no data root: the synthetic examples (with their clean photos)
    monkeypatch.setenv("DERAIN_DATA", str(tmp_path / "nowhere"))
    kind, items = examples.demo_examples()
    assert kind == "synthetic" and len(items) == len(examples.example_pairs()) and all(c for _, c, _ in items)
    demo = demo_app.build_demo(weights=[], device="cpu", latency_file=None, scoreboard_file=None)
    assert demo.derain_app.examples_kind == "synthetic"
    # a data root with real rainy photos: those, without a clean reference
    root = tmp_path / "data"
    rel, title = examples.REAL_EXAMPLES[0]
    (root / rel).parent.mkdir(parents=True)
    Image.new("RGB", (64, 48), (100, 110, 120)).save(root / rel)
    monkeypatch.setenv("DERAIN_DATA", str(root))
    kind, items = examples.demo_examples()
    assert kind == "real" and items == [(root / rel, None, f"real photo: {title}")]
    demo = demo_app.build_demo(weights=[], device="cpu", latency_file=None, scoreboard_file=None)
    assert demo.derain_app.examples_kind == "real"


def test_real_examples_were_never_trained_on():
    """The real photos offered are held out of msnet-semi's unlabelled training pool (HELD_OUT_REAL)."""
    from derain_lib.models.semi import HELD_OUT_REAL

    assert {rel for rel, _ in examples.REAL_EXAMPLES} <= set(HELD_OUT_REAL)
