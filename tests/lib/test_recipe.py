"""One training-run spec: built in Python or from the command line, the same run; its batches, as the library's
data sources make them; a 2-step run's files and lineage; the campaign's batches equal to the command line's."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from derain_lib.cli import build_parser
from derain_lib.cli.train import spec_from_args
from derain_lib.data import (
    PairedFolder,
    SyntheticRainBatches,
    mixed_batches,
    paired_patch_batches,
    real_patch_batches,
)
from derain_lib.rain import PRESET_CALIBRATION
from derain_lib.recipe import TrainSpec, build_batches, run
from derain_lib.weightfile import read_metadata


def _image(name: str, size: int = 96) -> np.ndarray:
    from skimage import data
    return np.ascontiguousarray(getattr(data, name)()[:size, :size])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tiny data root: clean photos, a paired training set (rain made by the library), real rainy photos."""
    from derain_lib.io import to_tensor, to_uint8
    from derain_lib.rain import rain_batch

    r = tmp_path_factory.mktemp("data")
    names = ("astronaut", "coffee", "chelsea", "rocket")
    g = torch.Generator().manual_seed(0)
    (r / "clean").mkdir()
    for i, name in enumerate(names):
        img = _image(name)
        Image.fromarray(img).save(r / "clean" / f"{name}.png")
        rainy = to_uint8(rain_batch(to_tensor(img), "heavy", g)[0])
        for sub, im in (("rainy", rainy), ("clean", img)):
            (r / "rain100H_train12" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(im).save(r / "rain100H_train12" / sub / f"{i}.png")
        folder = r / ("real_rainy" if i % 2 else "real_rainy_more") / "rainy"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rainy).save(folder / f"real_{i}.png")
    return r


@pytest.fixture
def data_root(root, monkeypatch):
    monkeypatch.setenv("DERAIN_DATA", str(root))
    return root


def _cli_spec(*argv: str) -> TrainSpec:
    args = build_parser().parse_args(["train", *argv])
    args.argv = ["train", *argv]           # as main() sets it
    return spec_from_args(args)


def test_a_spec_from_python_equals_the_spec_from_the_command_line(tmp_path):
    argv = ["drn", "--config", "stages=2", "recursions=1", "--preset", "light+bank", "--clean", str(tmp_path),
            "--angle-range", "-10", "10", "--mix-pairs", "rain100H_train12", "0.3", "--real", "default",
            "--exclude", "a.jpg", "b.png", "--steps", "7", "--batch", "2", "--patch", "40", "60", "--lr", "2e-4",
            "--milestones", "3", "5", "--gamma", "0.1", "--grad-clip", "1", "--precision", "bf16", "--seed", "9",
            "--threads", "1", "--device", "cpu", "--init", "w.safetensors", "--ckpt", "c.pt", "--ckpt-every", "5",
            "--time-limit", "60", "--eval", "rain100L", "--log-every", "2", "--no-progress", "--out", "runs/x",
            "--summary", "a test"]
    py = TrainSpec("drn", config={"stages": 2, "recursions": 1}, preset="light+bank", clean=[tmp_path],
                   angle_range=(-10, 10), mix_pairs=("rain100H_train12", 0.3), real=["default"],
                   exclude=("a.jpg", "b.png"), steps=7, batch=2, patch=(40, 60), lr=2e-4, milestones=[3, 5],
                   gamma=0.1, grad_clip=1.0, precision="bf16", seed=9, threads=1, device="cpu",
                   init="w.safetensors", ckpt="c.pt", ckpt_every=5, time_limit=60, eval=["rain100L"], log_every=2,
                   progress="lines", out="runs/x", summary="a test",
                   command="python -m derain_lib " + shlex.join(["train", *argv]))
    assert _cli_spec(*argv) == py
    # the defaults agree too, and the checkpoint goes where the command line has always put it
    plain = _cli_spec("msnet", "--steps", "1", "--out", "runs/y.safetensors")
    assert plain == TrainSpec("msnet", steps=1, out="runs/y.safetensors", command=plain.command)
    assert str(plain.checkpoint_path) == "checkpoints/y.pt" and TrainSpec("drn").checkpoint_path is None


