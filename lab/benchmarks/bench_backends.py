"""Every shipped weight x backend (torch, onnxruntime, openvino) x threads, beside the authors' DRN forward.

Usage::

    python -m lab.benchmarks.bench_backends --quick                       # drn-light + sdsen, 481x321, 2 threads
    python -m lab.benchmarks.bench_backends --threads 1 2 --sizes 481x321 1MP --repeats 3 --write docs/benchmarks.md
    python -m lab.benchmarks.bench_backends --weights sdsen --backends torch openvino --threads 2

Each row times ``runner(x)`` (:func:`derain_lib.backends.get_runner`: what ``derain()`` runs, without the uint8
conversion) on a (1, 3, H, W) float image: Rain100H ``rainy/001.png`` (481x321) from the data root, and the
benchmark photo of ``lab.latency`` resized to 1216x822 for "1MP" (synthetic noise where neither exists).
Wall and process CPU time (all threads) are medians over ``--repeats`` runs after one warm-up run (which also
pays the ONNX export, cached on disk, and the session compilation).  ``max diff`` is the largest absolute
difference from the PyTorch *reference* forward of the same weight (:func:`derain_lib.export.export_module`
run in PyTorch: plain ops, no fast path), computed once per weight and size.

The backends of one weight are timed in rotation, so that changing load hits them alike.  The authors' DRN forward
(:class:`derain_lib.models.drn_reference.AuthorsDRN`, their ``network.py`` op for op, with the drn-light weights)
is timed at the start of every (size, threads) group and in the rotation of every DRN and S-DSEN weight;
``x authors`` divides each row's wall time by the median of those runs, so a row below 1 is faster than the
authors' code.

``--write FILE`` replaces the part of FILE between ``<!-- bench_backends:start -->`` and
``<!-- bench_backends:end -->`` (appended when absent) with the table, the command and the machine;
``--section NAME`` uses ``<!-- bench_backends:NAME:start -->`` / ``...:end -->`` instead, so that a run too long
for one sitting (e.g. the 1 MP rows) keeps its own table beside the others.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from derain_lib.backends import BACKENDS, available_backends, get_runner
from derain_lib.checkpoint import list_weights, load_model
from derain_lib.io import to_tensor
from lab.latency import bench_photo
from lab.markers import write_block
from lab.timing import loadavg, machine_info, write_rows_json

REAL_IMAGE = "rain100H/rainy/001.png"
SIZES = {"481x321": (481, 321), "1MP": (1216, 822)}
QUICK_WEIGHTS = ["drn-light", "sdsen"]


def test_image(label: str) -> tuple[torch.Tensor, str]:
    """(1, 3, H, W) float image for a size label, and where it came from."""
    from derain_lib.paths import data_root

    w, h = SIZES[label] if label in SIZES else map(int, label.lower().split("x"))
    path = data_root() / REAL_IMAGE
    if (w, h) == (481, 321) and path.is_file():
        from derain_lib.io import read_image
        return to_tensor(read_image(path)), REAL_IMAGE
    try:
        arr, src = bench_photo(w, h)
        return to_tensor(arr), src
    except (OSError, ImportError, ValueError):  # no photo and no skimage data: noise keeps the timing meaningful
        return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)), "uniform noise"


@torch.no_grad()
def reference_output(model, x: torch.Tensor) -> torch.Tensor:
    from derain_lib.export import export_module, uses_guidance

    graph = export_module(model)
    if uses_guidance(model):
        from derain_lib.mser import mser_guidance
        return graph(x, mser_guidance(x, frac=model.config.mser_frac))
    return graph(x)


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``fn()`` over ``repeats`` runs (no warm-up here)."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def authors_fn(threads: int, x: torch.Tensor):
    from derain_lib.models.drn_reference import from_drn

    ref = from_drn(load_model("drn-light", device="cpu"))

    def run():
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():  # as the authors' test script runs it
                ref(x)
        finally:
            torch.set_num_threads(old)
    return run


def bench(weights, backends, threads_list, sizes, repeats, log=print) -> dict:
    """Rows per size x threads x weight x backend.  The backends of one weight are timed in rotation (A, B, C, A,
    B, C, ...) so that changing machine load hits them alike; for the DRN and S-DSEN weights (the two
    figures) the authors' DRN forward joins that rotation, otherwise it is timed at the start of the group."""
    rows, authors = [], {}
    for label in sizes:
        x, source = test_image(label)
        refs = {}
        for th in threads_list:
            auth = authors_fn(th, x)
            auth()  # warm-up
            a_runs = [timed(auth, 1)]
            for name in weights:
                model = load_model(name, device="cpu")
                if name not in refs:
                    refs[name] = reference_output(model, x)
                runners, first, diffs = {}, {}, {}
                for backend in backends:
                    runners[backend] = get_runner(model, backend, threads=th)
                    t0 = time.perf_counter()
                    out = runners[backend](x)  # warm-up (export + compile on first use)
                    first[backend] = time.perf_counter() - t0
                    diffs[backend] = float((out - refs[name]).abs().max())
                    del out
                runs = {b: [] for b in backends}
                with_authors = name.startswith(("drn", "sdsen"))
                for _ in range(repeats):
                    for backend, runner in runners.items():
                        runs[backend].append(timed(lambda r=runner, x=x: r(x), 1))
                    if with_authors:
                        a_runs.append(timed(auth, 1))
                for backend in backends:
                    wall = statistics.median(r[0] for r in runs[backend])
                    cpu = statistics.median(r[1] for r in runs[backend])
                    rows.append({"weights": name, "backend": backend, "threads": th, "size": label,
                                 "hw": list(x.shape[-2:]), "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                                 "first_call_s": round(first[backend], 3), "max_diff": diffs[backend],
                                 "runs": repeats, "image": source})
                    log(f"{label} {th}t {name:18s} {backend:11s} wall {wall:7.3f} s  cpu {cpu:7.3f} s  "
                        f"diff {diffs[backend]:.1e}  (first call {first[backend]:.1f} s)")
                del runners
            a_wall = statistics.median(r[0] for r in a_runs)
            a_cpu = statistics.median(r[1] for r in a_runs)
            authors[(label, th)] = (a_wall, a_cpu, len(a_runs))
            log(f"{label} {th}t authors' DRN forward: wall {a_wall:.3f} s  cpu {a_cpu:.3f} s ({len(a_runs)} runs)")
    for r in rows:
        r["authors_wall_s"] = round(authors[(r["size"], r["threads"])][0], 4)
        r["x_authors"] = round(r["wall_s"] / authors[(r["size"], r["threads"])][0], 3)
    return {"rows": rows, "authors": {f"{k[0]}@{k[1]}": {"wall_s": round(v[0], 4), "cpu_s": round(v[1], 4),
                                                          "runs": v[2]} for k, v in authors.items()}}


