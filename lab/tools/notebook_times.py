"""Time every notebook in quick mode and write the notebook tables from the measurement.

    python -m lab.tools.notebook_times              # runs all five (minutes), writes notebooks/times.json + the tables
    python -m lab.tools.notebook_times --inplace    # the same, and stores each executed notebook's outputs
    python -m lab.tools.notebook_times --render     # only re-render the tables from notebooks/times.json

Each notebook is executed top to bottom by nbclient in quick mode (``DERAIN_FULL=0``) with a last cell that prints
the kernel's CPU time and the notebook's ``CONTROL_TIMES`` (one update of each live control, wall and CPU seconds,
measured by the notebook itself).  Without ``--inplace`` the stored notebook is not modified.  The README gets the
per-notebook table, ``notebooks/README.md`` the controls table and the quick-mode times.  Run it on a quiet
machine: the figures are what a learner waits on this CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from lab import ROOT
from lab.markers import write_block

NB_DIR = ROOT / "notebooks"
TIMES = NB_DIR / "times.json"
README = ROOT / "README.md"
NB_README = NB_DIR / "README.md"

# What each lesson teaches and the knob its learner turns (the controls themselves are listed in notebooks/README.md).
LESSONS = {
    "00_rain_and_metrics": ("how rain is modelled (streaks, haze, real rain layers); Y vs RGB PSNR/SSIM; the data",
                            "rain sliders with live PSNR/SSIM; try your own photo"),
    "01_equivariance": ("p4 group convolutions written out and checked; DSEN vs CNN on rotated rain; S-DSEN stages",
                        "rotate the input by any angle: feature maps and equivariance error"),
    "02_recursive_unfolding": ("DRN: one stage and its recursions, the stage-wise SSIM loss, speed",
                               "stages T and recursions R: output per stage, PSNR, time"),
    "03_distribution_matching": ("synthetic vs real rain; the mean + covariance matching loss; multi-scale units",
                                 "matching weight: feature scatter and mean/covariance gap"),
    "04_heavy_rain_and_super_resolution": ("the heavy-rain physics model and its inversion; attention fusion; SR",
                                           "streaks, transmission, light; x2/x4 against bicubic with a zoom"),
}

# Each live control, by the prefix of its CONTROL_TIMES key: (what you turn, what it shows, screenshot or None).
CONTROLS = {
    "00_rain_and_metrics": [
        ("show_rain", "streak angle, density, length, strength; procedural or bank rain",
         "the rainy photo and its Y-PSNR/SSIM against the clean one", "00_rain_sliders.png"),
        ("try your own photo: derain", "upload a photo (`FileUpload`)",
         "the recommended weights' output as a before/after split", "00_try_your_photo.png"),
        ("try your own photo: move", "the split", "the same before/after, redrawn", None),
    ],
    "01_equivariance": [
        ("show_equivariance", "rotation angle, any degree",
         "CNN and p4 feature maps side by side, the equivariance error of each", "01_rotation_angle.png"),
    ],
    "02_recursive_unfolding": [
        ("show_unfolding", "stages T, recursions R (shipped DRN)",
         "the output after each stage, PSNR against the stage, the time of the run", "02_stages_recursions.png"),
    ],
    "03_distribution_matching": [
        ("show_matching", "matching weight, training step (stored fine-tuning runs)",
         "synthetic vs real feature scatter, the mean/covariance gap", "03_matching_sliders.png"),
        ("show_pair", "held-out real photo, weights, split",
         "before/after and the removed layer", "03_photo_before_after.jpg"),
    ],
    "04_heavy_rain_and_super_resolution": [
        ("show_heavy_rain", "streak strength, transmission, atmospheric light",
         "S, T, A, the rendered I (Eq. 1) and its inversion", "04_heavy_rain_sliders.png"),
        ("show_zoom: a scene", "scene, x2/x4", "joint SR against bicubic with a zoomed square", "04_zoom_x2_x4.png"),
        ("show_zoom: move", "the square's place and size", "the same, re-cropped", None),
        ("show_zoom: first view", "x4 for the first time", "the x4 model runs on the scene", None),
    ],
}

LAST_CELL = """\
import json as _json, resource as _r
_u = _r.getrusage(_r.RUSAGE_SELF)
print(f"kernel CPU {_u.ru_utime + _u.ru_stime:.1f} s")
_ct = globals().get("CONTROL_TIMES", {})
_ct = {k: list(v) if isinstance(v, (tuple, list)) else [v, None] for k, v in _ct.items()}
print("control times " + _json.dumps(_ct))
"""


def run_one(path: Path, timeout: int, inplace: bool = False) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    env_before = dict(os.environ)
    os.environ.update({"DERAIN_FULL": "0", "DERAIN_SMOKE": "0"})
    try:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(NB_DIR)}}, startup_timeout=300).execute()
        wall = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    m = re.search(r"kernel CPU ([\d.]+) s", text)
    c = re.search(r"control times (\{.*\})", text)
    controls = json.loads(c.group(1)) if c else {}
    controls = {k: [None if x is None else round(x, 2) for x in v] for k, v in controls.items()}
    if inplace:
        nb.cells.pop()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
    return {"wall_s": round(wall, 1), "kernel_cpu_s": float(m.group(1)) if m else None, "controls": controls}


def render(times: dict) -> str:
    lines = ["| notebook | what it teaches | the knob you turn | quick mode here (wall / CPU) |",
             "|---|---|---|---|"]
    for stem, (teaches, knob) in LESSONS.items():
        t = times["notebooks"].get(stem)
        cost = f"{t['wall_s'] / 60:.1f} min / {t['kernel_cpu_s'] / 60:.1f} min" if t and t["kernel_cpu_s"] else "–"
        lines.append(f"| [`{stem}`](notebooks/{stem}.ipynb) | {teaches} | {knob} | {cost} |")
    lines.append("")
    lines.append(f"Times from `python -m lab.tools.notebook_times` on {times['machine']}.")
    return "\n".join(lines)


def _seconds(v) -> str:
    wall, cpu = v
    return f"{wall:.2f} s" + (f" / {cpu:.2f} s" if cpu is not None else "")


def render_controls(times: dict) -> str:
    lines = ["| notebook | control | what you turn | what it shows | one update (wall / CPU) | screenshot |",
             "|---|---|---|---|---|---|"]
    for stem, controls in CONTROLS.items():
        measured = times["notebooks"].get(stem, {}).get("controls", {})
        for prefix, turn, shows, shot in controls:
            keys = [k for k in measured if k.startswith(prefix)]
            cost = "; ".join(_seconds(measured[k]) for k in keys) or "–"
            name = keys[0].split(" (")[0] if keys else prefix
            link = f"[{shot}](../assets/screenshots/{shot})" if shot else ""
            lines.append(f"| {stem[:2]} | `{name}` | {turn} | {shows} | {cost} | {link} |")
    lines.append("")
    lines.append(f"One update as the notebook measured it in `python -m lab.tools.notebook_times` on "
                 f"{times['machine']}.")
    return "\n".join(lines)


def render_quick(times: dict) -> str:
    lines = ["| notebook | quick mode, wall | quick mode, kernel CPU |", "|---|---|---|"]
    for stem in LESSONS:
        t = times["notebooks"].get(stem)
        if t and t.get("kernel_cpu_s"):
            lines.append(f"| {stem} | {t['wall_s']:.0f} s | {t['kernel_cpu_s']:.0f} s |")
        else:
            lines.append(f"| {stem} | – | – |")
    lines.append("")
    lines.append(f"Measured with `python -m lab.tools.notebook_times` on {times['machine']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", action="store_true", help="do not execute; re-render from notebooks/times.json")
    ap.add_argument("--only", nargs="*", help="notebook stems to (re)time; the others keep their stored figures")
    ap.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    ap.add_argument("--inplace", action="store_true", help="store each executed notebook's outputs")
    args = ap.parse_args(argv)
    if args.render:
        times = json.loads(TIMES.read_text())
    else:
        from derain_lib.runtime import machine_info

        times = json.loads(TIMES.read_text()) if TIMES.is_file() else {"notebooks": {}}
        times["machine"] = machine_info()
        for stem in args.only or list(LESSONS):
            print(f"running {stem} ...", flush=True)
            times["notebooks"][stem] = run_one(NB_DIR / f"{stem}.ipynb", args.timeout, args.inplace)
            print(f"  {times['notebooks'][stem]}", flush=True)
            TIMES.write_text(json.dumps(times, indent=1) + "\n")
    write_block(README, "notebooks", render(times))
    write_block(NB_README, "controls", render_controls(times))
    write_block(NB_README, "quick", render_quick(times))
    print("wrote the notebook tables into README.md and notebooks/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
