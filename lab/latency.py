"""The latency table: every shipped weight through ``derain()`` at 0.25 and 1 MP, the figures the demo shows as
expected times (``python -m lab latency --write`` writes ``derain_lib/weights/latency.json``; the library reads it
through :mod:`derain_lib.reports`)."""
from __future__ import annotations

import contextlib
import json
import statistics
from collections.abc import Callable

import torch

from .timing import code_state, machine_info, time_fn

__all__ = ["BENCH_PHOTO", "LATENCY_BUDGET_S", "LATENCY_REPEATS", "LATENCY_SIZES", "bench_photo", "latency",
           "latency_markdown", "size_label"]

LATENCY_SIZES: dict[str, tuple[int, int]] = {"0.25MP": (608, 412), "1MP": (1216, 822)}  # label -> (W, H)
LATENCY_REPEATS = 3
LATENCY_BUDGET_S = 40.0   # per weight and size: slow models get fewer timed runs (at least one)
BENCH_PHOTO = "real_rainy/rainy/drn_real_14.jpg"  # under the data root; skimage's astronaut when absent


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

    from derain_lib.paths import data_root

    path = data_root() / BENCH_PHOTO
    if path.is_file():
        from derain_lib.io import read_image
        arr, source = read_image(path), BENCH_PHOTO
    else:
        from derain_lib.examples import clean_photo
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

    from derain_lib.infer import derain

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
        from derain_lib.models.registry import config_dict

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
