"""Large images and the glibc allocator: the same forwards with glibc's defaults and with its mmap threshold raised.

Usage::

    python -m lab.benchmarks.bench_malloc --sizes 481x321 1MP --threads 2 --write docs/benchmarks.md
    python -m lab.benchmarks.bench_malloc --weights msnet-sup --sizes 1MP --repeats 1

glibc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB as blocks are freed)
with a fresh ``mmap``, and returns it with ``munmap`` when freed; a full-size feature map of a 1 MP image (16 to
64 channels, 64-256 MiB in float32) is above any threshold, so each forward page-faults and zeroes its
intermediate tensors again.  ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` (read by glibc at process
start only, so they cannot be set from inside Python) keep those blocks in the heap for the next call, at the
cost of keeping the process's peak memory after the call.

Each configuration runs in its own child process (same script, ``--child``), which times, in rotation, the torch
runner of every weight (what ``derain()`` runs) and the authors' DRN forward (``AuthorsDRN``, drn-light weights,
their ``network.py`` op for op), on the image of ``bench_backends.py`` for each size: median wall seconds over
``--repeats`` runs after one warm-up, and the child's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from lab import ROOT

DEFAULT_WEIGHTS = ["drn-heavy", "sdsen", "derain_sr-x2", "msnet-sup"]
TUNED = {"MALLOC_MMAP_THRESHOLD_": str(2 ** 32), "MALLOC_TRIM_THRESHOLD_": str(2 ** 32)}
CONFIGS = {"glibc defaults": {}, " ".join(f"{k}={v}" for k, v in TUNED.items()): TUNED}
AUTHORS = "authors' DRN (AuthorsDRN)"


def child(weights: list[str], sizes: list[str], threads: int, repeats: int) -> dict:
    import torch

    from derain_lib.backends import get_runner
    from derain_lib.checkpoint import load_model
    from derain_lib.models.drn_reference import from_drn
    from lab.benchmarks.bench_backends import test_image

    torch.set_num_threads(threads)
    fns = {name: get_runner(load_model(name, device="cpu"), "torch", threads=threads) for name in weights}
    authors = from_drn(load_model("drn-light", device="cpu"))
    fns[AUTHORS] = lambda x: authors(x)
    out = {}
    for label in sizes:
        x, source = test_image(label)
        walls = {k: [] for k in fns}
        with torch.no_grad():
            for fn in fns.values():
                fn(x)  # warm-up
            for _ in range(repeats):
                for k, fn in fns.items():
                    t0 = time.perf_counter()
                    fn(x)
                    walls[k].append(time.perf_counter() - t0)
        out[label] = {"image": source, "hw": list(x.shape[-2:]),
                      "wall_s": {k: round(statistics.median(v), 4) for k, v in walls.items()}}
    del x
    with open("/proc/self/statm") as f:
        end_rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"sizes": out, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "end_rss_mib": round(end_rss / 2 ** 20), "malloc_env": {k: os.environ.get(k) for k in TUNED}}


def run_config(env_extra: dict, args: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.json")
        subprocess.run([sys.executable, "-m", "lab.benchmarks.bench_malloc", "--child", path, *args], env=env,
                       cwd=ROOT, check=True)
        with open(path) as f:
            return json.load(f)


def markdown(results: dict, threads: int, repeats: int, command: str, machine: str) -> str:
    (base_name, base), (tuned_name, tuned) = results.items()
    lines = [f"| weight | size | threads | wall s, {base_name} | wall s, tuned | speed-up |",
             "|---|---|---:|---:|---:|---:|"]
    for label, b in base["sizes"].items():
        t = tuned["sizes"][label]
        for k in b["wall_s"]:
            name = k if k == AUTHORS else f"`{k}`"
            lines.append(f"| {name} | {label} | {threads} | {b['wall_s'][k]:.3f} | {t['wall_s'][k]:.3f} "
                         f"| {b['wall_s'][k] / t['wall_s'][k]:.2f}x |")
    lines += ["", (f"Tuned: `{tuned_name}`. Resident memory of the child process, peak / after the last call: "
                   f"{base['peak_rss_mib']} / {base['end_rss_mib']} MiB with glibc's defaults, "
                   f"{tuned['peak_rss_mib']} / {tuned['end_rss_mib']} MiB tuned. Machine: {machine}; median of "
                   f"{repeats} run(s) per row after one warm-up. Made with `{command}`.")]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", nargs="+", default=DEFAULT_WEIGHTS)
    p.add_argument("--sizes", nargs="+", default=["481x321", "1MP"], help="481x321, 1MP or WxH")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--write", default=None, help="Markdown file whose bench_malloc section is replaced")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    from derain_lib.checkpoint import list_weights

    unknown = sorted(set(a.weights) - set(list_weights()))
    if unknown:
        print(f"error: unknown weights {unknown}; shipped: {', '.join(list_weights())}", file=sys.stderr)
        return 2
    if a.repeats < 1 or a.threads < 1:
        print("error: --repeats and --threads must be positive", file=sys.stderr)
        return 2
    if a.child:
        with open(a.child, "w") as f:
            json.dump(child(a.weights, a.sizes, a.threads, a.repeats), f)
        return 0
    if not (sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION")):
        print("error: these settings are glibc's (Linux); this system's C library has its own", file=sys.stderr)
        return 2
    args = ["--weights", *a.weights, "--sizes", *a.sizes, "--threads", str(a.threads), "--repeats", str(a.repeats)]
    results = {}
    for name, env in CONFIGS.items():
        print(f"running with {name} ...", flush=True)
        results[name] = run_config(env, args)
    from derain_lib.runtime import machine_info
    from lab.markers import write_block

    command = "python -m lab.benchmarks.bench_malloc " + " ".join(argv if argv is not None else sys.argv[1:])
    machine = machine_info().rsplit(" (", 1)[0] + f", {os.confstr('CS_GNU_LIBC_VERSION')}"
    text = markdown(results, a.threads, a.repeats, command.strip(), machine)
    print(text)
    if a.write:
        write_block(a.write, "bench_malloc", text, append=True)
        print(f"\nwrote the table into {a.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
