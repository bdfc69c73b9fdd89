"""The README's generated blocks (which weights to pick; a compact results table), spliced between their markers
by :mod:`lab.markers`, leaving every other line of the file as it is."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..markers import splice
from .machines import short_machine, threads_text
from .papers import PROTOCOL_OF_KIND
from .render import paper_cell
from .rule import reasons

MAX_RESULT_ROWS = 8


def pick_block(board: dict[str, Any]) -> str:
    """Per use case the weights the rule recommends and why; the joint SR weights for upscaling."""
    rec, why = board["recommended"], reasons(board)
    L = ["| use case | weights | why |", "|---|---|---|"]
    cases = (("real_photos", "your own rainy photos (the demo's default)"), ("heavy", "heavy rain, dense streaks"),
             ("light", "light rain, thin streaks"))
    for key, what in cases:
        if rec.get(key):
            L.append(f"| {what} | `{rec[key]}` | {why.get(key, '')} |")
    sr = [r for r in board["rows"] if r.get("scale", 1) > 1 and not r["experiment"] and r["sets"].get("rain100H")]
    if sr:
        names = ", ".join(f"`{r['weights']}`" for r in sr)
        figs = "; ".join(f"x{r['scale']} {r['sets']['rain100H']['psnr_y']:.2f} dB against "
                         f"{r['sets']['rain100H']['input_psnr_y']:.2f} for bicubic" for r in sr)
        L.append(f"| derain and upscale a small photo (x{', x'.join(str(r['scale']) for r in sr)}) | {names} | the "
                 f"joint derain + super-resolution weights; on Rain100H {figs} |")
    L += ["", ("Picked by a fixed rule from the scored results: [docs/scoreboard.md](docs/scoreboard.md#the-"
              "recommendation-rule).")]
    return "\n".join(L)


def _y(s: dict[str, Any] | None) -> str:
    if not s:
        return ""
    txt = f"{s['psnr_y']:.2f} / {s['ssim_y']:.3f}"
    return txt if s.get("subset", "all") == "all" else txt + f" (n={s['n']})"


def result_rows(board: dict[str, Any]) -> list[list[str]]:
    """The rainy input, each recommended weight once, and the published figures on Rain100L/H: at most
    :data:`MAX_RESULT_ROWS` rows of (label, protocol, Rain100L Y, Rain100H Y, CPU s / image)."""
    inp = board["input"]["sets"]
    ours = "this scoreboard"
    out = [["*rainy input*", ours, _y(inp["rain100L"]), _y(inp["rain100H"]), ""]]
    rows = {r["weights"]: r for r in board["rows"]}
    rec = board["recommended"]
    uses: dict[str, list[str]] = {}
    for key, what in (("real_photos", "real photos"), ("heavy", "heavy rain"), ("light", "light rain")):
        if rec.get(key) in rows:
            uses.setdefault(rec[key], []).append(what)
    for name, what in uses.items():
        r = rows[name]
        out.append([f"`{name}` (pick for {', '.join(what)})", ours, _y(r["sets"]["rain100L"]),
                    _y(r["sets"]["rain100H"]), f"{r['cpu_seconds_per_image']:.2f}"])
    for p in board["papers"]:
        if any(d in p["sets"] for d in ("rain100L", "rain100H")):
            out.append([f"*{p['label']}*", PROTOCOL_OF_KIND.get(p["kind"], p["kind"]), paper_cell(p, "rain100L"),
                        paper_cell(p, "rain100H"), ""])
    return out[:MAX_RESULT_ROWS]


def results_block(board: dict[str, Any]) -> str:
    L = ["| | figures from | Rain100L Y-PSNR / SSIM | Rain100H Y-PSNR / SSIM | CPU s / image |",
         "|---|---|---|---|---:|"]
    L += ["| " + " | ".join(r) + " |" for r in result_rows(board)]
    rec = {board["recommended"].get(k) for k in ("real_photos", "heavy", "light")}
    machines = sorted({short_machine(m) for r in board["rows"] if r["weights"] in rec
                       for m in r.get("timing_machines") or []})
    timed = f"; CPU time of the model call timed on {' and '.join(machines)}, {threads_text(board)}" \
        if machines else ""
    L += ["", ("Y-PSNR (dB) / SSIM on the Y channel (MATLAB BT.601 luma, the papers' convention) over all 100 test "
               f"pairs of each set unless marked n=..{timed}. Every weight, set and machine: "
               "[docs/scoreboard.md](docs/scoreboard.md).")]
    return "\n".join(L)


def readme_blocks(board: dict[str, Any]) -> dict[str, str]:
    return {"pick": pick_block(board), "results": results_block(board)}


def update_readme(board: dict[str, Any], readme_path: str | Path) -> bool:
    """Rewrite the README's pick and results blocks.  Returns False, changing nothing, when the file or one of
    the markers is missing."""
    rp = Path(readme_path)
    if not rp.exists():
        return False
    text = rp.read_text()
    try:
        new = text
        for name, body in readme_blocks(board).items():
            new = splice(new, name, body)
    except ValueError:
        return False
    if new != text:
        rp.write_text(new)
    return True
