"""``scoreboard``: every shipped weight on the benchmark sets and real photos, with the CPU time of each."""
from __future__ import annotations

import sys

from derain_lib.cli.common import command_line, positive_int


def cmd_scoreboard(args) -> int:
    import torch

    from lab import scoreboard as sb

    torch.set_num_threads(args.threads)
    board = sb.build(args.weights, max_seconds=args.max_seconds_per_weight, subset=args.subset,
                     cache_dir=None if args.no_cache else sb.CACHE_DIR, cached_only=args.cached_only,
                     jobs=args.jobs, only=args.sets, log=lambda s: print(s, file=sys.stderr, flush=True))
    board["command"] = command_line(args)
    print(sb.to_markdown(board))
    if args.write:
        for p in sb.write(board):
            print(f"wrote {p}", file=sys.stderr)
    if args.check:
        for t in sb.targets(board):
            print(f"target: {t}")
        flags = sb.check(board)
        for f in flags:
            print(f"BELOW INPUT: {f}")
        print(f"check: {len(flags)} non-experiment row(s) below the input on rain100L/rain100H")
        return 1 if flags else 0
    return 0


def register(sub) -> None:
    sp = sub.add_parser("scoreboard", help="every shipped weight on rain100L/H, outdoor_rain_sample and real photos")
    sp.add_argument("--weights", nargs="+", help="only these shipped weights (default: all)")
    sp.add_argument("--write", action="store_true",
                    help="write derain_lib/weights/scoreboard.json, docs/scoreboard.md, the README's pick and "
                         "results blocks and assets/scoreboard/quality_vs_time.png")
    sp.add_argument("--check", action="store_true", help="exit 1 if a non-experiment weight is below its input on "
                                                         "rain100L or rain100H (Y-PSNR); print the project's targets")
    sp.add_argument("--max-seconds-per-weight", type=float, default=900.0,
                    help="CPU seconds of new work per weight that decide its subset (default 900; 0 = "
                         "the densest subset already cached)")
    sp.add_argument("--subset", choices=["auto", "all", "every5", "every20"], default="auto",
                    help="force the rain100L/H subset (default: cached, else by measured speed)")
    sp.add_argument("--threads", type=positive_int, default=1,
                    help="torch CPU threads (default 1: CPU time per image is then the model's work)")
    sp.add_argument("--no-cache", action="store_true", help="evaluate everything, do not read or write the cache")
    sp.add_argument("--cached-only", action="store_true",
                    help="evaluate nothing: build the tables from the cache (weights without a complete subset "
                         "are listed as not evaluated yet)")
    sp.add_argument("--sets", nargs="+", help="evaluate only these sets now (rain100L rain100H always; also "
                                          "outdoor_rain_sample, real_rainy); the others come from the cache")
    sp.add_argument("--jobs", type=positive_int, default=1,
                    help="worker processes, one weight each at a time, 1 torch thread each (default 1)")
    sp.set_defaults(func=cmd_scoreboard)
