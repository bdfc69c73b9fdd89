"""The command line: real photo in, files out; bad input -> one line, non-zero exit, no traceback."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import docs_cli_examples, require_data
from PIL import Image

from derain_lib.paths import data_root

REPO = Path(__file__).resolve().parents[2]


def cli(*args, check=False):
    r = subprocess.run([sys.executable, "-m", "derain_lib", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, timeout=300, check=False)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_help_and_list(capsys):
    """One real process for the top-level help and ``list``; every verb's help through the same parser in-process."""
    from derain_lib.cli import main

    assert "derain" in cli("--help", check=True).stdout
    for sub in ("derain", "eval", "train", "synth", "export", "list", "promote", "convert-drn"):
        with pytest.raises(SystemExit) as stop:
            main([sub, "--help"])
        assert stop.value.code == 0 and "usage" in capsys.readouterr().out
    assert "architectures: " in cli("list", check=True).stdout


@require_data("real_rainy")
def test_derain_real_photo_untrained(tmp_path):
    src = data_root() / "real_rainy" / "rainy"
    src = src if src.is_dir() else data_root() / "real_rainy"
    photo = min(p for p in src.iterdir() if p.name.startswith("drn_real"))
    r = cli("derain", photo, "-o", tmp_path, "--untrained", "drn", check=True)
    out = tmp_path / (photo.stem + ".png")
    assert out.exists() and Image.open(out).size == Image.open(photo).size
    assert "UNTRAINED" in r.stderr


def test_bad_inputs_give_one_line(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    good = tmp_path / "ok.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(good)
    r = cli("derain", bad, good, "-o", tmp_path / "out", "--untrained", "drn")
    assert r.returncode == 1
    assert "not an image" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "out" / "ok.png").exists()  # the good file is still processed
    for args in (["derain", good, "--model", "no-such-weights"],
                 ["derain", good, "--untrained", "no-such-arch"],
                 ["eval", "--data", tmp_path / "missing", "--input-only"],
                 ["train", "drn", "--steps", "1", "--out", tmp_path / "w", "--config", "bogus=1"]):
        r = cli(*args)
        assert r.returncode == 2, args
        assert r.stderr.strip().startswith("error:") and "Traceback" not in r.stderr, r.stderr
    r = cli("derain")
    assert r.returncode == 2 and "usage" in r.stderr


@require_data("rain100L_subset10")
def test_eval_json_input_only():
    r = cli("eval", "--data", "rain100L_subset10", "--input-only", "--json", check=True)
    res = json.loads(r.stdout)[0]
    assert res["images"] == 10
    assert res["mean"]["input_psnr_y"] == pytest.approx(29.72, abs=0.01)


