"""Command line: ``python -m derain_lib {list,derain,eval,train,synth,bench,convert-drn,scoreboard} ...`` (``--help`` on each).

Errors in the input (missing files, non-images, unknown models, bad options) print one line and exit with a
non-zero code; no traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path


def _positive_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _kv(s: str) -> tuple[str, object]:
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        val: object = json.loads(v)
    except json.JSONDecodeError:
        val = v
    return k, val


def _load(args) -> "torch.nn.Module":
    from .checkpoint import load_model
    from .models.registry import build_model

    if getattr(args, "untrained", None):
        import torch
        from .checkpoint import resolve_device
        torch.manual_seed(0)
        model = build_model(args.untrained).to(resolve_device(args.device)).eval()
        print(f"note: using an UNTRAINED {args.untrained} (random weights); its output is not a derained image",
              file=sys.stderr)
        return model
    if not args.model:
        from .checkpoint import list_weights
        raise ValueError(f"--model is required (shipped weights: {', '.join(list_weights()) or 'none'})")
    return load_model(args.model, device=args.device)


def _expand_inputs(inputs: list[str]) -> list[Path]:
    from .io import IMAGE_SUFFIXES
    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(p)
    return files


def cmd_list(args) -> int:
    from .checkpoint import list_weights, read_metadata, weights_path
    from .models.registry import list_models
    print("architectures:", ", ".join(list_models()))
    names = list_weights()
    print("shipped weights:" if names else "shipped weights: none")
    for n in names:
        m = read_metadata(weights_path(n))
        print(f"  {n:<24} {m['arch']:<10} {m['info'].get('summary', '')}")
    return 0


def cmd_derain(args) -> int:
    from .infer import derain
    from .io import ImageError, save_image

    model = _load(args)
    files = _expand_inputs(args.inputs)
    if not files:
        raise ValueError("no input images found")
    out_dir = Path(args.output)
    failed = 0
    for f in files:
        try:
            t0 = time.perf_counter()
            out = derain(f, model, tile=args.tile)
            dst = save_image(out, out_dir / (f.stem + "." + args.format))
            print(f"{f} -> {dst} ({out.shape[1]}x{out.shape[0]}, {time.perf_counter() - t0:.2f} s)")
        except (ImageError, ValueError, OSError) as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(files)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate, format_table

    model = None if args.input_only else _load(args)
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
    from .data import clean_image_files
    from .io import read_image, save_image, to_tensor, to_uint8
    from .rain import downsample, rain_batch

    files = clean_image_files([args.clean])[: args.count]
    out = Path(args.output)
    g = torch.Generator().manual_seed(args.seed)
    for f in files:
        clean = to_tensor(read_image(f))
        if args.scale > 1:
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


def cmd_bench(args) -> int:
    import torch
    from .bench import machine_info, time_fn

    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.model or args.untrained):
        return _bench_latency(args)
    model = _load(args)
    dev = next(model.parameters()).device
    print(machine_info())
    for size in args.sizes or ["481x321", "1024x1024"]:
        w, h = _wxh(size)
        x = torch.rand(1, 3, h, w, device=dev)
        repeats = args.repeats or 5
        with torch.inference_mode():
            ts = time_fn(lambda: model(x), repeats=repeats, sync_cuda=dev.type == "cuda")
        ts.sort()
        print(f"{getattr(model, 'weights_name', args.untrained)} {w}x{h}: median {ts[len(ts) // 2] * 1000:.1f} ms "
              f"(min {ts[0] * 1000:.1f}, {repeats} runs, {dev})")
    return 0


def _wxh(size: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must be WxH (e.g. 608x412), got {size!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return w, h


def _bench_latency(args) -> int:
    """Every shipped weight (or --weights) through derain() at 0.25 and 1 MP: a Markdown table, --write JSON."""
    from .bench import LATENCY_REPEATS, latency, latency_markdown, latency_path, size_label
    from .checkpoint import list_weights, load_model, weights_path

    names = args.weights or list_weights()
    if not names:
        raise ValueError("no shipped weights to time (derain_lib/weights/ is empty); use --untrained ARCH")
    loaders = {}
    for n in names:
        path = weights_path(n)  # a clear error for an unknown name before anything is timed
        loaders[Path(n).stem if str(n).endswith(".safetensors") else n] = (
            lambda path=path: load_model(path, device=args.device))
    sizes = None
    if args.sizes:
        sizes = {size_label(*_wxh(s)): _wxh(s) for s in args.sizes}
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.quiet else None
    command = "python -m derain_lib " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = Path(latency_path() if args.write is True else args.write) if args.write else None

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


def _training_pairs(name: str) -> Path:
    """A paired training folder by name or path; the benchmark test sets are refused."""
    from .evaluate import resolve_dataset
    from .paths import refuse_test_set
    folder = resolve_dataset(name)
    refuse_test_set(folder, "evaluate on it, never train on it "
                            "(training pairs: rain100H_train12, ddn_pairs, or your own folder)")
    return folder


def cmd_train(args) -> int:
    import torch
    from .bench import machine_info
    from .checkpoint import save_weights
    from .data import SyntheticRainBatches, paired_patch_batches, real_patch_batches
    from .evaluate import evaluate, format_table
    from .models.registry import build_model, paper_schedule
    from .train import Trainer, epochs_to_steps

    if args.threads:
        torch.set_num_threads(args.threads)
    config = dict(args.config or [])
    model = build_model(args.model, **config)
    sched = paper_schedule(args.model) if args.paper else {}
    batch = args.batch or sched.get("batch", 16)
    patch = (args.patch[0] if len(args.patch) == 1 else tuple(args.patch[:2])) if args.patch else sched.get("patch", 64)
    if isinstance(patch, list):
        patch = tuple(patch)
    lr = args.lr or sched.get("lr", 1e-3)
    gamma = args.gamma if args.gamma is not None else sched.get("gamma", 0.5)
    scale = int(getattr(model, "scale", 1))

    if args.data == "synthetic":
        batches = SyntheticRainBatches(args.clean, batch_size=batch, patch=patch, preset=args.preset,
                                       angle_range=tuple(args.angle_range) if args.angle_range else None,
                                       scale=scale, seed=args.seed)
        n_images = len(batches.pool.images)
    else:
        from .data import PairedFolder
        folder = _training_pairs(args.data)
        n_images = len(PairedFolder(folder, order=args.pair_order))
        batches = paired_patch_batches(folder, batch_size=batch, patch=patch, seed=args.seed, scale=scale,
                                       order=args.pair_order)
    if args.mix_pairs:
        from .data import PairedFolder, mixed_batches
        if args.data != "synthetic":
            raise ValueError("--mix-pairs mixes real pairs into synthetic batches: use it with --data synthetic")
        name, frac = args.mix_pairs
        try:
            frac = float(frac)
        except ValueError:
            raise ValueError(f"--mix-pairs PAIRS FRACTION: the fraction must be a number, got {frac!r}") from None
        if not 0.0 < frac < 1.0:
            raise ValueError(f"--mix-pairs fraction must be between 0 and 1, got {frac}")
        folder = _training_pairs(name)
        n_images += len(PairedFolder(folder, order=args.pair_order))
        pairs = paired_patch_batches(folder, batch_size=batch, patch=patch, seed=args.seed + 2, scale=scale,
                                     order=args.pair_order)
        batches = mixed_batches(batches, pairs, frac, seed=args.seed + 3)
    if args.real:
        real_folders = None if args.real == ["default"] else args.real
        real_patch = patch // scale if isinstance(patch, int) else tuple(v // scale for v in patch)
        real = real_patch_batches(real_folders, batch_size=batch, patch=real_patch, seed=args.seed + 1,
                                  exclude=args.exclude or ())
        base = batches
        batches = ({**b, "real": next(real)} for b in base)

    # An "epoch" = every training image cut into patches with stride 0.8*patch (PReNet/DRN convention),
    # approximated here by (image area / (0.8*patch)^2) patches per image with the average image size.
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    patches_per_image = max(1, int((481 * 321) / (0.64 * ph * pw)))
    if args.epochs:
        steps = epochs_to_steps(args.epochs, n_images * patches_per_image, batch)
    elif args.steps:
        steps = args.steps
    elif "steps" in sched:
        steps = sched["steps"]
    elif "epochs" in sched:
        steps = epochs_to_steps(sched["epochs"], n_images * patches_per_image, batch)
    else:
        raise ValueError("give --steps or --epochs (or --paper)")
    if args.milestones is not None:
        milestones = args.milestones
    elif "milestones" in sched and "epochs" in sched and not args.steps:
        total_epochs = sched["epochs"]
        milestones = [round(m / total_epochs * steps) for m in sched["milestones"]]
    else:
        milestones = sched.get("milestones", [])

    trainer = Trainer(model, lr=lr, milestones=milestones, gamma=gamma, device=args.device, seed=args.seed,
                      grad_clip=args.grad_clip, precision=args.precision)
    if args.resume and args.init:
        raise ValueError("give --resume or --init, not both")
    if args.resume:
        trainer.load_checkpoint(args.resume)
        if args.resume_lr is not None:
            saved = trainer.set_lr(args.resume_lr)
            print(f"resumed from {args.resume} at step {trainer.step}: lr {saved:g} -> {args.resume_lr:g} "
                  f"(--resume-lr; Adam's moments and the saved milestones kept)")
        lr = trainer.opt.param_groups[0]["lr"]
        milestones = sorted(trainer.sched.milestones)
        gamma = trainer.sched.gamma
        if args.resume_lr is None:
            print(f"resumed from {args.resume} at step {trainer.step} with its saved lr "
                  f"{lr:g} and schedule (command-line --lr/--milestones ignored; --resume-lr sets a new lr)")
    elif args.resume_lr is not None:
        raise ValueError("--resume-lr changes the learning rate of a resumed run: give it with --resume "
                         "(for a new run or --init, use --lr)")
    elif args.init:
        if str(args.init).endswith(".safetensors"):
            from safetensors.torch import load_file
            state = load_file(str(args.init))
        else:
            state = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
        model.load_state_dict(state, strict=True)
        print(f"initialised from {args.init}")
    ckpt = args.ckpt or (Path("checkpoints") / f"{Path(args.out).stem}.pt")
    if trainer.is_main:
        print(f"training {args.model} {config or ''} for {steps} steps: batch {batch}, patch {patch}, lr {lr}, "
              f"milestones {milestones}, gamma {gamma}, data {args.data} ({n_images} images), {machine_info()}")
    cpu0, date0 = time.process_time(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # where a resumed run's checkpoint stood before fit moves it on (0 for a new run): its record covers the whole run
    resumed_at, cpu_before = trainer.step, trainer.cpu_seconds
    if args.resume:
        # the checkpoint carries the lineage of the weights its run started from (older checkpoints: none)
        parent = list(trainer.meta.get("parent_lineage", []))
        init_of_run = trainer.meta.get("init")
    else:
        parent = _parent_lineage(args.init) if args.init else []
        init_of_run = str(args.init) if args.init else None
        trainer.meta = {"parent_lineage": parent, "init": init_of_run}
    hist = trainer.fit(batches, steps, log_every=args.log_every, progress=not args.no_progress,
                       ckpt_path=ckpt, ckpt_every=args.ckpt_every, time_limit=args.time_limit,
                       log_lines=args.no_progress)
    if not trainer.is_main:
        return 0
    command = "python -m derain_lib " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    data = args.data if args.data != "synthetic" else f"synthetic ({args.preset}) over {', '.join(map(str, args.clean)) if args.clean else 'clean/'}"
    if args.mix_pairs:
        data += f" + {frac:.0%} of batches from the pairs of {name}"
    if args.real:
        where = "the shared real photo folders" if args.real == ["default"] else ", ".join(args.real)
        data += f" + unlabelled real rainy patches from {where} ({len(args.exclude or ())} photos held out)"
    info = {
        "command": command,
        "steps": trainer.step,
        "train_seconds": round(hist["time"][-1], 1) if hist["time"] else 0.0,
        "final_loss": hist["loss"][-1] if hist["loss"] else None,
        "machine": machine_info(),
        "data": data,
        "batch": batch, "patch": patch, "lr": lr, "milestones": milestones,
    }
    run = {"command": command, "date": date0, "steps": trainer.step,
           "train_seconds": info["train_seconds"], "cpu_seconds": round(time.process_time() - cpu0 + cpu_before, 3),
           "data": info["data"], "preset": args.preset if args.data == "synthetic" else None,
           "batch": batch, "patch": patch, "lr": lr, "config": config, "machine": info["machine"],
           "precision": trainer.compute_precision, "interrupted": trainer.interrupted,
           "init": init_of_run, "resumed_from": str(args.resume) if args.resume else None}
    # every fit() call of the run (a resumed run's earlier invocations too); the precision names all of them
    run["invocations"] = trainer.invocations
    known = [r["precision"] for r in trainer.invocations if "precision" in r]
    if known:
        run["precision"] = "+".join(dict.fromkeys(known))
    if args.resume:
        run["resumed_at_step"] = resumed_at
        if not trainer.cpu_recorded:
            run["cpu_seconds_note"] = ("this invocation only: the checkpoint it resumed from (an older format) "
                                       "did not record the CPU time spent before it")
    info["lineage"] = parent + [run]
    # total steps over the whole lineage (a resumed run's trainer.step already counts its checkpoint's steps)
    info["steps"] = sum(int(r.get("steps") or 0) for r in info["lineage"])
    model.eval()
    evals = []
    for d in args.eval or []:
        r = evaluate(model, d)
        r.pop("per_image")
        evals.append(r)
    if evals:
        print(format_table(evals))
        info["eval"] = {Path(r["dataset"]).name: r["mean"] for r in evals}
    info["summary"] = args.summary or ""
    path = save_weights(model, args.out, info)
    # The JSON sidecar also keeps this run's loss curve (means over each --log-every steps; the semi-supervised
    # terms too), which notebook 03 plots; the weight file's own metadata stays small.
    history = {k: [round(float(v), 6) for v in vals] for k, vals in hist.items() if k != "lr"}
    history_note = f"history: means over each {args.log_every} steps of the last run of the lineage"
    Path(path).with_suffix(".json").write_text(json.dumps({"arch": args.model, "config": config, **info,
                                                           "history": history, "history_note": history_note},
                                                          indent=2) + "\n")
    print(f"saved {path} (+ .json) after {trainer.step} steps")
    return 0


def _parent_lineage(init: str | Path) -> list[dict]:
    """The training history of the weights a run starts from (``--init``): their recorded lineage, or one entry
    summarising a weight file that predates lineages, or a bare entry for a training checkpoint."""
    init = Path(init)
    if init.suffix != ".safetensors":
        return [{"init_checkpoint": str(init), "note": "weights of a training checkpoint; its history is not recorded"}]
    from .checkpoint import read_metadata
    info = read_metadata(init)["info"]
    if info.get("lineage"):
        return list(info["lineage"])
    keep = ("command", "steps", "train_seconds", "data", "batch", "patch", "lr", "machine", "training_phases")
    return [{"weights": init.stem, **{k: info[k] for k in keep if k in info}}]


def cmd_convert_drn(args) -> int:
    from .convert import convert_authors_drn

    out = convert_authors_drn(args.src, args.output, stages=args.stages, recursions=args.recursions,
                              concat=args.concat)
    print(f"{args.src} -> {out} (+ {out.with_suffix('.json').name}); use it with --model {out}")
    return 0


def cmd_promote(args) -> int:
    from .checkpoint import promote_weights, read_metadata

    dst = promote_weights(args.src, args.name, args.summary, out_dir=args.out_dir)
    info = read_metadata(dst)["info"]
    print(f"{args.src} -> {dst} (+ .json): {info['steps']:,} steps, {info['train_seconds'] / 3600:.2f} h over "
          f"{len(info['lineage'])} run(s); score it with 'python -m derain_lib scoreboard --write --check'")
    return 0


def cmd_scoreboard(args) -> int:
    import torch
    from . import scoreboard as sb

    torch.set_num_threads(args.threads)
    board = sb.build(args.weights, max_seconds=args.max_seconds_per_weight, subset=args.subset,
                     cache_dir=None if args.no_cache else sb.CACHE_DIR, cached_only=args.cached_only,
                     jobs=args.jobs, only=args.sets, log=lambda s: print(s, file=sys.stderr, flush=True))
    board["command"] = "python -m derain_lib " + " ".join(shlex.quote(a) for a in sys.argv[1:])
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m derain_lib", description="Derain Lab command line")
    sub = p.add_subparsers(dest="cmd", required=True)

    def model_opts(sp):
        sp.add_argument("--model", "-m", help="shipped weight name (see 'list') or a .safetensors file")
        sp.add_argument("--untrained", metavar="ARCH", help="use an untrained ARCH instead (smoke tests)")
        sp.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")

    sp = sub.add_parser("list", help="architectures and shipped weights")
    sp.set_defaults(fn=cmd_list)

    sp = sub.add_parser("derain", help="derain image files or folders")
    sp.add_argument("inputs", nargs="+", help="image files and/or folders")
    sp.add_argument("--output", "-o", default="derained", help="output folder (default: derained/)")
    sp.add_argument("--tile", type=int, default=None, help="tile size (default: auto above 1 MP; 0 = never)")
    sp.add_argument("--format", default="png", choices=["png", "jpg", "tif", "bmp", "webp"])
    model_opts(sp)
    sp.set_defaults(fn=cmd_derain)

    sp = sub.add_parser("eval", help="PSNR/SSIM (Y and RGB) on paired folders")
    sp.add_argument("--data", nargs="+", required=True, help="dataset names under the data root, or folders")
    sp.add_argument("--input-only", action="store_true", help="score only the rainy inputs")
    sp.add_argument("--max-images", type=_positive_int)
    sp.add_argument("--tile", type=int, default=None)
    sp.add_argument("--save", help="folder for the derained images")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.add_argument("--per-image", action="store_true", help="with --json, include per-image rows")
    model_opts(sp)
    sp.set_defaults(fn=cmd_eval)

    sp = sub.add_parser("train", help="train a model (synthetic rain over clean photos, or a paired folder)")
    sp.add_argument("model", help="architecture name (see 'list')")
    sp.add_argument("--config", nargs="*", type=_kv, metavar="KEY=VALUE", help="model config overrides")
    sp.add_argument("--data", default="synthetic",
                    help="'synthetic' or a paired folder / dataset name (e.g. RainTrainH, rain100H_train12, "
                         "ddn_pairs); benchmark test sets are refused")
    sp.add_argument("--pair-order", default="auto", choices=("auto", "clean_left", "rainy_left"),
                    help="which half is which in side-by-side pair images (auto: the brighter half is rainy)")
    sp.add_argument("--clean", nargs="*", help="clean image folders for synthetic data (default: <data>/clean)")
    sp.add_argument("--preset", default="mixed",
                    help="rain preset: light, heavy, heavy_thin and heavy_cross (Rain100H looks), heavy_haze, mixed;"
                         " or a bank of real rain layers from training pairs: bank (RainTrainH), bank_heavy (the"
                         " same at full strength), bank_1dir (its streaks, one direction, sparse), bank_ddn (DDN"
                         " streaks); join any with + to draw each image from one of them (e.g. bank+bank_1dir)")
    sp.add_argument("--angle-range", nargs=2, type=float, metavar=("LO", "HI"), help="rain angles (degrees)")
    sp.add_argument("--mix-pairs", nargs=2, metavar=("PAIRS", "FRACTION"),
                    help="with synthetic data, draw this fraction of the batches from a paired training folder "
                         "(e.g. rain100H_train12 0.3); benchmark test sets are refused")
    sp.add_argument("--real", nargs="*", help="unlabelled real rainy folders ('default' = the shared ones)")
    sp.add_argument("--exclude", nargs="*", help="real photo file names held back from training")
    sp.add_argument("--paper", action="store_true", help="use the paper's schedule (batch, patch, lr, steps)")
    sp.add_argument("--steps", type=_positive_int)
    sp.add_argument("--epochs", type=float)
    sp.add_argument("--batch", type=_positive_int)
    sp.add_argument("--patch", type=_positive_int, nargs="+", help="crop size: P, or H W")
    sp.add_argument("--lr", type=float)
    sp.add_argument("--milestones", type=int, nargs="*", help="steps at which lr *= gamma")
    sp.add_argument("--gamma", type=float)
    sp.add_argument("--grad-clip", type=float)
    sp.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="auto: mixed precision on CUDA, float32 on the CPU; bf16: bfloat16 autocast on any device "
                         "(about 1.5-2.4x faster steps on CPUs with AMX/AVX512-BF16: "
                         "benchmarks/bench_train_step.py); weights, optimiser and losses stay float32")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--threads", type=int, help="torch CPU threads")
    sp.add_argument("--device", default="auto")
    sp.add_argument("--out", required=True, help="weights file to write (.safetensors + .json)")
    sp.add_argument("--summary", help="one line shown by 'list'")
    sp.add_argument("--ckpt", help="training checkpoint path (default: checkpoints/<out>.pt)")
    sp.add_argument("--ckpt-every", type=int, default=200)
    sp.add_argument("--resume", help="resume from a training checkpoint (weights, optimiser, schedule and step; "
                                     "--lr/--milestones of this call are then ignored)")
    sp.add_argument("--resume-lr", type=_positive_float,
                    help="with --resume: continue at this learning rate instead of the saved one (a manual lr "
                         "decay that keeps Adam's moments and the step count; later milestones still apply)")
    sp.add_argument("--init", help="start from these weights (.safetensors or a training checkpoint) with a fresh "
                                   "optimiser and this call's schedule (fine-tuning)")
    sp.add_argument("--time-limit", type=float,
                    help="stop cleanly after this many seconds of this run (a resumed run gets its own budget)")
    sp.add_argument("--eval", nargs="*", help="datasets to evaluate after training")
    sp.add_argument("--log-every", type=int, default=10)
    sp.add_argument("--no-progress", action="store_true",
                    help="no progress bar; print one line every --log-every steps instead (for log files)")
    sp.set_defaults(fn=cmd_train)

    sp = sub.add_parser("synth", help="make rainy/clean pairs from clean images")
    sp.add_argument("clean", help="folder of clean images")
    sp.add_argument("--output", "-o", required=True)
    sp.add_argument("--preset", default="heavy")
    sp.add_argument("--scale", type=int, default=1, help="also write bicubic low-resolution rainy images")
    sp.add_argument("--count", type=_positive_int, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.set_defaults(fn=cmd_synth)

    sp = sub.add_parser("bench", help="time every shipped weight through derain() (0.25 and 1 MP), or one model",
                        description="Without --model/--untrained: every shipped weight (or --weights) through "
                                    "derain() on a 0.25 MP (608x412) and a 1 MP (1216x822) photo, median of "
                                    "--repeats runs (fewer for slow models), as a Markdown table; --write saves "
                                    "derain_lib/weights/latency.json (the demo's expected times). With --model or "
                                    "--untrained: that model's forward on random input at --sizes.")
    sp.add_argument("--sizes", nargs="+", help="WxH (default: 608x412 1216x822 for the table, "
                                                "481x321 1024x1024 for one model)")
    sp.add_argument("--repeats", type=_positive_int, help="timed runs (default 3 for the table, 5 for one model)")
    sp.add_argument("--threads", type=int)
    sp.add_argument("--weights", nargs="+", metavar="NAME", help="table only these weights (names or files)")
    sp.add_argument("--write", nargs="?", const=True, default=None, metavar="PATH",
                    help="save the table as JSON (default path: derain_lib/weights/latency.json)")
    sp.add_argument("--quiet", action="store_true", help="no per-measurement progress lines on stderr")
    model_opts(sp)
    sp.set_defaults(fn=cmd_bench)

    sp = sub.add_parser("convert-drn", help="convert the authors' released DRN .pth (csdwren/DRN) to .safetensors",
                        description="Reads the authors' plain state dict with torch.load(weights_only=True), checks "
                                    "its keys strictly and writes our .safetensors with a .json sidecar (arch, "
                                    "config, source sha256).")
    sp.add_argument("src", help="the authors' .pth file (e.g. logs/Rain100H_inter7_intra7/net_latest.pth)")
    sp.add_argument("--output", "-o", required=True, help="output .safetensors file")
    sp.add_argument("--stages", type=_positive_int, default=7, help="T, their inter_iter (default 7)")
    sp.add_argument("--recursions", type=int, default=7, help="R, their intra_iter (default 7)")
    sp.add_argument("--concat", default="input-first", choices=["input-first", "x-first"],
                    help="input order of the model that saved the file: cat((input, x)) as in their code "
                         "(default) or cat((x, input))")
    sp.set_defaults(fn=cmd_convert_drn)

    sp = sub.add_parser("promote", help="make a training run's output a shipped weight (name, summary, lineage totals)")
    sp.add_argument("src", help="the run's .safetensors (train --out)")
    sp.add_argument("name", help="shipped weight name, e.g. drn-light")
    sp.add_argument("--summary", required=True, help="one line shown by 'list' and the demo")
    sp.add_argument("--out-dir", default=None, help="folder to write to (default: the shipped weights folder)")
    sp.set_defaults(fn=cmd_promote)

    sp = sub.add_parser("scoreboard", help="every shipped weight on rain100L/H, outdoor_rain_sample and real photos")
    sp.add_argument("--weights", nargs="+", help="only these shipped weights (default: all)")
    sp.add_argument("--write", action="store_true", help="write derain_lib/weights/scoreboard.json, "
                                                         "assets/scoreboard/scoreboard.md and quality_vs_time.png")
    sp.add_argument("--check", action="store_true", help="exit 1 if a non-experiment weight is below its input on "
                                                         "rain100L or rain100H (Y-PSNR); print the issue targets")
    sp.add_argument("--max-seconds-per-weight", type=float, default=900.0,
                    help="CPU seconds of new work per weight that decide its subset (default 900; 0 = "
                         "the densest subset already cached)")
    sp.add_argument("--subset", choices=["auto", "all", "every5", "every20"], default="auto",
                    help="force the rain100L/H subset (default: cached, else by measured speed)")
    sp.add_argument("--threads", type=_positive_int, default=1,
                    help="torch CPU threads (default 1: CPU time per image is then the model's work)")
    sp.add_argument("--no-cache", action="store_true", help="evaluate everything, do not read or write the cache")
    sp.add_argument("--cached-only", action="store_true",
                    help="evaluate nothing: build the tables from the cache (weights without a complete subset "
                         "are listed as not evaluated yet)")
    sp.add_argument("--sets", nargs="+", help="evaluate only these sets now (rain100L rain100H always; also "
                                          "outdoor_rain_sample, real_rainy); the others come from the cache")
    sp.add_argument("--jobs", type=_positive_int, default=1,
                    help="worker processes, one weight each at a time, 1 torch thread each (default 1)")
    sp.set_defaults(fn=cmd_scoreboard)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, KeyError, TypeError, OSError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
