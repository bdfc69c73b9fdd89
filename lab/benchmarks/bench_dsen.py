"""DSEN / S-DSEN inference speed on the CPU: the eval path against the reference code path.

Usage::

    python -m lab.benchmarks.bench_dsen                               # sdsen and dsen, 1 and 2 threads, 481x321
    python -m lab.benchmarks.bench_dsen --weights sdsen dsen --threads 2 --repeats 3
    python -m lab.benchmarks.bench_dsen --weights sdsen --threads 2 --repeats 3 --profile
    python -m lab.benchmarks.bench_dsen --phases --threads 1 2                # one tiled-FFT conv, phase by phase

``before`` is the reference implementation that every eval call used before the fast paths: ``_Body.forward``
(NCHW ``(B, C, 4, H, W)`` p4 maps, ``torch.cat`` for the skip concatenation, separate bias / LeakyReLU / add
passes), called under ``torch.no_grad()`` exactly as ``DSEN.forward`` / ``SDSEN.forward`` called it; it is the
training path and is unchanged.  ``direct`` is the first fast path: ``_Body.forward_fast``
with every convolution direct in oneDNN (channels-last maps, fused bias + LeakyReLU, the concatenation split into
two summed convolutions, the zero link half of stage 1 skipped).  ``after`` is ``model(x)`` in eval mode, what
users get now: the same, but the residual layers and links as tiled FFT convolutions
(``derain_lib.layers.fftconv``, chosen by ``fftconv.use_fft``: tile transforms as real DFT GEMMs, per-frequency
channel-mixing GEMMs, S-DSEN layer-input spectra reused by the next stage's links).  ``derain()`` is the users'
path (uint8 in and out) on the same image (``--skip-derain`` leaves it out).

The image is Rain100H ``rainy/001.png`` (481x321) from the data root, synthetic when absent.  Outputs are
checked (max |after - before| and max |direct - before| <= 1e-4) before timing; timings are interleaved
(``lab.timing.interleaved``), median wall and process CPU time are reported with the load average.  GFLOP
counts the convolutions' multiply-adds x 2 with ``torch.utils.flop_counter`` on the reference path (exactly
proportional to the pixels).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from derain_lib.infer import derain
from derain_lib.io import to_tensor
from derain_lib.models.dsen import SDSEN
from lab.timing import cpu_timed, interleaved, loadavg, machine_info, write_rows_json

REAL_IMAGE = "rain100H/rainy/001.png"


@torch.no_grad()
def before(model, x: torch.Tensor) -> torch.Tensor:
    """The eval forward before the fast paths: the reference ``_Body.forward`` under no_grad, as DSEN/SDSEN
    called it."""
    body = model.body
    if not isinstance(model, SDSEN):
        return x - body(x)[0]
    y, prev = x, None
    for _ in range(model.config.stages):
        rain, feats, _ = body(y, prev if body.link != "none" else None)
        y, prev = y - rain, feats
    return y


@torch.no_grad()
def direct(model, x: torch.Tensor) -> torch.Tensor:
    """The previous fast path: ``model(x)`` with the FFT route switched off (``_Body._fft_plan`` -> None)."""
    body = model.body
    body._fft_plan = lambda _x: None  # instance attribute shadows the method
    try:
        return model(x)
    finally:
        del body._fft_plan


def conv_gflop(model, h: int, w: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, 32, 32)
    with FlopCounterMode(display=False) as fc:
        before(model, x)
    return fc.get_total_flops() * (h * w) / (32 * 32) / 1e9


def test_image(size: str):
    from PIL import Image

    from derain_lib.paths import data_root

    w, h = (int(v) for v in size.lower().split("x"))
    path = data_root() / REAL_IMAGE
    if path.is_file():
        img = Image.open(path).convert("RGB")
        if img.size != (w, h):
            return np.asarray(img.resize((w, h), Image.BICUBIC)), f"{REAL_IMAGE} resized to {w}x{h}"
        return np.asarray(img), REAL_IMAGE
    return (np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8), "synthetic (data root absent)"


def bench_one(model, img, threads: int, repeats: int, with_derain: bool = True) -> dict:
    torch.set_num_threads(threads)
    x = to_tensor(img)
    with torch.no_grad():
        ref = before(model, x)
        err = (model(x) - ref).abs().max().item()
        err_direct = (direct(model, x) - ref).abs().max().item()
    if max(err, err_direct) > 1e-4:
        raise AssertionError(f"fast path differs from the reference by {err:.3g} (direct {err_direct:.3g}) > 1e-4")
    fft = model.body._fft_plan(x) is not None
    cpu: dict[str, list[float]] = {"before": [], "direct": [], "after": []}
    if with_derain:
        cpu["derain()"] = []

    def after():
        with torch.no_grad():
            model(x)

    fns = {"before": cpu_timed(cpu, "before", lambda: before(model, x)),
           "direct": cpu_timed(cpu, "direct", lambda: direct(model, x)),
           "after": cpu_timed(cpu, "after", after)}
    if with_derain:
        fns["derain()"] = cpu_timed(cpu, "derain()", lambda: derain(img, model))
    wall = interleaved(fns, repeats=repeats, warmup=1)
    med_cpu = {k: statistics.median(v[1:]) for k, v in cpu.items()}
    return {"threads": threads, "size": f"{img.shape[1]}x{img.shape[0]}", "repeats": repeats, "wall_s": wall,
            "cpu_s": med_cpu, "speedup_wall": {k: wall["before"] / v for k, v in wall.items()},
            "speedup_cpu": {k: med_cpu["before"] / v for k, v in med_cpu.items()}, "max_abs_diff": err,
            "max_abs_diff_direct": err_direct, "fft": fft}


def profile(model, img, threads: int, fast: bool, rows: int = 10) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(threads)
    x = to_tensor(img)
    fn = (lambda: model(x)) if fast else (lambda: before(model, x))
    with torch.no_grad():
        fn()
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            fn()
    return p.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=rows,
                                                           max_name_column_width=36, max_shapes_column_width=60)


def phases(size: str, threads: int, repeats: int = 5) -> str:
    """Median wall ms of the pieces of the S-DSEN FFT convolutions at ``size`` (random 40-map inputs): the
    whole-image tile spectrum of 40 maps, a 40 -> 40 link from a kept spectrum (channel mixing + inverse +
    epilogue), an 80 -> 40 layer from a kept spectrum plus a spatial input (transformed per chunk), the same
    from two spectra, and oneDNN's direct 80 -> 40 conv for comparison."""
    import torch.nn.functional as F

    from derain_lib.layers import fftconv

    torch.set_num_threads(threads)
    w_, h_ = (int(v) for v in size.lower().split("x"))
    plan = fftconv.TilePlan(h_, w_, 5)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 40, h_, w_, generator=g)
    a = plan.pad_nchw(x)
    sa = fftconv.spectrum(a, plan)
    wt = torch.randn(40, 80, 5, 5, generator=g) * 0.03
    bias = torch.zeros(40)
    sw = [fftconv.spectrum_matrix(wt[:, :40]), fftconv.spectrum_matrix(wt[:, 40:])]
    out = plan.empty(1, 40)
    xx = torch.cat([x, x], 1).contiguous(memory_format=torch.channels_last)
    wcl = wt.contiguous(memory_format=torch.channels_last)
    cases = {
        "spectrum(40 maps)": lambda: fftconv.spectrum(a, plan, out=sa),
        "link 40->40 from spectrum": lambda: fftconv.conv2d_padded([sa], sw[:1], plan, bias, 0.2, out=out),
        "layer 80->40 spectrum+spatial": lambda: fftconv.conv2d_padded([sa, a], sw, plan, bias, 0.2, residual=a,
                                                                        out=out),
        "layer 80->40 two spectra": lambda: fftconv.conv2d_padded([sa, sa], sw, plan, bias, 0.2, residual=a,
                                                                   out=out),
        "oneDNN direct 80->40": lambda: F.conv2d(xx, wcl, bias, padding=2),
    }
    res = []
    with torch.no_grad():
        for name, fn in cases.items():
            fn()
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            res.append(f"{name} {1e3 * statistics.median(ts):.1f} ms")
    return f"phases {size} {threads} thr: " + ", ".join(res)


