"""Dataset layouts, synthetic batches and real-photo batches."""
import numpy as np
import pytest
import torch
from helpers import require_data
from PIL import Image

from derain_lib.data import PairedFolder, SyntheticRainBatches, UnpairedFolder, paired_patch_batches
from derain_lib.io import ImageError


def _img(path, seed, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


@pytest.mark.parametrize("layout", ["rainy_clean", "input_target", "jorder", "prenet", "outdoor"])
def test_paired_layouts(tmp_path, layout):
    for i in (1, 2):
        if layout == "rainy_clean":
            r, c = tmp_path / "rainy" / f"{i:03d}.png", tmp_path / "clean" / f"{i:03d}.png"
        elif layout == "input_target":
            r, c = tmp_path / "input" / f"{i}.png", tmp_path / "target" / f"{i}.png"
        elif layout == "jorder":
            r, c = tmp_path / "rain" / f"norain-{i}.png", tmp_path / "norain" / f"norain-{i}.png"
        elif layout == "prenet":
            r, c = tmp_path / "rainy" / f"rain-{i:03d}.png", tmp_path / f"norain-{i:03d}.png"
        else:
            r, c = tmp_path / "in" / f"im_000{i}_s80_a04.png", tmp_path / "gt" / f"im_000{i}.png"
        ra, ca = _img(r, i), _img(c, 10 + i)
    ds = PairedFolder(tmp_path)
    assert len(ds) == 2
    rainy, clean, _ = ds[1]
    np.testing.assert_array_equal(rainy, ra)
    np.testing.assert_array_equal(clean, ca)


def test_clean_plus_rain_layer_layout(tmp_path):
    """RainTrainL's shared layout: clean/NNN.jpg + rain_layer/NNN.png, the rainy image clip(clean + layer)."""
    from derain_lib.rain_bank import extract_layer

    rng = np.random.default_rng(0)
    for i in (1, 2):
        clean = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        layer = (rng.random((30, 40, 3)) < 0.1) * rng.integers(0, 120, (30, 40, 3))
        (tmp_path / "clean").mkdir(exist_ok=True)
        (tmp_path / "rain_layer").mkdir(exist_ok=True)
        Image.fromarray(clean).save(tmp_path / "clean" / f"{i:03d}.png")   # PNG here: the check is exact
        Image.fromarray(layer.astype(np.uint8)).save(tmp_path / "rain_layer" / f"{i:03d}.png")
    ds = PairedFolder(tmp_path)
    assert len(ds) == 2
    rainy, clean_read, name = ds[1]
    np.testing.assert_array_equal(clean_read, clean)
    np.testing.assert_array_equal(rainy, np.minimum(clean.astype(int) + layer, 255).astype(np.uint8))
    assert name == "002.png" and (rainy >= clean_read).all() and (rainy > clean_read).any()
    layer_back, _, _ = extract_layer(rainy, clean_read, saturate=True)   # the rain bank reads the same pairs
    assert float(layer_back.max()) > 0
    b = next(paired_patch_batches(tmp_path, batch_size=2, patch=16))
    assert (b["rainy"] >= b["clean"] - 1e-6).all()


def test_clean_plus_rain_layer_mismatch_is_explained(tmp_path):
    _img(tmp_path / "clean" / "001.png", 0, size=(40, 30))
    _img(tmp_path / "rain_layer" / "001.png", 1, size=(20, 30))
    with pytest.raises(ImageError, match="does not match its clean image"):
        PairedFolder(tmp_path)[0]


def test_paired_missing(tmp_path):
    (tmp_path / "rainy").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\(rainy, clean\\) pairs"):
        PairedFolder(tmp_path)


def test_unpaired(tmp_path):
    for i in range(3):
        _img(tmp_path / f"{i}.jpg", i)
    assert len(UnpairedFolder(tmp_path, exclude=["1.jpg"])) == 2


def test_synthetic_batches(tmp_path):
    for i in range(4):
        _img(tmp_path / "c" / f"{i}.png", i, size=(90, 70))
    it = SyntheticRainBatches([tmp_path / "c"], batch_size=3, patch=32, preset="heavy", seed=1)
    b = next(it)
    assert b["rainy"].shape == b["clean"].shape == (3, 3, 32, 32)
    assert float((b["rainy"] - b["clean"]).abs().mean()) > 0.01
    again = next(SyntheticRainBatches([tmp_path / "c"], batch_size=3, patch=32, preset="heavy", seed=1))
    torch.testing.assert_close(again["rainy"], b["rainy"])
    sr = next(SyntheticRainBatches([tmp_path / "c"], batch_size=2, patch=32, preset="heavy_haze", scale=2))
    assert sr["rainy"].shape == (2, 3, 16, 16) and sr["clean_lr"].shape == (2, 3, 16, 16)
    assert sr["clean"].shape == (2, 3, 32, 32)


def test_paired_patches_are_aligned(tmp_path):
    for i in range(2):
        a = _img(tmp_path / "rainy" / f"{i}.png", i, size=(50, 40))
        Image.fromarray(a).save(tmp_path / "clean" / f"{i}.png") if (tmp_path / "clean").exists() else (
            (tmp_path / "clean").mkdir(), Image.fromarray(a).save(tmp_path / "clean" / f"{i}.png"))
    b = next(paired_patch_batches(tmp_path, batch_size=4, patch=16))
    torch.testing.assert_close(b["rainy"], b["clean"])  # identical pairs -> identical crops


@require_data("clean")
def test_default_clean_corpus():
    b = next(SyntheticRainBatches(batch_size=2, patch=48, max_images=8))
    assert b["clean"].shape == (2, 3, 48, 48)


def test_rectangular_patches(tmp_path):
    """The joint derain+SR paper trains on 200x300 crops: (h, w) patches work, including upscaling small images."""
    for i in range(2):
        _img(tmp_path / "c" / f"{i}.png", i, size=(120, 90))
    b = next(SyntheticRainBatches([tmp_path / "c"], batch_size=2, patch=(40, 60), preset="heavy_haze", scale=2))
    assert b["clean"].shape == (2, 3, 40, 60) and b["rainy"].shape == (2, 3, 20, 30)
    big = next(SyntheticRainBatches([tmp_path / "c"], batch_size=1, patch=(100, 150)))
    assert big["clean"].shape == (1, 3, 100, 150)
    with pytest.raises(ValueError, match="multiple of scale"):
        SyntheticRainBatches([tmp_path / "c"], patch=(41, 60), scale=2)


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each derain_lib module imported first (all derain_lib modules dropped before each), as a user would."""
    import subprocess
    import sys
    from pathlib import Path

    import derain_lib

    pkg = Path(derain_lib.__file__).parent
    mods = sorted(".".join(("derain_lib",) + f.relative_to(pkg).with_suffix("").parts).removesuffix(".__init__")
                  for f in pkg.rglob("*.py") if f.name != "__main__.py")
    code = ("import importlib, sys, traceback\nbad = []\n"
            f"for m in {mods!r}:\n"
            "    for k in [k for k in sys.modules if k == 'derain_lib' or k.startswith('derain_lib.')]:\n"
            "        del sys.modules[k]\n"
            "    try:\n        importlib.import_module(m)\n"
            "    except Exception as e:\n        bad.append(f'{m}: {type(e).__name__}: {e}')\n"
            "print('\\n'.join(bad))\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
