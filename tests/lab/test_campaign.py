"""The GPU campaign command, as a capped CPU dry run: packing, every family's run, the budget, --collect."""
from __future__ import annotations

import argparse
import importlib.util
import json
import tarfile
import time
from pathlib import Path

import pytest
from helpers import require_data

from derain_lib.checkpoint import load_model, read_metadata, save_weights
from derain_lib.models.registry import build_model
from derain_lib.paths import BENCHMARK_SETS, WEIGHTS_DIR, data_root
from lab import ROOT
from lab.campaign import RECIPES, run_campaign, select, sizes, use_data
from lab.campaign import command as cli_campaign
from lab.campaign.collect import collect, compare

PACK = ROOT / "lab" / "campaign" / "pack_data.py"


def _pack_module():
    spec = importlib.util.spec_from_file_location("pack_data", PACK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    cli_campaign.register(p.add_subparsers(dest="cmd", required=True))
    return p


@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory) -> Path:
    """A few files of each training set, packed the way the device copy is."""
    for name in ("clean", "rain100H_train12", "ddn_pairs", "real_rainy", "real_rainy_more"):
        if not (data_root() / name).is_dir():
            pytest.skip(f"dataset {name!r} not found under {data_root()} (set DERAIN_DATA)")
    out = tmp_path_factory.mktemp("pack") / "tiny.tar"
    _pack_module().pack(out, data_root(), limit=2, ddn=2, max_mib=20)
    return out


@pytest.fixture(scope="module")
def tiny_root(tiny_archive, tmp_path_factory) -> Path:
    import os
    old = os.environ.get("DERAIN_DATA")
    root = use_data(tiny_archive, tmp_path_factory.mktemp("data"))
    yield root
    if old is None:
        os.environ.pop("DERAIN_DATA", None)
    else:
        os.environ["DERAIN_DATA"] = old


def test_pack_holds_training_sets_only(tiny_archive):
    with tarfile.open(tiny_archive) as tf:
        names = tf.getnames()
        manifest = json.loads(tf.extractfile("MANIFEST.json").read())
    tops = {n.split("/")[0] for n in names if "/" in n}
    assert tops == {"clean", "rain100H_train12", "ddn_pairs", "real_rainy", "real_rainy_more"}
    assert not tops & set(BENCHMARK_SETS)
    assert {f["file"] for f in manifest["files"]} == {n for n in names if n != "MANIFEST.json"}


def test_pack_refuses_an_archive_over_its_cap(tmp_path):
    if not (data_root() / "clean").is_dir():
        pytest.skip("no clean/ under the data root")
    with pytest.raises(SystemExit, match="max-mib"):
        _pack_module().pack(tmp_path / "x.tar", data_root(), limit=2, max_mib=0.01)
    assert not (tmp_path / "x.tar").exists()


def test_paper_sizes_and_caps():
    assert sizes(RECIPES["drn-heavy"]) == (16, 100)            # DRN Sec. 3.1 / the authors' script
    assert sizes(RECIPES["derain_sr-x4"]) == (4, (200, 300))
    assert sizes(RECIPES["sdsen"], batch_cap=2, crop_cap=30, scale=1) == (2, 30)
    assert sizes(RECIPES["derain_sr-x4"], batch_cap=2, crop_cap=30, scale=4) == (2, 28)   # a multiple of 4
    assert [r.name for r in select(["drn", "sdsen"])] == ["drn-heavy", "drn-light", "sdsen", "dsen"]
    assert [r.name for r in select(["dsen", "drn-light"])] == ["drn-light", "dsen"]
    assert abs(sum(r.share for r in select(None)) - 1.0) < 1e-9
    with pytest.raises(ValueError, match="unknown campaign family"):
        select(["nope"])