@pytest.mark.slow
def test_synth_train_eval_roundtrip(tmp_path):
    """synth makes a paired folder; train on it (user's paired-folder path); the weights load and evaluate."""
    from skimage import data
    clean = tmp_path / "clean_src"
    clean.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(getattr(data, name)()[:128, :160]).save(clean / f"{name}.png")
    cli("synth", clean, "-o", tmp_path / "pairs", "--preset", "light", "--seed", "1", check=True)
    assert len(list((tmp_path / "pairs" / "rainy").iterdir())) == 3
    w = tmp_path / "tiny.safetensors"
    r = cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "3",
            "--batch", "2", "--patch", "32", "--out", w, "--ckpt", tmp_path / "c.pt", "--no-progress",
            "--log-every", "1", "--eval", tmp_path / "pairs", check=True)
    assert w.exists() and w.with_suffix(".json").exists()
    assert [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("step ")] == ["1/3", "2/3", "3/3"]
    info = json.loads(w.with_suffix(".json").read_text())
    assert info["steps"] == 3 and "python -m derain_lib train drn" in info["command"]
    assert info["history"]["step"] == [1, 2, 3] and len(info["history"]["loss"]) == 3   # the loss curve, per log
    r = cli("eval", "--data", tmp_path / "pairs", "--model", w, "--json", check=True)
    assert json.loads(r.stdout)[0]["model"] == "tiny"
    # Resuming keeps the saved schedule, and the header and the sidecar say so (not this call's --lr).
    import torch
    cpu_ckpt = torch.load(tmp_path / "c.pt", weights_only=True)["cpu_seconds"]   # the checkpoint's CPU time so far
    assert cpu_ckpt > 0
    r = cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "5",
            "--batch", "2", "--patch", "32", "--lr", "0.5", "--out", w, "--resume", tmp_path / "c.pt",
            "--ckpt", tmp_path / "c.pt", "--no-progress", check=True)
    assert "at step 3" in r.stdout and "lr 0.5" not in r.stdout
    info = json.loads(w.with_suffix(".json").read_text())
    assert info["steps"] == 5 and info["lr"] != 0.5
    run = info["lineage"][-1]     # the resumed run's record covers the whole run, CPU time before the resume too
    assert run["resumed_at_step"] == 3 and run["cpu_seconds"] >= cpu_ckpt and "cpu_seconds_note" not in run
    old = torch.load(tmp_path / "c.pt", weights_only=True)
    del old["cpu_seconds"]                                     # a checkpoint written before CPU time was recorded
    torch.save(old, tmp_path / "old.pt")
    cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "6",
        "--batch", "2", "--patch", "32", "--out", tmp_path / "old.safetensors", "--resume", tmp_path / "old.pt",
        "--ckpt", tmp_path / "old2.pt", "--no-progress", check=True)
    old_run = json.loads((tmp_path / "old.json").read_text())["lineage"][-1]
    assert "this invocation only" in old_run["cpu_seconds_note"]
    del old["invocations"]                                     # ... and before invocations were recorded
    torch.save(old, tmp_path / "older.pt")
    cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "6",
        "--batch", "2", "--patch", "32", "--out", tmp_path / "older.safetensors", "--resume", tmp_path / "older.pt",
        "--ckpt", tmp_path / "older2.pt", "--no-progress", check=True)
    older = json.loads((tmp_path / "older.json").read_text())["lineage"][-1]["invocations"]
    assert [(r["from_step"], r["to_step"]) for r in older] == [(0, 5), (5, 6)] and "unknown" in older[0]["note"]
    # --resume-lr: a manual lr decay of a resumed run (Adam state and step kept); the record and checkpoint say so.
    r = cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "6",
            "--batch", "2", "--patch", "32", "--out", tmp_path / "dec.safetensors", "--resume", tmp_path / "c.pt",
            "--resume-lr", "0.003", "--ckpt", tmp_path / "dec.pt", "--no-progress", check=True)
    assert "at step 5: lr" in r.stdout and "-> 0.003" in r.stdout
    assert json.loads((tmp_path / "dec.json").read_text())["lineage"][-1]["lr"] == 0.003
    dec = torch.load(tmp_path / "dec.pt", weights_only=True)
    assert dec["step"] == 6 and dec["opt"]["param_groups"][0]["lr"] == 0.003
    assert dec["opt"]["state"], "Adam's moments were dropped"
    for bad in (["--resume-lr", "0.01"], ["--resume", tmp_path / "c.pt", "--resume-lr", "-1"]):
        r = cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "7",
                "--batch", "2", "--patch", "32", "--out", tmp_path / "bad.safetensors", "--ckpt", tmp_path / "b.pt",
                "--no-progress", *bad)
        assert r.returncode != 0 and "--resume-lr" in r.stderr and not (tmp_path / "bad.safetensors").exists()
    # Fine-tuning with --init carries the parent's lineage and adds this run; steps add up over the lineage.
    w2 = tmp_path / "tiny2.safetensors"
    cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "2",
        "--batch", "2", "--patch", "32", "--out", w2, "--init", w, "--ckpt", tmp_path / "c2.pt", "--no-progress",
        check=True)
    info2 = json.loads(w2.with_suffix(".json").read_text())
    assert [r["steps"] for r in info2["lineage"]] == [5, 2] and info2["steps"] == 7
    assert info2["lineage"][1]["init"] == str(w) and info2["lineage"][1]["cpu_seconds"] > 0
    assert info2["lineage"][1]["precision"] == "fp32"
    assert info2["lineage"][1]["interrupted"] is False
    # Resuming that fine-tuning run (bfloat16 this time) keeps the lineage of the weights it started from.
    w3 = tmp_path / "tiny3.safetensors"
    cli("train", "drn", "--config", "stages=2", "recursions=1", "--data", tmp_path / "pairs", "--steps", "3",
        "--batch", "2", "--patch", "32", "--out", w3, "--resume", tmp_path / "c2.pt", "--ckpt", tmp_path / "c3.pt",
        "--precision", "bf16", "--no-progress", check=True)
    info3 = json.loads(w3.with_suffix(".json").read_text())
    assert [r["steps"] for r in info3["lineage"]] == [5, 3] and info3["steps"] == 8
    assert info3["lineage"][1]["init"] == str(w) and info3["lineage"][1]["resumed_from"] == str(tmp_path / "c2.pt")
    # ... and says that its steps ran in two precisions, one record per invocation (steps, date, machine, CPU)
    assert info3["lineage"][1]["precision"] == "fp32+bf16"
    inv = info3["lineage"][1]["invocations"]
    assert [(r["from_step"], r["to_step"], r["precision"]) for r in inv] == [(0, 2, "fp32"), (2, 3, "bf16")]
    assert all(r["cpu_seconds"] > 0 and "UTC" in r["date"] and "torch" in r["machine"] for r in inv)
    # promote makes the run a named weight: same tensors, lineage totals, the run's loss curve kept.
    r = cli("promote", w2, "tiny-shipped", "--summary", "a test weight", "--out-dir", tmp_path / "ship", check=True)
    shipped = tmp_path / "ship" / "tiny-shipped.safetensors"
    assert "7 steps" in r.stdout and shipped.exists()
    side = json.loads(shipped.with_suffix(".json").read_text())
    assert side["name"] == "tiny-shipped" and side["summary"] == "a test weight" and side["steps"] == 7
    assert side["train_seconds"] == pytest.approx(sum(r["train_seconds"] for r in info2["lineage"]), abs=0.2)
    assert side["history"] == info2["history"] and side["arch"] == "drn"
    from safetensors.torch import load_file
    a, b = load_file(str(w2)), load_file(str(shipped))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    r = cli("eval", "--data", tmp_path / "pairs", "--model", shipped, "--json", check=True)
    assert json.loads(r.stdout)[0]["model"] == "tiny-shipped"
    r = cli("promote", w2, "../evil", "--summary", "x", "--out-dir", tmp_path / "ship")
    assert r.returncode != 0 and "weight name" in r.stderr and not (tmp_path / "evil.safetensors").exists()