def summary_lines(result: dict) -> list[str]:
    """The two headline figures per (size, threads): best DRN path vs the authors, best S-DSEN path vs the authors."""
    out = []
    groups = sorted({(r["size"], r["threads"]) for r in result["rows"]})
    for size, th in groups:
        rs = [r for r in result["rows"] if r["size"] == size and r["threads"] == th]
        a = result["authors"][f"{size}@{th}"]["wall_s"]
        for arch, label in (("drn", "DRN"), ("sdsen", "S-DSEN")):
            cand = [r for r in rs if r["weights"].startswith(arch)]
            if not cand:
                continue
            best = min(cand, key=lambda r: r["wall_s"])
            out.append(f"- {size}, {th} thread(s): fastest {label} path `{best['weights']}` on {best['backend']}: "
                       f"{best['wall_s']:.2f} s = {a / best['wall_s']:.2f}x the speed of the authors' DRN forward "
                       f"({a:.2f} s), i.e. {best['wall_s'] / a:.2f}x its time; max diff {best['max_diff']:.1e}")
    return out


def markdown(result: dict, command: str) -> str:
    head = "| weight | backend | threads | size | wall s | CPU s | x authors' DRN time | max diff |"
    lines = [head, "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| `{r['weights']}` | {r['backend']} | {r['threads']} | {r['size']} | {r['wall_s']:.3f} | "
                     f"{r['cpu_s']:.3f} | {r['x_authors']:.2f} | {r['max_diff']:.1e} |")
    for key, a in result["authors"].items():
        size, th = key.split("@")
        lines.append(f"| authors' DRN (`AuthorsDRN`, drn-light weights) | torch | {th} | {size} | {a['wall_s']:.3f} | "
                     f"{a['cpu_s']:.3f} | 1.00 | reference |")
    lines += ["", *summary_lines(result), "",
              (f"Machine: {result['machine']}; load average (1, 5, 15 min) {result['load_before']} before, "
               f"{result['load_after']} after; median of {result['repeats']} run(s) per row after one warm-up. "
               f"Made with `{command}`.")]
    return "\n".join(lines)


def block_name(section: str | None) -> str:
    """The generated block a ``--write`` goes to: ``bench_backends``, or ``bench_backends-SECTION``."""
    if not section:
        return "bench_backends"
    if not section.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"section names are letters, digits, '-' and '_', got {section!r}")
    return f"bench_backends-{section}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", nargs="+", default=None, help="shipped weights (default: all)")
    p.add_argument("--backends", nargs="+", default=None, choices=BACKENDS, help="default: all installed")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--sizes", nargs="+", default=["481x321", "1MP"], help="481x321, 1MP or WxH")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per row (default 3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help=f"{' + '.join(QUICK_WEIGHTS)}, 481x321, 2 threads, 1 run")
    p.add_argument("--write", default=None, help="Markdown file whose bench_backends section is replaced")
    p.add_argument("--section", default=None, help="name of the --write section (default: the unnamed one)")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    a = p.parse_args(argv)
    try:
        block_name(a.section)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.quick:
        a.weights, a.sizes, a.threads, a.repeats = a.weights or QUICK_WEIGHTS, ["481x321"], [2], a.repeats or 1
    a.repeats = a.repeats or 3
    weights = a.weights or list_weights()
    unknown = sorted(set(weights) - set(list_weights()))
    if unknown:
        print(f"error: unknown weights {unknown}; shipped: {', '.join(list_weights())}", file=sys.stderr)
        return 2
    backends = a.backends or available_backends()
    missing = sorted(set(backends) - set(available_backends()))
    if missing:
        print(f"error: backend(s) {missing} not installed (pip install {' '.join(missing)})", file=sys.stderr)
        return 2
    if a.repeats < 1 or any(t < 1 for t in a.threads):
        print("error: --repeats and --threads must be positive", file=sys.stderr)
        return 2
    load_before = loadavg()
    result = bench(weights, backends, a.threads, a.sizes, a.repeats)
    result.update(machine=machine_info().rsplit(" (", 1)[0] + ", no GPU" * (not torch.cuda.is_available()),
                  load_before=load_before, load_after=loadavg(), repeats=a.repeats)
    command = "python -m lab.benchmarks.bench_backends " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, command.strip())
    print()
    print(text)
    if a.write:
        write_block(a.write, block_name(a.section), text, append=True)
        print(f"\nwrote the table into {a.write}")
    if a.json:
        write_rows_json(a.json, result["rows"])
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    raise SystemExit(main())
