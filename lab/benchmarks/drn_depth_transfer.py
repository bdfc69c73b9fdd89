"""Does a DRN trained at one depth work at another?  DRN shares one set of weights across all T stages and R
recursions (Sec. 2), so the same weights run at any (T, R); this scores them at several.

    python -m lab.benchmarks.drn_depth_transfer --weights drn-light drn-heavy --depths 1x1 3x3 5x5 7x7 3x7 7x3 \
        --sets rain100L rain100H --max-images 10

A measurement, not a tuning step: the shipped configuration stays the paper's T = R = 7 whatever this shows
(choosing (T, R) on a test set would be tuning on it). 1 torch thread; Y-PSNR with the README's eval conventions.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    import torch
    from safetensors.torch import load_file

    from derain_lib.checkpoint import read_metadata, weights_path
    from derain_lib.evaluate import evaluate
    from derain_lib.models.registry import build_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", nargs="+", default=["drn-light", "drn-heavy"],
                    help="shipped DRN weight names or .safetensors files")
    ap.add_argument("--depths", nargs="+", default=["1x1", "3x3", "5x5", "7x7"], help="TxR pairs")
    ap.add_argument("--sets", nargs="+", default=["rain100L", "rain100H"])
    ap.add_argument("--max-images", type=int, default=10, help="the first N images of each set")
    ap.add_argument("--json", action="store_true", help="print JSON rows instead of a Markdown table")
    a = ap.parse_args()
    torch.set_num_threads(1)
    depths = []
    for d in a.depths:
        try:
            t, r = (int(v) for v in d.lower().split("x"))
        except ValueError:
            ap.error(f"--depths: {d!r} is not TxR (e.g. 3x7)")
        depths.append((t, r))
    rows = []
    for w in a.weights:
        path = weights_path(w)
        meta = read_metadata(path)
        if meta["arch"] != "drn":
            ap.error(f"{w}: a {meta['arch']} weight, not DRN")
        state = load_file(str(path))
        for t, r in depths:
            model = build_model("drn", **{**meta["config"], "stages": t, "recursions": r})
            model.load_state_dict(state, strict=True)
            model.eval()
            row = {"weights": Path(path).stem, "T": t, "R": r}
            t0 = time.process_time()
            for s in a.sets:
                m = evaluate(model, s, max_images=a.max_images)["mean"]
                row[s] = round(m["output_psnr_y"], 2)
                row[s + "_input"] = round(m["input_psnr_y"], 2)
            row["cpu_seconds"] = round(time.process_time() - t0, 1)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    head = "| weights | T x R | " + " | ".join(f"{s}[:{a.max_images}] Y" for s in a.sets) + " |"
    print(head)
    print("|---|---|" + "---:|" * len(a.sets))
    for row in rows:
        print(f"| `{row['weights']}` | {row['T']} x {row['R']} | " + " | ".join(f"{row[s]:.2f}" for s in a.sets) + " |")
    print("| rainy input | | " + " | ".join(f"{rows[0][s + '_input']:.2f}" for s in a.sets) + " |")


if __name__ == "__main__":
    main()