@pytest.mark.slow
def test_semi_train_records_its_real_photos(tmp_path):
    """A semi-supervised run's sidecar names the unlabelled real photos it matched and how many were held back."""
    from skimage import data
    clean, real = tmp_path / "clean", tmp_path / "real"
    clean.mkdir(), real.mkdir()
    Image.fromarray(data.astronaut()[:96, :96]).save(clean / "a.png")
    for name in ("coffee", "chelsea"):
        Image.fromarray(getattr(data, name)()[:96, :96]).save(real / f"{name}.png")
    w = tmp_path / "semi.safetensors"
    cli("train", "msnet", "--clean", clean, "--preset", "light", "--real", real, "--exclude", "chelsea.png",
        "--steps", "1", "--batch", "1", "--patch", "32", "--out", w, "--ckpt", tmp_path / "c.pt", "--no-progress",
        check=True)
    info = json.loads(w.with_suffix(".json").read_text())
    assert info["data"] == (f"synthetic (light) over {clean} + unlabelled real rainy patches from {real} "
                            "(1 photos held out)")
    assert info["lineage"][-1]["data"] == info["data"]


@pytest.mark.slow
def test_train_ctrl_c_writes_weights_and_sidecar(tmp_path):
    """Ctrl-C (SIGINT) on a long run: it stops after the step in progress and still writes the weights, the
    sidecar (marked interrupted) and the checkpoint, exiting 0."""
    import signal

    from skimage import data
    clean = tmp_path / "clean"
    clean.mkdir()
    Image.fromarray(data.astronaut()[:96, :96]).save(clean / "a.png")
    w = tmp_path / "long.safetensors"
    p = subprocess.Popen([sys.executable, "-m", "derain_lib", "train", "drn", "--config", "stages=2", "recursions=1",
                          "--clean", str(clean), "--preset", "light", "--steps", "1000000", "--batch", "1",
                          "--patch", "32", "--out", str(w), "--ckpt", str(tmp_path / "c.pt"), "--no-progress",
                          "--log-every", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in p.stdout:                    # wait until it is training
            if line.startswith("step "):
                break
        p.send_signal(signal.SIGINT)
        rest = p.communicate(timeout=120)[0]
    finally:
        p.kill()
    assert p.returncode == 0, rest
    assert "SIGINT received: stopping cleanly" in rest
    info = json.loads(w.with_suffix(".json").read_text())
    run = info["lineage"][-1]
    assert run["interrupted"] is True and 1 <= run["steps"] < 1000000
    assert w.exists() and (tmp_path / "c.pt").exists()


# Verbs documented in docs/cli.md whose module is not in cli.COMMANDS (yet): their examples are not parsed.
UNREGISTERED_DOCUMENTED: set[str] = set()


def test_docs_cli_examples_parse_and_every_verb_is_documented():
    """Every ``python -m derain_lib ...`` example of docs/cli.md parses with the real parser, and every
    subcommand has its section there."""
    import re

    from derain_lib.cli import build_parser

    text = (REPO / "docs" / "cli.md").read_text()
    parser = build_parser()
    verbs = set(next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices)
    sections = set(re.findall(r"^## (\S+)$", text, flags=re.MULTILINE))
    assert verbs <= sections, f"subcommands without a section in docs/cli.md: {verbs - sections}"
    parsed = 0
    for argv in docs_cli_examples(text, "python -m derain_lib"):
        ex = "python -m derain_lib " + " ".join(argv)
        if "--help" in argv or argv[0] not in verbs and argv[0] in UNREGISTERED_DOCUMENTED:
            continue
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"docs/cli.md example does not parse: {ex}")
        parsed += 1
    assert parsed >= 2 * len(verbs) - 1, f"only {parsed} examples parsed for {len(verbs)} subcommands"
