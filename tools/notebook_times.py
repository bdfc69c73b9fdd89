"""Time every notebook in quick mode and write the README's notebook table from the measurement.

    python tools/notebook_times.py              # runs all five (minutes), writes notebooks/times.json + README table
    python tools/notebook_times.py --render     # only re-render the README table from notebooks/times.json

Each notebook is executed top to bottom by nbclient in a temporary copy (the stored notebook is not modified), in
quick mode (``DERAIN_FULL=0``), with a last cell that prints the kernel's CPU time.  Run it on a quiet machine: the
figures are what a learner waits on this CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
TIMES = NB_DIR / "times.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- notebooks:begin -->", "<!-- notebooks:end -->"

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

LAST_CELL = """\
import resource as _r
_u = _r.getrusage(_r.RUSAGE_SELF)
print(f"kernel CPU {_u.ru_utime + _u.ru_stime:.1f} s")
"""


def run_one(path: Path, timeout: int) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    env_before = dict(os.environ)
    os.environ.update({"DERAIN_FULL": "0", "DERAIN_SMOKE": "0"})
    try:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}},
                       startup_timeout=300).execute()
        wall = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    m = re.search(r"kernel CPU ([\d.]+) s", text)
    return {"wall_s": round(wall, 1), "kernel_cpu_s": float(m.group(1)) if m else None}


def render(times: dict) -> str:
    lines = ["| notebook | what it teaches | the knob you turn | quick mode here (wall / CPU) |",
             "|---|---|---|---|"]
    for stem, (teaches, knob) in LESSONS.items():
        t = times["notebooks"].get(stem)
        cost = f"{t['wall_s'] / 60:.1f} min / {t['kernel_cpu_s'] / 60:.1f} min" if t and t["kernel_cpu_s"] else "–"
        lines.append(f"| [`{stem}`](notebooks/{stem}.ipynb) | {teaches} | {knob} | {cost} |")
    lines.append("")
    lines.append(f"Times from `python tools/notebook_times.py` on {times['machine']}.")
    return "\n".join(lines)


def splice(readme: str, block: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"error: README.md lacks the {BEGIN} ... {END} markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", readme)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", action="store_true", help="do not execute; re-render from notebooks/times.json")
    ap.add_argument("--only", nargs="*", help="notebook stems to (re)time; the others keep their stored figures")
    ap.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    args = ap.parse_args(argv)
    if args.render:
        times = json.loads(TIMES.read_text())
    else:
        from derain_lib.bench import machine_info

        times = json.loads(TIMES.read_text()) if TIMES.is_file() else {"notebooks": {}}
        times["machine"] = machine_info()
        for stem in args.only or list(LESSONS):
            print(f"running {stem} ...", flush=True)
            times["notebooks"][stem] = run_one(NB_DIR / f"{stem}.ipynb", args.timeout)
            print(f"  {times['notebooks'][stem]}", flush=True)
            TIMES.write_text(json.dumps(times, indent=1) + "\n")
    README.write_text(splice(README.read_text(), render(times)))
    print(f"wrote the notebook table into {README.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