def main(argv=None):
    from derain_lib.checkpoint import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", nargs="+", default=["sdsen", "dsen"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--size", default="481x321", help="WxH")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="torch.profiler tables of before and after")
    ap.add_argument("--skip-derain", action="store_true", help="do not time derain()")
    ap.add_argument("--phases", action="store_true", help="only time the pieces of one FFT conv (see phases())")
    ap.add_argument("--json", help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    threads0 = torch.get_num_threads()
    if args.phases:
        try:
            for t in args.threads:
                print(phases(args.size, t), flush=True)
        finally:
            torch.set_num_threads(threads0)
        return []
    img, src = test_image(args.size)
    print(f"machine: {machine_info()}\nimage: {src} | load avg before: {loadavg()}")
    rows = []
    try:
        for name in args.weights:
            model = load_model(name, device="cpu").eval()
            gflop = conv_gflop(model, img.shape[0], img.shape[1])
            for t in args.threads:
                r = bench_one(model, img, t, args.repeats, with_derain=not args.skip_derain)
                r.update(weights=name, gflop=gflop, image=src)
                rows.append(r)
                w, c, sw = r["wall_s"], r["cpu_s"], r["speedup_wall"]
                dr = f", derain() {w['derain()']:6.2f} s" if "derain()" in w else ""
                print(f"{name:6s} {r['size']} {t} thr | wall: before {w['before']:6.2f} s, direct {w['direct']:6.2f} s "
                      f"(x{sw['direct']:.2f}), after {w['after']:6.2f} s (x{sw['after']:.2f}; "
                      f"{'FFT' if r['fft'] else 'direct'}){dr} | CPU: before {c['before']:6.2f} s, after "
                      f"{c['after']:6.2f} s (x{r['speedup_cpu']['after']:.2f}) | {gflop:.0f} direct-conv GFLOP: "
                      f"{gflop / w['direct']:.0f} GFLOP/s direct, {gflop / w['before']:.0f} before | "
                      f"max|diff| after {r['max_abs_diff']:.1e}, direct {r['max_abs_diff_direct']:.1e}", flush=True)
                if args.profile:
                    print("before:\n" + profile(model, img, t, False) + "\nafter:\n" + profile(model, img, t, True))
    finally:
        torch.set_num_threads(threads0)
    print(f"load avg after: {loadavg()}")
    if args.json:
        write_rows_json(args.json, rows)
    return rows


if __name__ == "__main__":
    main()
