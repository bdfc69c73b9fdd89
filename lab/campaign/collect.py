"""Score what a campaign brought back and promote only the weights better than the shipped ones.

Each returned ``NAME.safetensors`` is scored with :func:`lab.scoreboard.evaluate_weight` (the
scoreboard's own protocol, cache and subsets) and compared with the shipped weight's row in
``derain_lib/weights/scoreboard.json`` on Rain100L and Rain100H, Y-PSNR.  When both rows were scored on the
same images the PSNRs are compared; otherwise the gains over the input on each row's own images are (the
scoreboard's rule for ranking rows of different subsets).  A weight is promoted
(:func:`derain_lib.checkpoint.promote_weights`, what ``python -m derain_lib promote`` calls) only when it is
better on **both** sets; ``scoreboard --write`` must then be re-run to refresh the board.
"""
from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SETS = ("rain100L", "rain100H")


def _same_images(a: dict, b: dict) -> bool:
    return a.get("subset") == b.get("subset") and a.get("n") == b.get("n")


def compare(new: dict[str, Any], shipped: dict[str, Any] | None) -> dict[str, Any]:
    """Per set: the two figures compared, how, and whether the new row is better; ``better`` overall."""
    out: dict[str, Any] = {"sets": {}, "better": False}
    if shipped is None:
        out["reason"] = "no shipped row to compare with"
        return out
    ok = True
    for d in SETS:
        a, b = (new.get("sets") or {}).get(d), (shipped.get("sets") or {}).get(d)
        if not a or not b:
            out["sets"][d] = {"better": False, "how": "missing"}
            ok = False
            continue
        if _same_images(a, b):
            x, y, how = a["psnr_y"], b["psnr_y"], "psnr_y, same images"
        else:
            x, y = a["psnr_y"] - a["input_psnr_y"], b["psnr_y"] - b["input_psnr_y"]
            how = f"gain over input ({a.get('subset')} vs {b.get('subset')})"
        out["sets"][d] = {"new": round(x, 3), "shipped": round(y, 3), "how": how, "better": x > y}
        ok = ok and x > y
    out["better"] = ok
    return out


def returned_weights(path: str | Path) -> tuple[Path, list[Path]]:
    """The folder of a campaign's output (a tar from the device is unpacked beside itself) and its weights."""
    p = Path(path)
    if p.is_file() and tarfile.is_tarfile(p):
        folder = p.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(p) as tf:
            tf.extractall(folder, filter="data")
        p = folder
    if not p.is_dir():
        raise FileNotFoundError(f"--collect {p}: not a campaign output folder or tar")
    nested = [q.parent for q in p.rglob("campaign.json")]
    if nested and not (p / "campaign.json").exists():
        p = nested[0]
    files = sorted(q for q in p.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{p}: no .safetensors weights to collect")
    return p, files


def collect(path: str | Path, *, evaluate: Callable[..., dict | None] | None = None,
            board: str | Path | None = None, promote: bool = True, weights_dir: str | Path | None = None,
            max_seconds: float = 900.0, subset: str | None = None, cache_dir: str | Path | None = None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Score every returned weight, compare it with its shipped row and promote the better ones (``promote``).
    ``evaluate`` defaults to the scoreboard's ``evaluate_weight``; ``board`` to the shipped scoreboard.json."""
    from derain_lib.checkpoint import promote_weights, read_metadata
    from derain_lib.paths import WEIGHTS_DIR

    if evaluate is None:
        from lab.scoreboard import CACHE_DIR
        from lab.scoreboard import evaluate_weight as evaluate
        cache_dir = cache_dir or CACHE_DIR
    board_path = Path(board) if board else WEIGHTS_DIR / "scoreboard.json"
    rows = {r["weights"]: r for r in json.loads(board_path.read_text())["rows"]}
    folder, files = returned_weights(path)
    results = []
    for f in files:
        name = f.stem
        row = evaluate(name, f, cache_dir, max_seconds, subset)
        if row is None:
            results.append({"weights": name, "better": False, "reason": "not scored"})
            continue
        cmp = compare(row, rows.get(name))
        res = {"weights": name, "file": str(f), **cmp, "promoted": None}
        if cmp["better"] and promote:
            summary = rows[name].get("summary") or read_metadata(f)["info"].get("summary") or name
            res["promoted"] = str(promote_weights(f, name, summary, out_dir=weights_dir))
        figures = ", ".join(f"{d} {v.get('new')} vs {v.get('shipped')}" for d, v in cmp["sets"].items())
        log(f"{name}: {figures} -> {'PROMOTED' if res['promoted'] else 'better' if cmp['better'] else 'kept'}")
        results.append(res)
    (folder / "collect.json").write_text(json.dumps(results, indent=2) + "\n")
    if any(r.get("promoted") for r in results):
        log("promoted weights: refresh the board with 'python -m lab scoreboard --write --check' and "
            "re-execute the notebooks that load them")
    return results