@pytest.mark.slow
@require_data("clean")
def test_dry_run_every_family_writes_loadable_weights(tiny_archive, tiny_root, tmp_path, capsys):
    out = tmp_path / "out"
    args = _parser().parse_args(["campaign", "--device", "cpu", "--budget-s", "600", "--out", str(out),
                                 "--data", str(tiny_root), "--max-steps", "2", "--batch-cap", "2",
                                 "--crop-cap", "24"])
    assert args.func(args) == 0
    summary = json.loads((out / "campaign.json").read_text())
    assert [r["name"] for r in summary["runs"]] == list(RECIPES)
    for r in summary["runs"]:
        assert r["status"] == "ok" and r["steps"] == 2, r
        model = load_model(out / f"{r['name']}.safetensors", device="cpu")
        assert model.arch == RECIPES[r["name"]].arch
        shipped = read_metadata(WEIGHTS_DIR / f"{r['name']}.safetensors")["info"]
        info = read_metadata(out / f"{r['name']}.safetensors")["info"]
        run = info["lineage"][-1]
        # seconds are recorded to the millisecond; two steps on a fast machine may take less than one
        assert run["steps"] == 2
        assert all(isinstance(run[k], float) and run[k] >= 0 for k in ("train_seconds", "cpu_seconds")), run
        assert run["gpu"] == "cpu" and run["precision"] == "fp32" and run["batch"] == 2
        assert len(info["lineage"]) == len(shipped.get("lineage") or []) + 1      # the shipped lineage, continued
        side = json.loads((out / f"{r['name']}.json").read_text())
        assert side["lineage"][-1]["steps"] == 2
        assert (out / f"{r['name']}.pt").exists()
    heavy = read_metadata(out / "drn-heavy.safetensors")["info"]["lineage"][-1]
    assert heavy["resume"] == "lab/campaign/candidates/drn-h16b.pt" and heavy["resumed_at_step"] > 0


@pytest.mark.slow
@require_data("clean")
def test_stops_by_itself_when_the_budget_runs_out(tiny_root, tmp_path):
    budget = 8.0
    t0 = time.time()
    summary = run_campaign(select(["drn", "msnet"]), tmp_path, device="cpu", budget_s=budget, batch_cap=2,
                           crop_cap=24, log=lambda s: None)
    elapsed = time.time() - t0
    assert elapsed < budget + 15, elapsed      # at most one step and the file writing past the budget
    statuses = [r["status"] for r in summary["runs"]]
    assert statuses[0] == "ok" and summary["runs"][0]["steps"] >= 1
    assert all(s == "ok" or s == "skipped: budget spent" for s in statuses), statuses
    for r in summary["runs"]:
        assert (tmp_path / f"{r['name']}.safetensors").exists() == (r["status"] == "ok")


def _row(l_psnr: float, h_psnr: float, subset: str = "all") -> dict:
    n = {"all": 100, "every5": 20}[subset]
    return {"sets": {"rain100L": {"psnr_y": l_psnr, "input_psnr_y": 26.9, "subset": subset, "n": n},
                     "rain100H": {"psnr_y": h_psnr, "input_psnr_y": 13.6, "subset": subset, "n": n}}}


def test_compare_uses_gains_when_the_images_differ():
    assert compare(_row(30.5, 25.0), _row(30.3, 24.8))["better"]
    assert not compare(_row(30.5, 24.7), _row(30.3, 24.8))["better"]            # better on one set only
    other = _row(30.5, 25.0, "every5")
    other["sets"]["rain100H"]["input_psnr_y"] = 14.0                             # gain 11.0 < 11.2
    res = compare(other, _row(30.3, 24.8))
    assert not res["better"] and res["sets"]["rain100H"]["how"].startswith("gain")
    assert not compare(_row(31, 26), None)["better"]


