"""``convert-drn`` and ``promote``: weight files that come from elsewhere, and runs that become shipped weights."""
from __future__ import annotations

from .common import positive_int


def cmd_convert_drn(args) -> int:
    from ..convert import convert_authors_drn

    out = convert_authors_drn(args.src, args.output, stages=args.stages, recursions=args.recursions,
                              concat=args.concat)
    print(f"{args.src} -> {out} (+ {out.with_suffix('.json').name}); use it with --model {out}")
    return 0


def cmd_promote(args) -> int:
    from ..checkpoint import promote_weights, read_metadata

    dst = promote_weights(args.src, args.name, args.summary, out_dir=args.out_dir)
    info = read_metadata(dst)["info"]
    print(f"{args.src} -> {dst} (+ .json): {info['steps']:,} steps, {info['train_seconds'] / 3600:.2f} h over "
          f"{len(info['lineage'])} run(s); score it with 'python -m lab scoreboard --write --check'")
    return 0


def register(sub) -> None:
    sp = sub.add_parser("convert-drn", help="convert the authors' released DRN .pth (csdwren/DRN) to .safetensors",
                        description="Reads the authors' plain state dict with torch.load(weights_only=True), checks "
                                    "its keys strictly and writes our .safetensors with a .json sidecar (arch, "
                                    "config, source sha256).")
    sp.add_argument("src", help="the authors' .pth file (e.g. logs/Rain100H_inter7_intra7/net_latest.pth)")
    sp.add_argument("--output", "-o", required=True, help="output .safetensors file")
    sp.add_argument("--stages", type=positive_int, default=7, help="T, their inter_iter (default 7)")
    sp.add_argument("--recursions", type=int, default=7, help="R, their intra_iter (default 7)")
    sp.add_argument("--concat", default="input-first", choices=["input-first", "x-first"],
                    help="input order of the model that saved the file: cat((input, x)) as in their code "
                         "(default) or cat((x, input))")
    sp.set_defaults(func=cmd_convert_drn)

    sp = sub.add_parser("promote", help="make a training run's output a shipped weight (name, summary, lineage totals)")
    sp.add_argument("src", help="the run's .safetensors (train --out)")
    sp.add_argument("name", help="shipped weight name, e.g. drn-light")
    sp.add_argument("--summary", required=True, help="one line shown by 'list' and the demo")
    sp.add_argument("--out-dir", default=None, help="folder to write to (default: the shipped weights folder)")
    sp.set_defaults(func=cmd_promote)