@pytest.mark.parametrize("kw, message", [
    ({"data": "pairs", "mix_pairs": ("x", 0.3)}, "use it with --data synthetic"),
    ({"mix_pairs": ("x", "lots")}, "must be a number"),
    ({"mix_pairs": ("x", 1.0)}, "between 0 and 1"),
    ({"resume": "c.pt", "init": "w.safetensors"}, "not both"),
    ({"resume_lr": 1e-4}, "--resume-lr"),
    ({"progress": "loud"}, "progress"),
])
def test_a_spec_that_cannot_run_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainSpec("drn", **kw)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_build_batches_draws_what_the_data_sources_draw(data_root):
    """The batches are the library's data sources with the seeds the command line has always used: synthetic or
    paired ``seed``, real patches ``seed + 1``, mixed-in pairs ``seed + 2``, the mixing ``seed + 3``."""
    syn = build_batches(TrainSpec("drn", preset="light", batch=2, patch=32, seed=3))
    ref = SyntheticRainBatches(None, batch_size=2, patch=32, preset="light", seed=3)
    assert syn.n_images == 4 and syn.description == "synthetic (light) over clean/"
    for _ in range(3):
        assert _equal(next(syn.batches), next(ref))

    pairs = build_batches(TrainSpec("drn", data="rain100H_train12", batch=2, patch=32, seed=4))
    ref = paired_patch_batches(data_root / "rain100H_train12", batch_size=2, patch=32, seed=4)
    assert pairs.n_images == len(PairedFolder(data_root / "rain100H_train12")) == 4
    for _ in range(3):
        assert _equal(next(pairs.batches), next(ref))

    both = build_batches(TrainSpec("msnet", preset="light", mix_pairs=("rain100H_train12", 0.5), real=["default"],
                                   exclude=["real_1.png"], batch=2, patch=32, seed=5))
    real = real_patch_batches(None, batch_size=2, patch=32, seed=6, exclude=["real_1.png"])
    ref = ({**b, "real": next(real)} for b in mixed_batches(
        SyntheticRainBatches(None, batch_size=2, patch=32, preset="light", seed=5),
        paired_patch_batches(data_root / "rain100H_train12", batch_size=2, patch=32, seed=7), 0.5, seed=8))
    assert both.n_images == 8 and "50% of batches from the pairs of rain100H_train12" in both.description
    for _ in range(4):
        assert _equal(next(both.batches), next(ref))


def test_a_two_step_run_writes_weights_a_sidecar_and_one_lineage_entry(data_root, tmp_path):
    from derain_lib.checkpoint import load_model

    out = tmp_path / "tiny.safetensors"
    spec = TrainSpec("drn", config={"stages": 2, "recursions": 1}, preset="light", steps=2, batch=1, patch=32,
                     device="cpu", log_every=1, progress="off", ckpt=tmp_path / "c.pt", out=out, summary="tiny",
                     command="a notebook")
    done = run(spec)
    assert done.trainer.step == 2 and (tmp_path / "c.pt").exists()
    info = read_metadata(out)["info"]
    assert info["steps"] == 2 and info["summary"] == "tiny" and info["command"] == "a notebook"
    [entry] = info["lineage"]
    assert entry["steps"] == 2 and entry["command"] == "a notebook" and entry["init"] is None
    assert entry["data"] == "synthetic (light) over clean/" and entry["preset"] == "light"
    assert entry["preset_calibration"] == PRESET_CALIBRATION          # drawn from the training-pair calibration
    assert entry["batch"] == 1 and entry["patch"] == 32 and entry["config"] == {"stages": 2, "recursions": 1}
    assert entry["precision"] == "fp32" and entry["interrupted"] is False and entry["resumed_from"] is None
    for k in ("train_seconds", "cpu_seconds"):                  # seconds to the millisecond, never negative
        assert isinstance(entry[k], float) and entry[k] >= 0 and round(entry[k], 3) == entry[k]
    assert [(i["from_step"], i["to_step"]) for i in entry["invocations"]] == [(0, 2)]
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["arch"] == "drn" and side["lineage"] == info["lineage"] and side["history"]["step"] == [1, 2]
    assert load_model(out, device="cpu").config.stages == 2
    with pytest.raises(ValueError, match="evaluate="):
        run(TrainSpec("drn", steps=1, out=out, eval=["rain100L"]))


@pytest.mark.parametrize("name, argv", [
    ("msnet-semi", ["msnet", "--preset", "bank+bank_1dir", "--real", "default", "--lr", "5e-5"]),
    ("drn-heavy", ["drn", "--preset", "bank_heavy+bank_heavy+bank_1dir", "--mix-pairs", "rain100H_train12", "0.2",
                   "--lr", "5e-5"]),
])
def test_the_campaign_and_the_command_line_make_the_same_batches(data_root, name, argv):
    from derain_lib.models.registry import build_model
    from lab.campaign import RECIPES, train_spec
    from lab.scoreboard.protocol import heldout_real

    recipe = RECIPES[name]
    campaign = train_spec(recipe, config={}, scale=1, batch_cap=2, crop_cap=24, device="cpu", seed=7)
    exclude = ["--exclude", *heldout_real()] if recipe.real else []
    cli = _cli_spec(*argv, *exclude, "--batch", "2", "--patch", "24", "--seed", "7", "--steps", "1", "--out", "x")
    for field in ("arch", "preset", "mix_pairs", "real", "exclude", "batch", "patch", "lr", "seed"):
        assert getattr(campaign, field) == getattr(cli, field), field
    model = build_model(recipe.arch, channels=8) if recipe.arch == "msnet" else build_model(recipe.arch, stages=2)
    a, b = build_batches(campaign, model), build_batches(cli, model)
    assert a.description == b.description and a.n_images == b.n_images
    for _ in range(3):
        assert _equal(next(a.batches), next(b.batches))


def test_a_run_from_scratch_starts_from_the_same_weights(data_root):
    """The untrained model is built under the spec's seed, so two runs of one spec are the same run."""
    from derain_lib.recipe import prepare

    spec = TrainSpec("drn", config={"stages": 2, "recursions": 1}, preset="light", steps=1, batch=1, patch=32,
                     device="cpu", seed=5)
    torch.manual_seed(1)
    a = prepare(spec, log=lambda s: None).model.state_dict()
    torch.manual_seed(2)
    b = prepare(spec, log=lambda s: None).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
