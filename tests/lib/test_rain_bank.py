"""Rain banks from training pairs and side-by-side pair folders (tiny folders made here; shared data optional)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import require_data
from PIL import Image

from derain_lib import rain_bank
from derain_lib.data import PairedFolder, paired_patch_batches
from derain_lib.io import ImageError
from derain_lib.rain import rain_batch
from derain_lib.rain_bank import BankParams, RainBank, _one_direction, extract_layer


def _pair(seed: int, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clean image (values kept below 0.6 so nothing saturates), a known gray rain layer, and the rainy image."""
    r = np.random.default_rng(seed)
    clean = (r.uniform(0.1, 0.6, (h, w, 3)) * 255).round().astype(np.uint8)
    layer = np.zeros((h, w), np.float64)
    for x in r.choice(w, 6, replace=False):  # vertical streaks
        layer[r.integers(0, h // 2): h, x] = r.uniform(0.2, 0.35)
    rainy = np.clip(clean + (layer[..., None] * 255).round(), 0, 255).astype(np.uint8)
    return clean, layer, rainy


def _write_pairs(root, n=3, name="train_pairs"):
    d = root / name
    (d / "rainy").mkdir(parents=True)
    (d / "clean").mkdir()
    for i in range(n):
        clean, _, rainy = _pair(i)
        Image.fromarray(clean).save(d / "clean" / f"{i:02d}.png")
        Image.fromarray(rainy).save(d / "rainy" / f"{i:02d}.png")
    return d


def test_extract_layer_recovers_additive_rain():
    clean, layer, rainy = _pair(0)
    got, saturated, valid = extract_layer(rainy, clean)
    assert bool(valid.all())
    assert saturated == 0.0
    np.testing.assert_allclose(got[0].numpy(), layer, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("order", ["clean_left", "rainy_left"])
def test_side_by_side_pairs_both_orders(tmp_path, order):
    for i in range(2):
        clean, _, rainy = _pair(i)
        halves = (clean, rainy) if order == "clean_left" else (rainy, clean)
        Image.fromarray(np.concatenate(halves, 1)).save(tmp_path / f"{i:03d}.png")
    ds = PairedFolder(tmp_path)
    assert ds.side_by_side == order                       # detected: the brighter half is the rainy one
    rainy, clean, _ = ds[1]
    exp_clean, _, exp_rainy = _pair(1)
    np.testing.assert_array_equal(rainy, exp_rainy)
    np.testing.assert_array_equal(clean, exp_clean)
    # an explicit order overrides detection (and so swaps the halves when it is wrong)
    other = "rainy_left" if order == "clean_left" else "clean_left"
    swapped = PairedFolder(tmp_path, order=other)[1]
    np.testing.assert_array_equal(swapped[0], exp_clean)
    batch = next(paired_patch_batches(tmp_path, batch_size=2, patch=32, seed=0))
    assert batch["rainy"].shape == (2, 3, 32, 32)
    assert bool((batch["rainy"] >= batch["clean"] - 1e-6).all())   # additive rain survives the aligned crop


def test_side_by_side_errors(tmp_path):
    with pytest.raises(ValueError, match="order must be one of"):
        PairedFolder(tmp_path, order="left")
    Image.fromarray(np.zeros((20, 10, 3), np.uint8)).save(tmp_path / "narrow.png")
    with pytest.raises(ImageError, match="too narrow"):
        PairedFolder(tmp_path)[0]


def test_bank_refuses_benchmark_sets(tmp_path):
    with pytest.raises(ValueError, match="benchmark test set"):
        RainBank(BankParams("rain100L"), root=tmp_path)


def test_bank_sample_seeded_bounded(tmp_path):
    folder = _write_pairs(tmp_path)
    bank = RainBank(BankParams(str(folder), strength=(0.5, 0.5), scale=(1.0, 1.0)))
    assert len(bank) == 3
    a = bank.sample(4, 40, 40, torch.Generator().manual_seed(0))
    b = bank.sample(4, 40, 40, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert a.shape == (4, 1, 40, 40)
    # strength 0.5 of layers whose streaks are at most 0.35 (+ rounding)
    assert 0 < float(a.max()) <= 0.5 * (0.35 + 1 / 255) + 1e-3
    # an image larger than every layer is still covered (the layer is stretched)
    assert bank.sample(1, 100, 130, torch.Generator().manual_seed(1)).shape == (1, 1, 100, 130)


def test_bank_presets_through_rain_batch(tmp_path, monkeypatch):
    _write_pairs(tmp_path, name="rain100H_train12")
    monkeypatch.setenv("DERAIN_DATA", str(tmp_path))
    monkeypatch.setattr(rain_bank, "_CACHE", {})
    clean = torch.rand(6, 3, 32, 32) * 0.5
    rainy, _ = rain_batch(clean, "bank+light", torch.Generator().manual_seed(0))
    again, _ = rain_batch(clean, "bank+light", torch.Generator().manual_seed(0))
    torch.testing.assert_close(rainy, again)
    assert bool((rainy >= clean - 1e-6).all())          # both kinds of rain only add light here
    assert float((rainy - clean).abs().sum()) > 0
    r1, _ = rain_batch(clean, "bank_1dir", torch.Generator().manual_seed(0))
    assert r1.shape == clean.shape
    with pytest.raises(ValueError, match="unknown rain preset"):
        rain_batch(clean, "bank+nonsense")


def test_one_direction_keeps_the_dominant_orientation():
    h = w = 64
    yy, xx = np.mgrid[:h, :w]
    vertical = ((xx % 8) == 0).astype(np.float32)           # strong vertical streaks
    diagonal = (((xx + yy) % 11) == 0).astype(np.float32)   # weaker 45-degree streaks
    x = torch.from_numpy(0.6 * vertical + 0.3 * diagonal)[None, None]
    y = _one_direction(x)[0, 0].numpy()
    corr = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert corr(y, vertical) > 0.9
    assert abs(corr(y, diagonal)) < 0.2


@require_data("rain100H_train12")
def test_real_bank_from_training_pairs():
    bank = RainBank(rain_bank.BANKS["bank"], max_pairs=4)
    assert len(bank) + len(bank.dropped) == 4
    s = bank.sample(2, 64, 64, torch.Generator().manual_seed(0))
    assert 0.0 < float(s.mean()) < 0.5


def test_train_refuses_benchmark_sets(tmp_path, monkeypatch, capsys):
    from derain_lib.__main__ import main
    (tmp_path / "rain100H" / "rainy").mkdir(parents=True)
    (tmp_path / "rain100H" / "clean").mkdir()
    monkeypatch.setenv("DERAIN_DATA", str(tmp_path))
    code = main(["train", "drn", "--data", "rain100H", "--steps", "1", "--out", str(tmp_path / "w")])
    assert code != 0
    assert "benchmark test set" in capsys.readouterr().err


def test_clipped_regions_are_not_rain(tmp_path):
    """Where the clean photo is bright the rain is clipped: rainy - clean is a negative of the photo there, and the
    bank must neither keep it nor crop from it."""
    clean, layer, rainy = _pair(3, h=64, w=96)
    clean[:, :48] = 240                                   # a bright left half (sky): rain clipped there
    rainy[:, :48] = np.clip(240 + (layer[:, :48, None] * 255).round(), 0, 255).astype(np.uint8)
    got, _, valid = extract_layer(rainy, clean)
    assert not bool(valid[:, :, :40].any()) and bool(valid[:, :, 56:].all())
    assert float(got[:, :, :40].abs().max()) == 0.0
    d = tmp_path / "pairs"
    (d / "rainy").mkdir(parents=True); (d / "clean").mkdir()
    Image.fromarray(clean).save(d / "clean" / "a.png"); Image.fromarray(rainy).save(d / "rainy" / "a.png")
    bank = RainBank(BankParams(str(d), strength=(1.0, 1.0), scale=(1.0, 1.0)))
    s = bank.sample(8, 32, 32, torch.Generator().manual_seed(0))
    # every crop comes from the valid right half, whose streaks are all >= 0.2
    assert all(float(x.max()) >= 0.2 for x in s)


def test_saturated_rain_becomes_white(tmp_path):
    """``saturate=True`` (bank_heavy): where the rainy image is saturated, the layer is 1 (a composite saturates
    there too), elsewhere it is the exact rain; nothing is masked."""
    clean, _, rainy = _pair(4, h=64, w=96)
    rainy[10:30, 10:40] = 255                             # a saturated rain region
    got, _, valid = extract_layer(rainy, clean, saturate=True)
    assert bool(valid.all())
    assert float(got[:, 10:30, 10:40].min()) == 1.0
    exact = np.clip(rainy.astype(np.float32) - clean.astype(np.float32), 0, None).mean(2) / 255
    outside = np.ones((64, 96), bool); outside[10:30, 10:40] = False
    assert np.allclose(got[0].numpy()[outside], exact[outside], atol=1e-6)
    # the composite over a dark photo is white where the source was saturated
    d = tmp_path / "pairs"
    (d / "rainy").mkdir(parents=True); (d / "clean").mkdir()
    Image.fromarray(clean).save(d / "clean" / "a.png"); Image.fromarray(rainy).save(d / "rainy" / "a.png")
    bank = RainBank(BankParams(str(d), strength=(1.0, 1.0), scale=(1.0, 1.0), saturate=True))
    for seed in range(4):                                 # the whole layer each time, maybe flipped
        s = bank.sample(1, 64, 96, torch.Generator().manual_seed(seed))[0, 0]
        assert max(float(s[10:30, 10:40].min()), float(s.flip(-1)[10:30, 10:40].min())) == 1.0


def test_mixed_batches_draw_the_asked_fraction():
    from derain_lib.data import mixed_batches
    a = iter(lambda: {"src": 0}, None)
    b = iter(lambda: {"src": 1}, None)
    got = [next(g)["src"] for g in [mixed_batches(a, b, 0.3, seed=5)] for _ in range(2000)]
    assert 0.26 < sum(got) / len(got) < 0.34
    again = mixed_batches(iter(lambda: {"src": 0}, None), iter(lambda: {"src": 1}, None), 0.3, seed=5)
    assert [next(again)["src"] for _ in range(50)] == got[:50]          # seeded: a rerun sees the same sequence
    with pytest.raises(ValueError, match="fraction"):
        next(mixed_batches(a, b, 1.5))


def test_train_mix_pairs_refuses_benchmark_sets_and_records_the_mix(tmp_path, monkeypatch, capsys):
    from derain_lib.__main__ import main
    for set_name in ("rain100L", "pairs"):
        for sub in ("rainy", "clean"):
            (tmp_path / set_name / sub).mkdir(parents=True)
    clean, _, rainy = _pair(0, h=48, w=48)
    Image.fromarray(clean).save(tmp_path / "pairs" / "clean" / "a.png")
    Image.fromarray(rainy).save(tmp_path / "pairs" / "rainy" / "a.png")
    monkeypatch.setenv("DERAIN_DATA", str(tmp_path))
    clean_dir = tmp_path / "pairs" / "clean"
    args = ["train", "drn", "--config", "stages=1", "recursions=1", "--clean", str(clean_dir), "--preset", "light",
            "--steps", "2", "--batch", "2", "--patch", "32", "--threads", "1", "--no-progress"]
    assert main(args + ["--mix-pairs", "rain100L", "0.5", "--out", str(tmp_path / "w0")]) != 0
    assert "benchmark test set" in capsys.readouterr().err
    assert main(args + ["--mix-pairs", "pairs", "2", "--out", str(tmp_path / "w1")]) != 0
    assert "between 0 and 1" in capsys.readouterr().err
    assert main(args + ["--mix-pairs", "pairs", "half", "--out", str(tmp_path / "w1")]) != 0
    assert "must be a number, got 'half'" in capsys.readouterr().err
    assert main(args + ["--mix-pairs", "pairs", "0.5", "--out", str(tmp_path / "w2"),
                        "--ckpt", str(tmp_path / "w2.pt")]) == 0          # (not the checkout's checkpoints/)
    meta = json.loads((tmp_path / "w2.json").read_text())
    assert "50% of batches from the pairs of pairs" in meta["data"]
