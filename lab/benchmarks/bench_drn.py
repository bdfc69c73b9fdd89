"""DRN inference speed on the CPU: our ``derain()`` and ``model(x)`` against the authors' forward.

Usage::

    python -m lab.benchmarks.bench_drn                                  # 1 and 2 threads, 481x321 and 1024x1024
    python -m lab.benchmarks.bench_drn --threads 2 --sizes 481x321 --repeats 7 --weights drn-heavy
    python -m lab.benchmarks.bench_drn --threads 1 --sizes 481x321 --profile   # where the time goes (torch.profiler)
    python -m lab.benchmarks.bench_drn --json out.json                  # also write the rows as JSON

The reference is :class:`derain_lib.models.drn_reference.AuthorsDRN`, the authors' released forward
(github.com/csdwren/DRN ``network.py``) op for op: NCHW float32, ``torch.cat((input, x), 1)`` in every stage,
``nn.Sequential`` blocks, ``F.relu(res_conv(x) + x)``, nothing cached, under ``torch.no_grad()``; it holds a
copy of the same weights.  Three variants are timed on the same image:

* ``authors``: ``AuthorsDRN(x)`` on the float tensor (what their test script times);
* ``model(x)``: our :class:`~derain_lib.models.drn.DRN` in eval mode under ``torch.no_grad()``;
* ``derain()``: :func:`derain_lib.infer.derain` on the uint8 image, the path users call (uint8 -> float,
  the model, clamp and rounding back to uint8 included).

The 481x321 image is Rain100H ``rainy/001.png`` from the data root (a synthetic one when it is absent); the
1024x1024 image is that photo resized (or synthetic).  Before timing, the script checks max |model(x) - authors|
<= 1e-4 and that ``derain()``'s uint8 output matches the reference's rounded output (differences of one level
only where the float outputs straddle a rounding boundary).

Timing: the variants run interleaved (``lab.timing.interleaved``: A, B, C, A, B, C, ...) after a warm-up,
and the median wall time is reported beside the median process CPU time (all threads summed), because the
machine may be shared; the load average before and after is printed.  GFLOP/s counts the convolutions'
multiply-adds analytically (2 FLOP each; 142.3 GFLOP for 481x321 at T = R = 7) and is compared with the
machine's measured single-precision matrix-multiply rate (2048^3 ``torch.mm`` at the same thread count), a
practical peak.  Shipped weights are the default: random initial weights make activations decay through the
210 layers into subnormal floats, which slows every variant for reasons unrelated to deraining.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from derain_lib.infer import derain
from derain_lib.io import to_tensor, to_uint8
from derain_lib.models.drn import DRN
from derain_lib.models.drn_reference import from_drn
from lab.timing import cpu_timed, interleaved, loadavg, machine_info, write_rows_json

REAL_IMAGE = "rain100H/rainy/001.png"  # 481x321, under the data root


def drn_flops(h: int, w: int, stages: int, recursions: int, features: int = 16, channels: int = 3) -> float:
    """Multiply-adds x 2 of all convolutions: T * (conv0 2c->f + 4R f->f + conv f->c), 3x3 kernels."""
    per_pixel = 2 * 9 * (2 * channels * features + 4 * recursions * features * features + features * channels)
    return float(h * w * stages * per_pixel)


def sgemm_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate at ``threads`` threads (a practical peak of this CPU)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_wall(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _wall(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_image(size: str) -> tuple[np.ndarray, str]:
    """uint8 (H, W, 3) of ``WxH``: the Rain100H photo (resized when needed), else synthetic."""
    from PIL import Image

    from derain_lib.paths import data_root

    w, h = (int(v) for v in size.lower().split("x"))
    path = data_root() / REAL_IMAGE
    if path.is_file():
        img = Image.open(path).convert("RGB")
        src = REAL_IMAGE
        if img.size != (w, h):
            img, src = img.resize((w, h), Image.BICUBIC), f"{REAL_IMAGE} resized to {w}x{h}"
        return np.asarray(img), src
    rng = np.random.default_rng(1)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8), "synthetic (data root absent)"


def load(weights: str | None) -> tuple[DRN, str]:
    from derain_lib.checkpoint import list_weights, load_model

    name = weights or next((n for n in ("drn-heavy", "drn-mixed") if n in list_weights()), None)
    if name is None:
        print("warning: no DRN weights shipped; random weights (subnormal activations slow every variant)")
        torch.manual_seed(0)
        return DRN().eval(), "random"
    return load_model(name, device="cpu").eval(), name


def bench_one(model: DRN, img: np.ndarray, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    ref = from_drn(model)
    x = to_tensor(img)
    cpu: dict[str, list[float]] = {"authors": [], "model(x)": [], "derain()": []}

    with torch.no_grad():
        want = ref(x)[0]
        got = model(x)
        err = (got - want).abs().max().item()
        if err > 1e-4:
            raise AssertionError(f"model(x) differs from the authors' forward: max |diff| = {err:.3g} > 1e-4")
    out = derain(img, model)
    levels = np.abs(out.astype(np.int16) - to_uint8(want).astype(np.int16))
    if levels.max() > 1:
        raise AssertionError(f"derain() differs from the reference by {levels.max()} uint8 levels")

    def authors():
        with torch.no_grad():
            ref(x)

    def ours():
        with torch.no_grad():
            model(x)

    fns = {"authors": cpu_timed(cpu, "authors", authors), "model(x)": cpu_timed(cpu, "model(x)", ours),
           "derain()": cpu_timed(cpu, "derain()", lambda: derain(img, model))}
    wall = interleaved(fns, repeats=repeats, warmup=1)
    med_cpu = {k: statistics.median(v[1:]) for k, v in cpu.items()}  # drop the warm-up call
    flops = drn_flops(img.shape[0], img.shape[1], model.config.stages, model.config.recursions)
    return {
        "threads": threads, "size": f"{img.shape[1]}x{img.shape[0]}", "repeats": repeats,
        "wall_s": wall, "cpu_s": med_cpu,
        "speedup_wall": {k: wall["authors"] / v for k, v in wall.items()},
        "speedup_cpu": {k: med_cpu["authors"] / v for k, v in med_cpu.items()},
        "gflop": flops / 1e9, "gflops_wall": {k: flops / v / 1e9 for k, v in wall.items()},
        "max_abs_diff_model": err, "derain_levels_off_by_one": float((levels > 0).mean()),
    }


def profile(model: DRN, img: np.ndarray, threads: int, rows: int = 12) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(threads)
    x = to_tensor(img)
    with torch.no_grad():
        model(x)
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            model(x)
    return p.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=rows,
                                                           max_name_column_width=36, max_shapes_column_width=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", nargs="+", default=["481x321", "1024x1024"], help="WxH")
    ap.add_argument("--weights", default=None, help="shipped DRN weight name or .safetensors (default: drn-heavy)")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of model(x) per setting")
    ap.add_argument("--no-peak", action="store_true", help="skip the matrix-multiply peak measurement")
    ap.add_argument("--json", help="write the rows to this JSON file")
    args = ap.parse_args(argv)

    model, name = load(args.weights)
    threads0 = torch.get_num_threads()
    print(f"machine: {machine_info()}")
    print(f"weights: {name} | T={model.config.stages} R={model.config.recursions} | load avg before: {loadavg()}")
    rows = []
    try:
        peaks = {t: (None if args.no_peak else sgemm_gflops(t)) for t in args.threads}
        for size in args.sizes:
            img, src = test_image(size)
            for t in args.threads:
                r = bench_one(model, img, t, args.repeats)
                r.update(image=src, weights=name, sgemm_gflops=peaks[t])
                rows.append(r)
                w, c = r["wall_s"], r["cpu_s"]
                peak = f" of {peaks[t]:.0f} (sgemm)" if peaks[t] else ""
                print(f"{r['size']:>9s} {t} thr | wall: authors {w['authors']:6.3f} s, model(x) {w['model(x)']:6.3f} s "
                      f"(x{r['speedup_wall']['model(x)']:.2f}), derain() {w['derain()']:6.3f} s "
                      f"(x{r['speedup_wall']['derain()']:.2f}) | CPU: authors {c['authors']:6.3f} s, model(x) "
                      f"{c['model(x)']:6.3f} s (x{r['speedup_cpu']['model(x)']:.2f}), derain() {c['derain()']:6.3f} s "
                      f"(x{r['speedup_cpu']['derain()']:.2f}) | GFLOP/s (wall) authors "
                      f"{r['gflops_wall']['authors']:.0f}, derain() {r['gflops_wall']['derain()']:.0f}{peak} | "
                      f"max|diff| {r['max_abs_diff_model']:.1e} | {src}", flush=True)
                if args.profile:
                    print(profile(model, img, t))
    finally:
        torch.set_num_threads(threads0)
    print(f"load avg after: {loadavg()}")
    if args.json:
        write_rows_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
