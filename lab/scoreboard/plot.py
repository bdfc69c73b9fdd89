"""Y-PSNR against CPU time per image, one point per weight: ``assets/scoreboard/quality_vs_time.png``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .machines import short_machine, threads_text, timing_machines_note
from .protocol import SUBSET_SETS


def _spread(ys: list[float], gap: float) -> list[float]:
    """Label heights near ``ys`` at least ``gap`` apart (in the order of ys), as close to ys as that allows."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    for k in range(1, len(order)):
        i, j = order[k], order[k - 1]
        out[i] = max(out[i], out[j] + gap)
    return out


def plot(board: dict[str, Any], path: str | Path) -> Path:
    """Y-PSNR on rain100L and rain100H against CPU seconds per image (log x); one labelled point per weight, the
    input as a dashed line, the papers' / authors' figures as horizontal lines (no time known) in the legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"drn": "tab:blue", "msnet": "tab:orange", "dsen": "tab:green", "sdsen": "tab:olive",
              "derain_sr": "tab:purple"}
    paper_colors = ["firebrick", "darkmagenta", "darkgoldenrod", "teal", "saddlebrown", "crimson"]
    fig, axes = plt.subplots(1, 2, figsize=(16, 8.5))
    times = [r["cpu_seconds_per_image"] for r in board["rows"] if r["cpu_seconds_per_image"]]
    lo, hi = (min(times) / 2, max(times) * 6) if times else (0.1, 10)
    for ax, d in zip(axes, SUBSET_SETS):
        inp = board["input"]["sets"][d]["psnr_y"]
        ax.axhline(inp, ls="--", color="gray", lw=1.3, label=f"rainy input: {inp:.2f}")
        ys = [inp]
        pts = []
        for r in board["rows"]:
            s = r["sets"][d]
            x, y = r["cpu_seconds_per_image"], s["psnr_y"]
            ys.append(y)
            sr = r.get("scale", 1) > 1
            c = colors.get(r["arch"], "k")
            ax.scatter([x], [y], s=70, marker="s" if sr else "o", facecolors="none" if r["experiment"] else c,
                       edgecolors=c, linewidths=1.6, zorder=3)
            lab = r["weights"] + (" (exp.)" if r["experiment"] else "") + (" [LR input]" if sr else "")
            if s["subset"] != "all":
                lab += f" [n={s['n']}]"
            pts.append((x, y, lab))
        for k, p in enumerate(p for p in board["papers"] if d in p["sets"]):
            v = p["sets"][d]["psnr_y"]
            ys.append(v)
            ax.axhline(v, ls=":" if p["kind"] == "paper" else "-.", lw=1.4, color=paper_colors[k % len(paper_colors)],
                       label=f"{p['label']}: {v:.2f}")
        y0, y1 = min(ys) - 1.5, max(ys) + 1.5
        ax.set_ylim(y0, y1)
        # labels: to the right of each point, nudged apart within groups of nearby x (log scale)
        pts.sort(key=lambda t: t[0])
        groups: list[list[tuple[float, float, str]]] = []
        for t in pts:
            if groups and np.log10(t[0]) - np.log10(groups[-1][-1][0]) < 0.35:
                groups[-1].append(t)
            else:
                groups.append([t])
        arrow = {"arrowstyle": "-", "lw": 0.5, "color": "0.5"}
        for g in groups:
            ly = _spread([t[1] for t in g], (y1 - y0) * 0.045)
            for (x, y, lab), yy in zip(g, ly):
                ax.annotate(lab, (x, y), xytext=(x * 1.12, yy), fontsize=8.5, va="center",
                            arrowprops=arrow if abs(yy - y) > 1e-9 else None)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        n = board["input"]["sets"][d]["n"]
        ax.set_title(f"{d} ({n} pairs): Y-PSNR vs CPU time per image", fontsize=11)
        ax.set_xlabel(f"CPU seconds per 481x321 image, {threads_text(board)}, log scale")
        ax.set_ylabel("Y-PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8.5, ncol=1, frameon=False)
    where = ("CPU times from more than one machine (docs/scoreboard.md says which)" if timing_machines_note(board)
             else ", ".join(sorted({short_machine(m) for r in board["rows"] for m in r.get("timing_machines") or []})))
    fig.suptitle(f"Shipped weights; {where}.\nFilled: shipped, hollow: experiment, square: joint derain+SR "
                 "(bicubic-downsampled input, scored at full size); [n=..]: a fixed subset (its own input in the "
                 "table).\nLines: rainy input on the whole set (dashed); papers' tables (dotted) and the authors' "
                 "released weights (dash-dot), no time known.", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
