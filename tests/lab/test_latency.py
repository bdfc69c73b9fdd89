"""``python -m lab latency``: the latency table of weights through derain(), and its expected-time scaling.

Speed is never asserted here (it is measured by the command itself); these tests check that the command runs
real derain() calls on a tiny untrained model, writes the JSON the demo reads, and that the demo's scaling of
that JSON by megapixels is what its docstring says. Tiny images, one run each: well under a few seconds.
"""
from __future__ import annotations

import json

import pytest
import torch

from derain_lib.checkpoint import save_weights
from derain_lib.models.registry import build_model
from derain_lib.reports import expected_seconds, latency_row, load_latency
from derain_lib.runtime import machine_info
from lab.__main__ import main
from lab.latency import LATENCY_SIZES


@pytest.fixture
def tiny_weights(tmp_path):
    torch.manual_seed(0)
    model = build_model("drn", stages=2, recursions=1, features=8)
    return save_weights(model, tmp_path / "tiny-drn.safetensors", {"summary": "tiny untrained DRN"})


def test_bench_one_untrained_model(capsys):
    """The single-model mode (--untrained / --model with --sizes) still works."""
    assert main(["latency", "--untrained", "drn", "--sizes", "24x16", "--repeats", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "drn 24x16: median" in out and "1 runs" in out


def test_bench_table_writes_latency_json(tiny_weights, tmp_path, capsys):
    out_json = tmp_path / "latency.json"
    rc = main(["latency", "--weights", str(tiny_weights), "--sizes", "32x24", "48x32", "--repeats", "2",
               "--device", "cpu", "--write", str(out_json), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| `tiny-drn` | drn |" in text and "s @ 32x24 (32x24)" in text
    assert "Machine:" in text and "load average" in text and "torch threads" in text
    data = json.loads(out_json.read_text())
    assert data["threads"] == torch.get_num_threads() and data["machine"] == machine_info()
    assert data["sizes"] == {"32x24": [32, 24], "48x32": [48, 32]}
    assert set(data["load_avg"]) >= {"before", "after"}
    (row,) = data["rows"]
    assert row["weights"] == "tiny-drn" and row["arch"] == "drn"
    assert row["params"] == sum(p.numel() for p in build_model("drn", stages=2, recursions=1, features=8)
                                .parameters())
    assert row["config"]["stages"] == 2 and set(row["runs"]) == {"32x24", "48x32"}
    assert all(1 <= n <= 2 for n in row["runs"].values())  # fewer only when a run is slow (a loaded machine)
    assert all(s > 0 for s in row["seconds"].values())
    assert load_latency(out_json) == data


def test_bench_table_default_sizes_are_quarter_and_one_megapixel():
    assert LATENCY_SIZES == {"0.25MP": (608, 412), "1MP": (1216, 822)}
    (w0, h0), (w1, h1) = LATENCY_SIZES.values()
    assert abs(w0 * h0 - 0.25e6) < 0.01e6 and abs(w1 * h1 - 1e6) < 0.01e6
    assert w1 * h1 <= 1024 * 1024  # below derain()'s automatic tiling: one forward, as a user gets


def test_bench_unknown_weight_is_one_line_error(capsys):
    assert main(["latency", "--weights", "no-such-weights"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no-such-weights" in err and len(err.strip().splitlines()) == 1
    assert main(["latency", "--untrained", "drn", "--sizes", "12by9"]) == 2
    assert "WxH" in capsys.readouterr().err


def test_expected_seconds_scales_by_megapixels():
    result = {"sizes": {"0.25MP": [500, 500], "1MP": [1000, 1000]},
              "rows": [{"weights": "a", "arch": "drn", "config": {"stages": 7}, "seconds": {"0.25MP": 1.0, "1MP": 3.0}},
                       {"weights": "b", "arch": "msnet", "config": {}, "seconds": {"0.25MP": 2.0}}]}
    a = latency_row(result, "a")
    assert expected_seconds(result, a, 250_000) == pytest.approx(1.0)  # measured points are exact
    assert expected_seconds(result, a, 1_000_000) == pytest.approx(3.0)
    assert expected_seconds(result, a, 625_000) == pytest.approx(2.0)  # linear in between
    assert expected_seconds(result, a, 2_000_000) == pytest.approx(6.0)  # proportional beyond
    assert expected_seconds(result, a, 125_000) == pytest.approx(0.5)
    b = latency_row(result, "b")
    assert expected_seconds(result, b, 500_000) == pytest.approx(4.0)  # one size measured
    # unknown weights: the same architecture and config runs at the same speed; otherwise nothing
    assert latency_row(result, "mine.safetensors", "drn", {"stages": 7}) is a
    assert latency_row(result, "mine.safetensors", "drn", {"stages": 3}) is None
    assert expected_seconds(None, None, 10**6) is None


def test_load_latency_missing_or_broken(tmp_path):
    assert load_latency(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert load_latency(bad) is None
    bad.write_text(json.dumps({"rows": "x"}))
    assert load_latency(bad) is None
