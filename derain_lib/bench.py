"""Timing helpers for the benchmarks (never used in tests: speed is measured here, not asserted)."""
from __future__ import annotations

import contextlib
import itertools
import platform
import statistics
import time
from collections.abc import Callable

import torch


def machine_info() -> str:
    """One line naming the machine a figure came from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads){gpu}")


def time_fn(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, sync_cuda: bool = False) -> list[float]:
    """Wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        if sync_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync_cuda:
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                sync_cuda: bool = False) -> dict[str, float]:
    """Median seconds of several functions, timed A, B, A, B... so that machine load hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k] += time_fn(fn, repeats=1, warmup=0, sync_cuda=sync_cuda)
    return {k: statistics.median(v) for k, v in times.items()}


def cpu_timed(cpu: dict[str, list[float]], name: str, fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` wrapped so that each call appends its process CPU time (all threads) to ``cpu[name]``: pass the
    wrapped functions to :func:`interleaved` to get CPU time beside wall time."""
    def run() -> None:
        c0 = time.process_time()
        fn()
        cpu[name].append(time.process_time() - c0)
    return run


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, for benchmark reports ("n/a" where the OS has none)."""
    import os
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def write_rows_json(path: str, rows: list[dict]) -> None:
    """A benchmark's rows with the machine they came from, as JSON (the scripts' ``--json``)."""
    import json
    with open(path, "w") as f:
        json.dump({"machine": machine_info(), "rows": rows}, f, indent=2)


# ---------------------------------------------------------------------------------------------------------------
# Latency of every shipped weight through derain() (``python -m derain_lib bench``, issue 14 item 4)
LATENCY_SIZES: dict[str, tuple[int, int]] = {"0.25MP": (608, 412), "1MP": (1216, 822)}  # label -> (W, H)
LATENCY_REPEATS = 3
LATENCY_BUDGET_S = 40.0   # per weight and size: slow models get fewer timed runs (at least one)
BENCH_PHOTO = "real_rainy/rainy/drn_real_14.jpg"  # under the data root; skimage's astronaut when absent


def latency_path():
    from .paths import WEIGHTS_DIR
    return WEIGHTS_DIR / "latency.json"


def size_label(w: int, h: int) -> str:
    """``"0.25MP"`` / ``"1MP"`` for the standard sizes, ``"WxH"`` otherwise."""
    for label, size in LATENCY_SIZES.items():
        if size == (w, h):
            return label
    return f"{w}x{h}"


def bench_photo(w: int, h: int):
    """A real photo resized (Lanczos) to exactly ``w`` x ``h``: uint8 (H, W, 3), and where it came from."""
    import numpy as np
    from PIL import Image

    from .paths import data_root

    path = data_root() / BENCH_PHOTO
    if path.is_file():
        from .io import read_image
        arr, source = read_image(path), BENCH_PHOTO
    else:
        from .examples import clean_photo
        arr, source = clean_photo("astronaut", None), "skimage.data.astronaut"
    return np.asarray(Image.fromarray(arr).resize((w, h), Image.LANCZOS)), source


def latency(models: dict, sizes: dict[str, tuple[int, int]] | None = None, repeats: int = LATENCY_REPEATS,
            budget_s: float = LATENCY_BUDGET_S, log: Callable[[str], None] | None = None,
            on_row: Callable[[dict], None] | None = None) -> dict:
    """Median wall-clock seconds of ``derain(photo, model)`` (the users' path: uint8 in, uint8 out) per size.

    ``models`` maps names to models or to zero-argument loaders (loaded one at a time); ``on_row`` gets the
    partial result (``"complete": False``) after each model, so that a long run can be saved as it goes.  Each model
    gets one untimed warm-up run at the first size; then each size is timed ``repeats`` times, fewer when the expected
    time of one run (the warm-up, or the previous size scaled by pixels) exceeds ``budget_s / repeats`` (at least
    one run; the count is stored). Returns the ``latency.json`` dict; the load average before and after is kept
    because other work on the machine slows every figure down.
    """
    import datetime
    import os

    from .infer import derain

    sizes = dict(sizes or LATENCY_SIZES)
    photos, source = {}, None
    for label, (w, h) in sizes.items():
        photos[label], source = bench_photo(w, h)
    load_before, code = os.getloadavg(), code_state()
    rows: list[dict] = []

    def result(complete: bool) -> dict:
        return {
            "machine": machine_info(), "threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_avg": {"before": [round(v, 2) for v in load_before],
                         "after": [round(v, 2) for v in os.getloadavg()], "cores": os.cpu_count()},
            "photo": source, "sizes": {k: list(v) for k, v in sizes.items()}, "code": code,
            "path": "derain_lib.derain(uint8 photo, model) (no tiling at these sizes): wall-clock, median of the "
                    "timed runs",
            "complete": complete, "rows": list(rows),
        }

    for name, get in models.items():
        model = get if isinstance(get, torch.nn.Module) else get()
        model.eval()
        params = int(sum(p.numel() for p in model.parameters()))
        row = {"weights": name, "arch": getattr(model, "arch", type(model).__name__),
               "scale": int(getattr(model, "scale", 1)), "params": params, "seconds": {}, "runs": {}}
        import json

        from .models.registry import config_dict
        with contextlib.suppress(AttributeError, TypeError):  # not from the registry (tests): no config to match
            row["config"] = json.loads(json.dumps(config_dict(model)))
        est = None
        for i, (label, img) in enumerate(photos.items()):
            if i == 0:
                est = time_fn(lambda img=img, model=model: derain(img, model), repeats=1, warmup=0)[0]  # warm-up
            n = max(1, min(repeats, int(budget_s // max(est, 1e-9))))
            ts = time_fn(lambda img=img, model=model: derain(img, model), repeats=n, warmup=0)
            row["seconds"][label] = round(statistics.median(ts), 4)
            row["runs"][label] = n
            if log:
                log(f"{name} {label}: {row['seconds'][label]:.3f} s (median of {n})")
            if i + 1 < len(photos):
                nxt = list(photos.values())[i + 1]
                est = statistics.median(ts) * nxt.shape[0] * nxt.shape[1] / (img.shape[0] * img.shape[1])
        rows.append(row)
        del model
        if on_row:
            on_row(result(False))
    return result(True)


def code_state() -> dict:
    """The commit the timed code came from, and the model/inference files that differed from it (timings follow
    the code: a figure measured on uncommitted changes says so)."""
    import subprocess

    from .paths import REPO_DIR

    def git(*a):
        return subprocess.run(["git", *a], check=False, cwd=REPO_DIR, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "modified": git("diff", "--name-only", "HEAD", "--", "derain_lib/models", "derain_lib/layers",
                                "derain_lib/infer.py", "derain_lib/io.py").splitlines()}
    except (OSError, subprocess.SubprocessError):
        return {}


def latency_markdown(result: dict) -> str:
    """The latency dict as a Markdown table, with the machine and its load under it."""
    sizes = result["sizes"]
    head = ["weight", "arch", "params"] + [f"s @ {k.replace('MP', ' MP')} ({w}x{h})" for k, (w, h) in sizes.items()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * len(sizes)]
    for r in result["rows"]:
        cells = [f"`{r['weights']}`", r["arch"] + (f" (x{r['scale']} SR)" if r.get("scale", 1) > 1 else ""),
                 f"{r['params']:,}"]
        for k in sizes:
            s, n = r["seconds"].get(k), r.get("runs", {}).get(k)
            cells.append("n/a" if s is None else f"{s:.2f}" + (" (1 run)" if n == 1 else ""))
        lines.append("| " + " | ".join(cells) + " |")
    la = result.get("load_avg", {})
    load = ""
    if la:
        load = (f"; load average (1 min) {la['before'][0]:.1f} before, {la['after'][0]:.1f} after, "
                f"on {la.get('cores', '?')} logical cores")
    lines.append("")
    if result.get("complete") is False:
        lines.append("")
        lines.append("*Incomplete run: the weights not listed were not timed.*")
    lines.append(f"Median wall-clock seconds of `derain()` on a photo ({result.get('photo')}) resized to each size; "
                 f"SR models get that size as input. Machine: {result['machine']}; {result['threads']} torch "
                 f"threads{load}; {result['date']}"
                 + (f"; code at {code['commit']}" + (f" with uncommitted changes to {', '.join(code['modified'])}"
                                                      if code.get("modified") else "")
                    if (code := result.get("code") or {}).get("commit") else "") + ".")
    return "\n".join(lines)


def load_latency(path=None) -> dict | None:
    """``latency.json`` as a dict, or None when it is missing or unreadable (the demo then shows "n/a")."""
    import json
    from pathlib import Path

    p = Path(path) if path is not None else latency_path()
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not isinstance(data.get("sizes"), dict):
        return None
    return data


def latency_row(result: dict | None, name: str, arch: str | None = None, config: dict | None = None) -> dict | None:
    """The row of weight ``name``; else one with the same architecture and config (same speed), else None."""
    if not result:
        return None
    for r in result["rows"]:
        if r.get("weights") == name:
            return r
    if arch is not None and config is not None:
        for r in result["rows"]:
            if r.get("arch") == arch and r.get("config") == config:
                return r
    return None


def expected_seconds(result: dict | None, row: dict | None, pixels: int) -> float | None:
    """Expected seconds for an image of ``pixels`` pixels, scaled from the measured sizes by megapixels.

    Between two measured sizes: linear interpolation in pixels; outside them: proportional to pixels from the
    nearest measured size (convolution cost grows with the pixel count). None when nothing was measured.
    """
    if not result or not row:
        return None
    pts = sorted((w * h, row["seconds"][k]) for k, (w, h) in result["sizes"].items()
                 if row.get("seconds", {}).get(k) is not None)
    if not pts or pixels <= 0:
        return None
    if pixels <= pts[0][0]:
        return pts[0][1] * pixels / pts[0][0]
    if pixels >= pts[-1][0]:
        return pts[-1][1] * pixels / pts[-1][0]
    for (p0, t0), (p1, t1) in itertools.pairwise(pts):
        if p0 <= pixels <= p1:
            return t0 + (t1 - t0) * (pixels - p0) / (p1 - p0)
    return None  # pragma: no cover
