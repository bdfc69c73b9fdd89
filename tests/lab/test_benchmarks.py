"""The benchmark scripts in lab/benchmarks run end to end on tiny images (correctness of what they time, never
their speed: speed is measured by the scripts, not asserted here)."""
from __future__ import annotations

import sys

import pytest
import torch
from helpers import randomised

from derain_lib.models.drn import DRN
from lab.benchmarks import bench_backends, bench_drn, bench_malloc

pytestmark = pytest.mark.slow


TOL = 1e-4


def test_speed_benchmark_runs_against_the_authors_forward():
    """lab/benchmarks/bench_drn.py runs end to end on a tiny image (it asserts max |diff| <= 1e-4 against the
    authors' forward before timing), and its reference is independent code: perturbing one of its weights breaks
    the equality."""
    from derain_lib.models.drn_reference import AuthorsDRN, from_drn

    bench = bench_drn
    threads = torch.get_num_threads()
    rows = bench.main(["--sizes", "37x23", "--repeats", "1", "--threads", "1", "--no-peak"])
    assert torch.get_num_threads() == threads
    (row,) = rows
    assert row["size"] == "37x23" and row["max_abs_diff_model"] < 1e-4
    assert set(row["wall_s"]) == {"authors", "model(x)", "derain()"} and min(row["wall_s"].values()) > 0
    assert bench.drn_flops(321, 481, 7, 7) == pytest.approx(142.25e9, rel=1e-3)  # 2 x 10,595 MACs x T x R per pixel

    model = randomised(DRN(DRN.Config(stages=3, recursions=2)), seed=7, std=0.05).eval()
    ref = from_drn(model)
    assert isinstance(ref, AuthorsDRN) and not ref.training
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(ref(x)[0], model(x), atol=1e-4, rtol=0)
        assert (ref(x)[0] - x).abs().max() > 1e-2
        ref.res_conv2[2].bias.add_(1e-2)
        assert (ref(x)[0] - model(x)).abs().max() > 1e-4


def test_backend_benchmark_runs_and_writes_its_sections(tmp_path):
    """lab/benchmarks/bench_backends.py runs end to end on a tiny image with the torch backend, puts the authors' DRN
    forward beside the row, and writes its table into the named section without touching the other one."""
    import json
    bench = bench_backends
    doc = tmp_path / "bench.md"
    doc.write_text("intro\n<!-- bench_backends:begin -->\nkept\n<!-- bench_backends:end -->\n\n"
                   "<!-- bench_backends-1MP:begin -->\nold\n<!-- bench_backends-1MP:end -->\nend\n")
    rows = tmp_path / "rows.json"
    args = ["--weights", "drn-light", "--backends", "torch", "--threads", "1", "--sizes", "37x23",
            "--repeats", "1", "--section", "1MP", "--write", str(doc), "--json", str(rows)]
    assert bench.main(args) == 0
    text = doc.read_text()
    assert "kept" in text and "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    section = text.split("<!-- bench_backends-1MP:begin -->")[1].split("<!-- bench_backends-1MP:end -->")[0]
    assert "| `drn-light` | torch | 1 | 37x23 |" in section and "authors' DRN (`AuthorsDRN`" in section
    assert "fastest DRN path `drn-light` on torch" in section
    (row,) = json.loads(rows.read_text())["rows"]
    assert row["max_diff"] <= TOL and row["wall_s"] > 0 and row["authors_wall_s"] > 0
    assert bench.main(["--section", "no spaces", "--write", str(doc)]) == 2
    assert bench.main(["--weights", "nope"]) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_allocator_benchmark_runs_both_configurations(tmp_path):
    """lab/benchmarks/bench_malloc.py times the same forwards in two child processes (glibc defaults, mmap threshold
    raised) and writes one row per weight and size, the authors' DRN forward included, into its own section."""
    bench = bench_malloc
    doc = tmp_path / "bench.md"
    doc.write_text("intro\n<!-- bench_malloc:begin -->\nold\n<!-- bench_malloc:end -->\nend\n")
    assert bench.main(["--weights", "drn-light", "--sizes", "37x23", "--repeats", "1", "--write", str(doc)]) == 0
    text = doc.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    rows = [line for line in text.splitlines() if "| 37x23 |" in line]
    assert len(rows) == 2 and rows[0].startswith("| `drn-light` |") and rows[1].startswith("| authors' DRN")
    assert "MALLOC_MMAP_THRESHOLD_=4294967296" in text and "glibc" in text
    assert bench.main(["--weights", "nope"]) == 2
    assert bench.main(["--repeats", "0"]) == 2
    args = ["--weights", "drn-light", "--sizes", "37x23", "--repeats", "1"]
    assert bench.run_config(bench.TUNED, args)["malloc_env"] == bench.TUNED
    assert set(bench.run_config({}, args)["malloc_env"].values()) == {None}

