"""The scoreboard on tiny untrained models and tiny data made in a tmp dir (seconds, no shared data needed)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from derain_lib.checkpoint import save_weights
from derain_lib.io import read_image, save_image
from derain_lib.metrics import psnr
from derain_lib.models.registry import build_model
from lab import scoreboard as sb
from lab.markers import block
from lab.scoreboard import protocol


def _pairs(root, name, n, hw, rng):
    for i in range(n):
        clean = (rng.random((*hw, 3)) * 200 + 20).astype(np.uint8)
        rainy = np.clip(clean.astype(int) + (rng.random((*hw, 3)) < 0.05) * 120, 0, 255).astype(np.uint8)
        save_image(clean, root / name / "clean" / f"{i:03d}.png")
        save_image(rainy, root / name / "rainy" / f"{i:03d}.png")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for name, n in (("rain100L", 6), ("rain100H", 6), ("outdoor_rain_sample", 2)):
        _pairs(data, name, n, (24, 32), rng)
    for i, hw in enumerate(((40, 40), (30, 36))):
        save_image((rng.random((*hw, 3)) * 255).astype(np.uint8), data / "real_rainy" / "rainy" / f"p{i}.png")
    monkeypatch.setenv("DERAIN_DATA", str(data))
    monkeypatch.setattr(protocol, "NR_MAX_PIXELS", 1200)  # the 40x40 photo is downscaled, the other one is not
    wdir = tmp_path / "weights"
    torch.manual_seed(0)
    save_weights(build_model("drn", stages=1, recursions=1), wdir / "drn-tiny.safetensors")
    save_weights(build_model("drn", stages=1, recursions=1), wdir / "drn-exp.safetensors")
    (wdir / "drn-exp.json").write_text(json.dumps({"experiment": "an experiment", "summary": "x"}))
    return {"data": data, "weights": wdir, "cache": tmp_path / "cache", "tmp": tmp_path}


def _build(t, **kw):
    return sb.build(weights_dir=t["weights"], cache_dir=t["cache"], log=lambda s: None, **kw)


def test_structure_and_input_row(tiny):
    board = _build(tiny)
    assert [r["weights"] for r in board["rows"]] == ["drn-exp", "drn-tiny"]
    exp, tiny_row = board["rows"]
    assert exp["experiment"] is True and tiny_row["experiment"] is False
    assert tiny_row["params"] == 10_595 and tiny_row["arch"] == "drn"
    for r in board["rows"]:
        assert set(r["sets"]) == set(sb.PAIRED_SETS)
        for s in r["sets"].values():
            assert {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "n", "subset"} <= set(s)
        assert r["seconds_per_image"] > 0 and isinstance(r["nr_real"], float)
        assert r["sets"]["rain100L"]["n"] == 6 and r["sets"]["rain100L"]["subset"] == "all"
    # the input row equals the input PSNR computed independently
    d = tiny["data"] / "rain100H"
    ref = np.mean([psnr(read_image(d / "rainy" / f"{i:03d}.png"), read_image(d / "clean" / f"{i:03d}.png"))
                   for i in range(6)])
    assert board["input"]["sets"]["rain100H"]["psnr_y"] == pytest.approx(ref, abs=1e-9)
    # and each row's input on the same images is the same figure
    assert tiny_row["sets"]["rain100H"]["input_psnr_y"] == pytest.approx(ref, abs=1e-9)
    assert set(board["recommended"]) >= {"real_photos", "heavy", "light"}
    assert board["recommended"]["heavy"] == "drn-tiny"  # the experiment weight is never recommended

    assert row_photo_sizes(tiny, "drn-tiny") == {"p0.png": [34, 34], "p1.png": [30, 36]}  # area-downscaled to 1200

    readme = tiny["tmp"] / "README.md"
    before = "# T\n\nbefore\n<!-- notebooks:begin -->\nkept\n<!-- notebooks:end -->\n"
    readme.write_text(before + "<!-- pick:begin -->\nold pick\n<!-- pick:end -->\nmiddle\n"
                      "<!-- results:begin -->\n<!-- results:end -->\nafter\n")
    paths = sb.write(board, tiny["tmp"] / "o" / "scoreboard.json", tiny["tmp"] / "o" / "scoreboard.md",
                     tiny["tmp"] / "o" / "q.png", readme_path=readme)
    # only the two blocks are replaced by the generated ones, every other line of the file kept
    text = readme.read_text()
    assert paths[3] == readme and "old pick" not in text and text.startswith(before)
    assert "<!-- pick:end -->\nmiddle\n<!-- results:begin -->\n" in text
    assert text.endswith("<!-- results:end -->\nafter\n")
    assert block(text, "pick") == sb.pick_block(board) and block(text, "results") == sb.results_block(board)
    assert "`drn-tiny`" in block(text, "pick") and "`drn-exp`" not in block(text, "pick")
    assert not sb.update_readme(board, tiny["tmp"] / "missing.md")
    js = json.loads(paths[0].read_text())
    assert {"generated", "machine", "rows", "input", "papers", "recommended"} <= set(js)
    assert '"per_image"' not in json.dumps(js)  # per-image rows stay in the cache
    md = paths[1].read_text()
    assert md.splitlines()[0] == sb.GENERATED and md == sb.to_markdown(board)
    assert "| *rainy input* |" in md and "`drn-tiny`" in md and "DRN paper, RainTrainH-trained" in md
    assert paths[2].stat().st_size > 10_000


def row_photo_sizes(t, weights):
    """The output size of each real photo in the cache of ``weights``."""
    d = json.loads((t["cache"] / f"{weights}.json").read_text())
    (rows,) = [v for k, v in d["sets"].items() if k.startswith(f"{sb.NR_SET}|")]
    return {k: v["hw"] for k, v in rows.items()}


def test_cache_reuse_and_recompute_on_change(tiny):
    _build(tiny)
    c2 = sb.Cache(tiny["cache"])
    _build(tiny, cache=c2)
    assert c2.computed == []  # nothing evaluated again
    torch.manual_seed(1)  # retrain one weight: a different file
    save_weights(build_model("drn", stages=1, recursions=1), tiny["weights"] / "drn-tiny.safetensors")
    c3 = sb.Cache(tiny["cache"])
    _build(tiny, cache=c3)
    assert c3.computed and all(k.startswith("drn-tiny|") for k in c3.computed)
    assert {k.split("|")[1] for k in c3.computed} == set(sb.PAIRED_SETS) | {sb.NR_SET}


def test_subset_is_labelled_and_compared_with_its_own_input(tiny):
    board = _build(tiny, subset="every5", weights=["drn-tiny"])
    s = board["rows"][0]["sets"]["rain100L"]
    assert s["subset"] == "every5" and s["n"] == 2 and s["of"] == 6  # images 0 and 5
    assert board["rows"][0]["sets"]["outdoor_rain_sample"]["subset"] == "all"
    assert "(n=2, every5; input" in sb.to_markdown(board)
    with pytest.raises(ValueError, match="unknown weights"):
        _build(tiny, weights=["nope"])


def test_slow_weight_gets_a_subset_by_measured_speed(tiny):
    board = _build(tiny, max_seconds=1e-6, weights=["drn-tiny"])
    assert board["rows"][0]["sets"]["rain100H"]["subset"] == "every20"


def test_sr_weight_uses_the_lr_protocol(tiny):
    """An SR weight gets the bicubic-downsampled rainy image; its input is the bicubic row of the same scale."""
    torch.manual_seed(0)
    save_weights(build_model("derain_sr", scale=2, features=8, n_rcab=1, stage1_features=4),
                 tiny["weights"] / "sr-tiny.safetensors")
    board = _build(tiny, weights=["sr-tiny", "drn-tiny"])
    sr = next(r for r in board["rows"] if r["weights"] == "sr-tiny")
    assert sr["scale"] == 2
    bic = next(c for c in board["comparisons"] if c["label"].startswith("bicubic x2"))
    d = "outdoor_rain_sample"
    assert sr["sets"][d]["input_psnr_y"] == pytest.approx(bic["sets"][d]["psnr_y"], abs=1e-9)
    for d in sb.PAIRED_SETS:
        assert sr["sets"][d]["input_psnr_y"] != pytest.approx(board["input"]["sets"][d]["psnr_y"])
    assert "(bicubic x2 " in sb.to_markdown(board)
    drn_bic = [c for c in board["comparisons"] if c.get("weights") == "drn-tiny"]
    assert len(drn_bic) == 1 and set(drn_bic[0]["sets"]) == {"outdoor_rain_sample"}
    assert board["recommended"]["heavy"] == "drn-tiny"  # SR weights are not offered for photos


def test_cached_only_evaluates_nothing_and_lists_the_rest(tiny):
    _build(tiny, weights=["drn-tiny"], subset="every5")
    c = sb.Cache(tiny["cache"])
    board = _build(tiny, cached_only=True, cache=c)
    assert c.computed == []
    assert [r["weights"] for r in board["rows"]] == ["drn-tiny"] and board["pending"] == ["drn-exp"]
    assert board["rows"][0]["sets"]["rain100L"]["subset"] == "every5"  # the densest complete subset
    assert "Not evaluated yet" in sb.to_markdown(board) and "`drn-exp`" in sb.to_markdown(board)


def test_heldout_real_mean_uses_the_held_out_photos(tiny, monkeypatch):
    """nr_real_heldout is the mean over the photos of HELD_OUT_REAL (listed with their folders) found here."""
    from derain_lib import paths
    monkeypatch.setattr(paths, "HELD_OUT_REAL", ("real_rainy/rainy/p1.png", "real_rainy_more/rainy/elsewhere.jpg"))
    row = next(r for r in _build(tiny)["rows"] if r["weights"] == "drn-tiny")
    assert row["nr_real_heldout"] == pytest.approx(row["nr_per_image"]["p1.png"])
    assert row["nr_real_heldout"] != pytest.approx(row["nr_real"])


def test_build_records_the_lineage_flags_of_the_sidecars(tiny):
    """A weight whose sidecar's lineage trained on heavy_thin before its recalibration is flagged in the board and
    marked in the Markdown; the other is not."""
    side = {"lineage": [{"command": "python -m derain_lib train drn --preset heavy_thin", "steps": 5},
                        {"command": "python -m derain_lib train drn --preset bank_heavy", "steps": 5}]}
    (tiny["weights"] / "drn-tiny.json").write_text(json.dumps(side))
    board = _build(tiny)
    assert board["lineage_flags"] == {"drn-tiny": [sb.HEAVY_THIN_NOTE]}
    md = sb.to_markdown(board)
    assert "| `drn-tiny` † | drn |" in md and "| `drn-exp` (experiment) | drn |" in md
    assert "† Lineage includes heavy_thin as first calibrated on 12 Rain100H test images" in md
