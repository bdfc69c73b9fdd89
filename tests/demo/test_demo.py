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
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import demo_app
from derain_demo import METRIC_HEADERS, QUEUE_SIZE, DerainApp, ModelBank, build_demo, launch_kwargs
from derain_lib import checkpoint, examples, infer, paths
from derain_lib.io import read_image, save_image
from derain_lib.models.registry import build_model

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
    assert value["headers"][:5] == METRIC_HEADERS, value["headers"]
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
        pytest.fail(f"{examples.EXAMPLES_DIR} is empty: run `python -m lab.tools.build_examples`")
    bank = ModelBank(device="cpu")
    shipped = bank.derain_names
    preferred = [n for n in shipped if n.startswith("drn")] or shipped
    weights = preferred[:1] + bank.sr_names[:1]
    torch.manual_seed(0)
    tiny = build_model("drn", stages=2, recursions=1, features=8).eval()
    extra = {TINY: tiny}
    if not bank.sr_names:  # exercise the SR tab with a tiny untrained joint model until weights are shipped
        extra[TINY_SR] = build_model("derain_sr", scale=2, features=8, n_rcab=1, dense_layers=2,
                                     unet_features=4).eval()
    demo = build_demo(weights=weights, extra_models=extra, device="cpu",
                               max_megapixels=MAX_MP, work_megapixels=WORK_MP)
    kwargs = launch_kwargs()
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
    assert served["demo"]._queue.max_size == QUEUE_SIZE  # a bounded request queue


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
    _md, got, gallery, files = derain(served, rainy, names, stages=True)
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
    params = {"angle": 35, "density": 2.0, "length": 30, "layers": 2, "haze": 0.1, "seed": 7}
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
    arr = (rng.random((1031, 1041, 3)) * 255).astype(np.uint8)  # 1.07 MP: above the 0.25 MP working size and
    # the library's tiling threshold (infer.AUTO_TILE_PIXELS); odd sizes
    assert infer.plan_tiles(*arr.shape[:2]).tiled
    path = served["tmp"] / "large.png"
    Image.fromarray(arr).save(path)
    md, got, _, _ = derain(served, path, [TINY])
    before, after = got[TINY]
    assert before.shape[0] * before.shape[1] <= WORK_MP * 1e6 and after.shape == before.shape
    assert "downscaled" in md
    md, got, _, _ = derain(served, path, [TINY], full_res=True)  # every pixel, in overlapping tiles
    before, after = got[TINY]
    np.testing.assert_array_equal(before, arr)
    assert after.shape == arr.shape and infer.plan_tiles(*arr.shape[:2]).describe() in md
    expected = run_model(served["models"][TINY], arr)
    # tiles with a 32 px overlap: the tiny model's receptive field is smaller, so tiling changes (almost) nothing
    assert np.abs(after.astype(int) - expected.astype(int)).mean() < 0.5


def test_demo_and_cli_process_the_same_pixels(tmp_path):
    """A 0.7 MP photo through the demo and through ``python -m derain_lib derain``: both follow the library's
    tiling policy (``infer.plan_tiles``), so even a model that pools over the whole image (DSEN's
    squeeze-excitation) gives the same pixels, and the demo's cost estimate counts the pixels that are run."""
    from derain_lib.cli import main as cli

    torch.manual_seed(0)
    model = build_model("dsen", channels=4, num_layers=1, kernel_size=3).eval()
    with torch.no_grad():  # an untrained DSEN's rain layer is almost 0: make it (and what SE pools) visible
        model.body.out.weight.normal_(0, 0.5)
    weights = checkpoint.save_weights(model, tmp_path / "tiny-dsen.safetensors")
    img = np.random.default_rng(0).integers(0, 256, (833, 841, 3), dtype=np.uint8)
    img[:, :420] //= 4  # a dark half: a tile's statistics differ from the whole image's
    photo = tmp_path / "photo.png"
    save_image(img, photo)
    assert cli(["derain", str(photo), "-o", str(tmp_path / "out"), "--model", str(weights), "--device", "cpu"]) == 0
    by_cli = read_image(tmp_path / "out" / "photo.png")

    app = DerainApp(ModelBank(weights=[str(weights)], device="cpu"), max_pixels=4 * 10**6, work_pixels=4 * 10**6)
    by_demo, _, _, how = app.run(str(weights), img)
    np.testing.assert_array_equal(by_demo, by_cli)
    plan = infer.plan_tiles(*img.shape[:2])
    assert how == plan.describe() == "whole image"
    assert app.processed_pixels(img.shape[1], img.shape[0]) == plan.pixels == img.shape[0] * img.shape[1]
    # the test can tell: 512 px tiles (the demo's former policy at this size) give other pixels
    assert (infer.derain(img, model, tile=512) != by_cli).any()


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
    slider, _md, table, files = served["client"].predict(handle_file(lr), name, handle_file(hr),
                                                        api_name="/derain_sr")
    bicubic, out = load_png(slider[0]), load_png(slider[1])
    assert out.shape == bicubic.shape == hr_img.shape
    rows = table_rows(table)
    assert rows[name][0] == pytest.approx(psnr_y_reference(out, hr_img), abs=0.006)
    assert rows[f"bicubic x{s} of the rainy input"][0] == pytest.approx(psnr_y_reference(bicubic, hr_img), abs=0.006)
    np.testing.assert_array_equal(load_png(files[0]), out)
