"""``campaign``: train every family on a CUDA machine inside one budget (``--out``), or score and promote what such
a run brought back (``--collect``).  The one device call and its data archive: ``lab/campaign/README.md``."""
from __future__ import annotations

import json
import shlex

from derain_lib.cli.common import positive_float, positive_int


def run(args) -> int:
    from lab.campaign import collect as collect_mod
    from lab.campaign import run_campaign, select, use_data

    if args.collect:
        results = collect_mod.collect(args.collect, promote=not args.no_promote, max_seconds=args.max_seconds,
                                      subset=args.subset)
        print(json.dumps([{k: r.get(k) for k in ("weights", "better", "promoted")} for r in results]))
        return 0
    if not args.out:
        raise ValueError("give --out DIR (where the weights and campaign.json go) or --collect DIR")
    recipes = select(args.families)
    root = use_data(args.data)
    command = "python -m lab " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []) or ["campaign"])
    print(f"campaign: {len(recipes)} runs on {args.device}, budget {args.budget_s:.0f} s, data {root}")
    summary = run_campaign(recipes, args.out, device=args.device, budget_s=args.budget_s, max_steps=args.max_steps,
                           batch_cap=args.batch_cap, crop_cap=args.crop_cap, workers=args.workers,
                           precision=args.precision, seed=args.seed, command=command)
    ok = [r for r in summary["runs"] if r["status"] == "ok"]
    print(f"campaign: {len(ok)} of {len(recipes)} runs wrote weights in {summary['elapsed_s']:.0f} s -> {args.out}")
    return 0 if ok else 1


def register(sub) -> None:
    sp = sub.add_parser("campaign", help="train every family on a GPU within a time budget, or --collect the "
                                         "results (score, promote the better ones)")
    sp.add_argument("--device", default="auto", help="cuda, cpu or auto")
    sp.add_argument("--budget-s", type=positive_float, default=420.0,
                    help="wall-clock seconds for the whole run, file writing included (default 420)")
    sp.add_argument("--out", help="folder for the weights, sidecars, checkpoints and campaign.json")
    sp.add_argument("--data", help="data root folder or an archive from lab/campaign/pack_data.py "
                                   "(default: DERAIN_DATA or ../shared/data)")
    sp.add_argument("--families", nargs="*",
                    help="families (drn, msnet, sdsen = S-DSEN and DSEN, derain_sr) or weight names "
                         "(drn-heavy, ...); default all")
    sp.add_argument("--max-steps", type=positive_int, help="at most this many steps per run (the CPU dry run)")
    sp.add_argument("--batch-cap", type=positive_int, help="cap the papers' batch sizes (the CPU dry run)")
    sp.add_argument("--crop-cap", type=positive_int, help="cap the papers' crop sizes (the CPU dry run)")
    sp.add_argument("--workers", type=int, help="DataLoader worker processes (default: 8 on CUDA, 0 on the CPU)")
    sp.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="auto: bfloat16 autocast on CUDA, float32 on the CPU")
    sp.add_argument("--seed", type=int, default=100, help="first seed (each run adds its index)")
    sp.add_argument("--collect", metavar="DIR",
                    help="score the weights in DIR (or a tar of it) with the scoreboard and promote only those "
                         "better than the shipped ones on Rain100L and Rain100H")
    sp.add_argument("--no-promote", action="store_true", help="with --collect: score and compare only")
    sp.add_argument("--max-seconds", type=positive_float, default=900.0,
                    help="with --collect: the scoreboard's CPU budget per weight (it picks the subset)")
    sp.add_argument("--subset", choices=["all", "every5", "every20"], help="with --collect: force a subset")
    sp.set_defaults(func=run)
