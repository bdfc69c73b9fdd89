"""``list``, ``derain``, ``eval`` and ``synth``: use the models and the rain synthesizer."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..infer import AUTO_TILE_PIXELS, DEFAULT_OVERLAP, DEFAULT_TILE
from .common import add_backend_argument, add_model_options, expand_inputs, load_model_from_args, positive_int


def non_negative_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {s}")
    return v


def cmd_list(args) -> int:
    from ..checkpoint import list_weights, read_metadata, weights_path
    from ..models.registry import list_models
    print("architectures:", ", ".join(list_models()))
    names = list_weights()
    print("shipped weights:" if names else "shipped weights: none")
    for n in names:
        m = read_metadata(weights_path(n))
        print(f"  {n:<24} {m['arch']:<10} {m['info'].get('summary', '')}")
    return 0


def cmd_derain(args) -> int:
    """Every input in turn; a bad file is reported and skipped, and the exit code says whether any failed."""
    from ..backends import require_backend
    from ..infer import derain
    from ..io import ImageError, save_image

    require_backend(args.backend)          # a missing package fails before any model or file is read
    if args.backend != "torch":
        args.device = "cpu"                # ONNX Runtime and OpenVINO run the exported graph on the CPU
    model = load_model_from_args(args)
    files = expand_inputs(args.inputs)
    if not files:
        raise ValueError("no input images found")
    out_dir = Path(args.output)
    failed = 0
    for f in files:
        try:
            t0 = time.perf_counter()
            out = derain(f, model, tile=args.tile, overlap=args.overlap, backend=args.backend,
                         threads=args.threads)
            dst = save_image(out, out_dir / (f.stem + "." + args.format))
            print(f"{f} -> {dst} ({out.shape[1]}x{out.shape[0]}, {time.perf_counter() - t0:.2f} s)")
        except (ImageError, ValueError, OSError) as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(files)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def cmd_eval(args) -> int:
    from ..evaluate import evaluate, format_table

    model = None if args.input_only else load_model_from_args(args)
    results = [evaluate(model, d, tile=args.tile, max_images=args.max_images, save_dir=args.save,
                        progress=not args.json and sys.stderr.isatty()) for d in args.data]
    if args.json:
        if not args.per_image:
            for r in results:
                r.pop("per_image")
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results))
        print("Y = MATLAB rgb2ycbcr luma (BT.601); RGB = all channels; SSIM: Gaussian 11x11, sigma 1.5")
    return 0


def cmd_synth(args) -> int:
    import torch

    from ..data import clean_image_files
    from ..io import read_image, save_image, to_tensor, to_uint8
    from ..rain import downsample, rain_batch

    files = clean_image_files([args.clean])[: args.count]
    out = Path(args.output)
    g = torch.Generator().manual_seed(args.seed)
    for f in files:
        clean = to_tensor(read_image(f))
        if args.scale > 1:   # crop to a multiple of the scale, so the low-resolution image aligns with the clean one
            h, w = clean.shape[-2] // args.scale * args.scale, clean.shape[-1] // args.scale * args.scale
            clean = clean[..., :h, :w]
        rainy, _ = rain_batch(clean, args.preset, g)
        name = f.stem + ".png"
        save_image(to_uint8(clean), out / "clean" / name)
        save_image(to_uint8(rainy), out / "rainy" / name)
        if args.scale > 1:
            save_image(to_uint8(downsample(rainy, args.scale)), out / f"rainy_x{args.scale}" / name)
    print(f"wrote {len(files)} pairs to {out} (preset {args.preset}, seed {args.seed})")
    return 0


def register(sub) -> None:
    sp = sub.add_parser("list", help="architectures and shipped weights")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("derain", help="derain image files or folders")
    sp.add_argument("inputs", nargs="+", help="image files and/or folders")
    sp.add_argument("--output", "-o", default="derained", help="output folder (default: derained/)")
    sp.add_argument("--tile", type=non_negative_int, default=None,
                    help=f"tile size in pixels (default: {DEFAULT_TILE} above {AUTO_TILE_PIXELS / 1e6:.2g} MP, "
                         "the policy of derain_lib.infer.plan_tiles; 0 = never tile)")
    sp.add_argument("--overlap", type=non_negative_int, default=DEFAULT_OVERLAP,
                    help=f"overlap of neighbouring tiles in pixels (default {DEFAULT_OVERLAP})")
    sp.add_argument("--format", default="png", choices=["png", "jpg", "tif", "bmp", "webp"])
    add_backend_argument(sp)
    sp.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: torch's setting)")
    add_model_options(sp)
    sp.set_defaults(func=cmd_derain)

    sp = sub.add_parser("eval", help="PSNR/SSIM (Y and RGB) on paired folders")
    sp.add_argument("--data", nargs="+", required=True, help="dataset names under the data root, or folders")
    sp.add_argument("--input-only", action="store_true", help="score only the rainy inputs")
    sp.add_argument("--max-images", type=positive_int)
    sp.add_argument("--tile", type=non_negative_int, default=None,
                    help="tile size in pixels (default: the policy of derain_lib.infer.plan_tiles; 0 = never tile)")
    sp.add_argument("--save", help="folder for the derained images")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.add_argument("--per-image", action="store_true", help="with --json, include per-image rows")
    add_model_options(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("synth", help="make rainy/clean pairs from clean images")
    sp.add_argument("clean", help="folder of clean images")
    sp.add_argument("--output", "-o", required=True)
    sp.add_argument("--preset", default="heavy")
    sp.add_argument("--scale", type=int, default=1, help="also write bicubic low-resolution rainy images")
    sp.add_argument("--count", type=positive_int, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(func=cmd_synth)
