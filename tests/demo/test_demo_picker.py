"""The demo's model picker and example gallery, through ``demo_app``'s classes (no server): what the table says
about each weight, the preselection, the experiment toggle, users' weight files, and where the examples come from.
"""
from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio", reason="gradio is not installed: the web demo cannot be tested")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed")
torch = pytest.importorskip("torch")
from PIL import Image

import demo_app
from derain_demo import DerainApp, ModelBank, build_demo
from derain_lib import checkpoint, examples
from derain_lib.models.registry import build_model

# gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

TINY = "tiny-drn (untrained)"
TINY_SR = "tiny-derain_sr x2 (untrained)"


def test_sr_tab_without_weights_says_so():
    """No joint derain + SR weights: the tab explains what to do instead of failing obscurely."""
    app = DerainApp(ModelBank(weights=[], device="cpu"), max_pixels=10**6, work_pixels=10**6)
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
    demo = build_demo(device="cpu", **kw)
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
    app = DerainApp(ModelBank(weights=[], device="cpu"), max_pixels=16 * 10**6,
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
    demo = build_demo(weights=[str(path)], device="cpu", latency_file=lat, scoreboard_file=None)
    picker = demo.derain_app.picker
    (row,) = picker.rows(False)
    assert row["label"] == "my-drn" and row["for"] == "my own DRN"
    assert row["expected"] == "0.50 s / 2.00 s (as someone-drn)"
    assert picker.default == str(path)
    assert ("my-drn", str(path)) in _component(demo, "models").choices
    assert demo_app.parse_args(["--weights", "a.safetensors", "b.safetensors"]).weights == ["a.safetensors",
                                                                                           "b.safetensors"]


def test_examples_are_real_photos_when_the_data_root_has_them(tmp_path, monkeypatch):
    # no data root: the synthetic examples (with their clean photos)
    monkeypatch.setenv("DERAIN_DATA", str(tmp_path / "nowhere"))
    kind, items = examples.demo_examples()
    assert kind == "synthetic" and len(items) == len(examples.example_pairs()) and all(c for _, c, _ in items)
    demo = build_demo(weights=[], device="cpu", latency_file=None, scoreboard_file=None)
    assert demo.derain_app.examples_kind == "synthetic"
    # a data root with real rainy photos: those, without a clean reference
    root = tmp_path / "data"
    rel, title = examples.REAL_EXAMPLES[0]
    (root / rel).parent.mkdir(parents=True)
    Image.new("RGB", (64, 48), (100, 110, 120)).save(root / rel)
    monkeypatch.setenv("DERAIN_DATA", str(root))
    kind, items = examples.demo_examples()
    assert kind == "real" and items == [(root / rel, None, f"real photo: {title}")]
    demo = build_demo(weights=[], device="cpu", latency_file=None, scoreboard_file=None)
    assert demo.derain_app.examples_kind == "real"


def test_real_examples_were_never_trained_on():
    """The real photos offered are held out of msnet-semi's unlabelled training pool (HELD_OUT_REAL)."""
    from derain_lib.paths import HELD_OUT_REAL

    assert {rel for rel, _ in examples.REAL_EXAMPLES} <= set(HELD_OUT_REAL)
