"""``bench``: the latency table of every shipped weight through ``derain()``, or one model's forward pass."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from derain_lib.cli.common import add_model_options, command_line, load_model_from_args, positive_int, wxh


def cmd_latency(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.model or args.untrained):
        return latency_table(args)
    return forward_times(args)


def forward_times(args) -> int:
    """One model's forward on random input at each ``--sizes`` (median and min of ``--repeats`` runs)."""
    import torch

    from lab.timing import machine_info, time_fn

    model = load_model_from_args(args)
    dev = next(model.parameters()).device
    print(machine_info())
    for size in args.sizes or ["481x321", "1024x1024"]:
        w, h = wxh(size)
        x = torch.rand(1, 3, h, w, device=dev)
        repeats = args.repeats or 5
        with torch.inference_mode():
            ts = time_fn(lambda x=x: model(x), repeats=repeats, sync_cuda=dev.type == "cuda")
        ts.sort()
        print(f"{getattr(model, 'weights_name', args.untrained)} {w}x{h}: median {ts[len(ts) // 2] * 1000:.1f} ms "
              f"(min {ts[0] * 1000:.1f}, {repeats} runs, {dev})")
    return 0


def latency_table(args) -> int:
    """Every shipped weight (or --weights) through derain() at 0.25 and 1 MP: a Markdown table, --write JSON."""
    from derain_lib.checkpoint import list_weights, load_model, weights_path
    from derain_lib.reports import LATENCY_FILE
    from lab.latency import LATENCY_REPEATS, latency, latency_markdown, size_label

    names = args.weights or list_weights()
    if not names:
        raise ValueError("no shipped weights to time (derain_lib/weights/ is empty); use --untrained ARCH")
    loaders = {}
    for n in names:
        path = weights_path(n)  # a clear error for an unknown name before anything is timed
        loaders[Path(n).stem if str(n).endswith(".safetensors") else n] = (
            lambda path=path: load_model(path, device=args.device))
    sizes = {size_label(*wxh(s)): wxh(s) for s in args.sizes} if args.sizes else None
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.quiet else None
    command = command_line(args)
    out = Path(LATENCY_FILE if args.write is True else args.write) if args.write else None

    def save(result):  # after every weight, so that an interrupted run keeps what it measured
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({**result, "command": command}, indent=2) + "\n")

    result = latency(loaders, sizes=sizes, repeats=args.repeats or LATENCY_REPEATS, log=log, on_row=save)
    save(result)
    print(latency_markdown(result))
    if out is not None:
        print(f"wrote {out}")
    return 0


def register(sub) -> None:
    sp = sub.add_parser("latency", help="time every shipped weight through derain() (0.25 and 1 MP), or one model",
                        description="Without --model/--untrained: every shipped weight (or --weights) through "
                                    "derain() on a 0.25 MP (608x412) and a 1 MP (1216x822) photo, median of "
                                    "--repeats runs (fewer for slow models), as a Markdown table; --write saves "
                                    "derain_lib/weights/latency.json (the demo's expected times). With --model or "
                                    "--untrained: that model's forward on random input at --sizes.")
    sp.add_argument("--sizes", nargs="+", help="WxH (default: 608x412 1216x822 for the table, "
                                                "481x321 1024x1024 for one model)")
    sp.add_argument("--repeats", type=positive_int, help="timed runs (default 3 for the table, 5 for one model)")
    sp.add_argument("--threads", type=int)
    sp.add_argument("--weights", nargs="+", metavar="NAME", help="table only these weights (names or files)")
    sp.add_argument("--write", nargs="?", const=True, default=None, metavar="PATH",
                    help="save the table as JSON (default path: derain_lib/weights/latency.json)")
    sp.add_argument("--quiet", action="store_true", help="no per-measurement progress lines on stderr")
    add_model_options(sp)
    sp.set_defaults(func=cmd_latency)