def test_collect_promotes_only_the_weights_better_on_both_sets(tmp_path):
    back = tmp_path / "back"
    for name in ("dsen", "msnet-sup"):
        save_weights(build_model("dsen" if name == "dsen" else "msnet", channels=4), back / name, {"summary": "x"})
    (back / "campaign.json").write_text("{}")
    board = tmp_path / "scoreboard.json"
    board.write_text(json.dumps({"rows": [{"weights": "dsen", "summary": "the shipped dsen", **_row(29.1, 18.0)},
                                          {"weights": "msnet-sup", "summary": "s", **_row(29.8, 22.2)}]}))
    scored = {"dsen": _row(29.5, 18.4), "msnet-sup": _row(30.0, 22.0)}
    calls = []

    def fake_evaluate(name, path, cache_dir, max_seconds, subset):
        calls.append((name, Path(path).name))
        return {"weights": name, **scored[name]}

    with tarfile.open(tmp_path / "campaign.tar", "w") as tf:   # what comes back from the device: one tar
        tf.add(back, arcname="campaign")
    weights = tmp_path / "weights"
    res = {r["weights"]: r for r in collect(tmp_path / "campaign.tar", evaluate=fake_evaluate, board=board,
                                            weights_dir=weights, log=lambda s: None)}
    assert sorted(calls) == [("dsen", "dsen.safetensors"), ("msnet-sup", "msnet-sup.safetensors")]
    assert res["dsen"]["promoted"] and not res["msnet-sup"]["promoted"]
    assert sorted(p.name for p in weights.glob("*.safetensors")) == ["dsen.safetensors"]
    assert read_metadata(weights / "dsen.safetensors")["info"]["summary"] == "the shipped dsen"


def test_cli_needs_out_or_collect():
    args = _parser().parse_args(["campaign", "--device", "cpu"])
    with pytest.raises(ValueError, match="--out"):
        args.func(args)


def test_campaign_is_a_verb_of_the_command_line(capsys):
    """``python -m lab campaign`` (what docs and lab/campaign/README.md give) reaches the same command."""
    from lab.__main__ import main

    assert main(["campaign", "--device", "cpu"]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_estimate_counts_flops_and_bounds_the_gpu_rate():
    """The GPU estimate is bounded by both the FLOP rate and the per-op launch cost it assumes."""
    from lab.campaign import estimate

    row = estimate.measure(RECIPES["msnet-sup"], steps=1)
    assert row["gflop_per_step"] > 1 and row["ops_per_step"] > 100 and row["cpu_s_per_step"] > 0
    launch_bound = 1 / (row["ops_per_step"] * estimate.LAUNCH_US * 1e-6)
    for gpu, tflops in estimate.GPU_BF16_TFLOPS.items():
        lo, hi = sorted(row[f"{gpu}_steps_per_s_estimate"])
        assert 0 < lo <= hi <= launch_bound * (1 + 1e-9)
        assert lo <= tflops * 1e12 * max(estimate.UTILISATION) / (row["gflop_per_step"] * 1e9) * (1 + 1e-9)
    # counting at batch 1 and scaling by the batch gives the same FLOPs and the same op sequence as the full step
    counted = estimate.measure(RECIPES["msnet-sup"], count_only=True)
    assert counted["counted_at_batch"] == 1 and counted["cpu_s_per_step"] is None
    assert abs(counted["gflop_per_step"] / row["gflop_per_step"] - 1) < 1e-6
    assert counted["ops_per_step"] == row["ops_per_step"]


def test_smoke_archive_holds_only_the_notebook_sets(tmp_path):
    """smoke.tar carries the evaluation set the device's notebook smoke reads, apart from the training archive."""
    mod = _pack_module()
    if not (data_root() / "outdoor_rain_sample").is_dir():
        pytest.skip("no outdoor_rain_sample/ under the data root")
    assert not set(mod.SMOKE_SETS) & set(mod.TRAINING_SETS)
    out = tmp_path / "smoke.tar"
    assert mod.pack_smoke(out, data_root()) == ["outdoor_rain_sample"]
    with tarfile.open(out) as tf:
        names = [n for n in tf.getnames() if "/" in n]
    assert names and {n.split("/")[0] for n in names} == {"outdoor_rain_sample"}
    assert 0 < mod.checkout_mib() < mod.DEVICE_CARRY_MIB


def test_notebook_wheels_pin_each_package_once():
    """The device installs these with --no-deps: one exact version each, none that its image already holds."""
    pins = [line.split("==") for line in (ROOT / "lab" / "campaign" / "notebook_wheels.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    names = [p[0].lower() for p in pins]
    assert all(len(p) == 2 and p[1] for p in pins) and len(names) == len(set(names))
    assert {"nbclient", "ipykernel", "ipywidgets", "nbformat", "jupyter-client"} <= set(names)
    assert not {"torch", "numpy", "matplotlib", "pytest", "attrs", "packaging"} & set(names)
