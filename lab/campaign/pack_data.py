"""Pack the campaign's *training* data into one tar archive small enough to travel with the working tree.

    python lab/campaign/pack_data.py                       # -> .campaign_data/train.tar and .campaign_data/smoke.tar
    python lab/campaign/pack_data.py --limit 3 --out /tmp/tiny.tar --no-smoke     # a few files per set (tests)

What goes in, from the data root (``DERAIN_DATA`` or ``../shared/data``): ``clean/`` (photos re-encoded as JPEG
where that makes them smaller; rain is synthesized on crops of them), ``rain100H_train12/`` byte for byte (the
rain banks subtract clean from rainy, which recompression would corrupt), the first ``--ddn`` pairs of
``ddn_pairs/`` (the ``bank_ddn`` streaks) and the real rainy photos of ``real_rainy/`` and ``real_rainy_more/``
(MSNet's unlabelled batches), shrunk to ``--real-side`` pixels on the long side.  The benchmark test sets
(``derain_lib.paths.BENCHMARK_SETS``) are refused: they never travel with training data.  A ``MANIFEST.json``
in the archive lists every file with its source and sha256.

``smoke.tar`` is separate and holds, byte for byte, the evaluation set(s) that the device's notebook smoke run
reads besides the training sets (``--smoke-sets``, default ``outdoor_rain_sample`` for notebook 04): the
campaign never reads it, so test images never sit in the training archive.  The device copy of the working
tree carries 64 MiB in all; without ``--max-mib`` the training archive gets what is left of that after the
checkout, the wheels of ``lab/campaign/pack_wheels.sh`` and ``smoke.tar`` (less a 2 MiB margin).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import tarfile
import time
from pathlib import Path

from lab import ROOT as REPO

TRAINING_SETS = ("clean", "rain100H_train12", "ddn_pairs", "real_rainy", "real_rainy_more")
SMOKE_SETS = ("outdoor_rain_sample",)   # notebook 04's evaluation set (notebooks/conftest.py NEEDS)
DEVICE_CARRY_MIB = 64.0                 # the device tool's limit on what travels (checkout + carried paths)
MARGIN_MIB = 2.0
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def _files(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if limit is None:
        return files
    # a limit keeps the first files of every sub-folder (clean/ has one per source set; pairs have rainy/clean)
    by_dir: dict[Path, list[Path]] = {}
    for p in files:
        by_dir.setdefault(p.parent, []).append(p)
    return [p for group in by_dir.values() for p in group[:limit]]


def _jpeg(path: Path, quality: int, max_side: int | None) -> bytes:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def checkout_mib() -> float:
    """Size of what travels without being carried: tracked files and untracked files git does not ignore."""
    import subprocess

    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return sum((REPO / f).stat().st_size for f in out.split("\0") if f and (REPO / f).is_file()) / 2**20


def folder_mib(folder: Path, skip: Path | None = None) -> float:
    if not folder.is_dir():
        return 0.0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p != skip) / 2**20


def pack_smoke(out: Path, root: Path, sets=SMOKE_SETS) -> list[str]:
    """The evaluation sets of the device's notebook smoke run, byte for byte, into their own archive."""
    packed = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tf:
        for name in sets:
            if (root / name).is_dir():
                tf.add(root / name, arcname=name)
                packed.append(name)
            else:
                print(f"{name}: not under {root}, left out of {out.name}")
    print(f"wrote {out}: {out.stat().st_size / 2**20:.1f} MiB ({', '.join(packed) or 'empty'})")
    return packed


def pack(out: Path, root: Path, *, quality: int = 75, ddn: int = 60, real_side: int = 1024,
         limit: int | None = None, max_mib: float = 48.0) -> dict:
    from derain_lib.paths import BENCHMARK_SETS

    assert not set(TRAINING_SETS) & set(BENCHMARK_SETS)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = {"root": str(root), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quality": quality,
                "ddn_pairs": ddn, "real_side": real_side, "limit": limit, "files": []}
    entries: list[tuple[str, bytes, str]] = []
    for name in TRAINING_SETS:
        folder = root / name
        if not folder.is_dir():
            print(f"{name}: not under {root}, left out")
            continue
        for csv in sorted(folder.rglob("*.csv")):
            entries.append((str(csv.relative_to(root)), csv.read_bytes(), "copied"))
        files = _files(folder, limit)
        if name == "ddn_pairs":
            files = files[:ddn]
        for p in files:
            raw = p.read_bytes()
            rel = p.relative_to(root)
            how = "copied"
            if name == "clean":
                data = _jpeg(p, quality, None)
                if len(data) < len(raw):      # only where smaller; the file keeps its name (readers sniff content)
                    raw, how = data, f"jpeg q{quality}"
            elif name.startswith("real_rainy"):
                data = _jpeg(p, quality, real_side)
                if len(data) < len(raw):
                    raw, how = data, f"jpeg q{quality}, long side <= {real_side}"
            entries.append((str(rel), raw, how))
    for rel, raw, how in entries:
        manifest["files"].append({"file": rel, "bytes": len(raw), "encoding": how,
                                  "sha256": hashlib.sha256(raw).hexdigest()})
    total = sum(len(raw) for _, raw, _ in entries)
    if total > max_mib * 2**20:
        raise SystemExit(f"the archive would be {total / 2**20:.1f} MiB > --max-mib {max_mib}: lower --quality, "
                         f"--ddn or --real-side")
    with tarfile.open(out, "w") as tf:
        for rel, raw, _ in entries + [("MANIFEST.json", json.dumps(manifest, indent=1).encode(), "")]:
            info = tarfile.TarInfo(rel)
            info.size, info.mtime = len(raw), int(time.time())
            tf.addfile(info, io.BytesIO(raw))
    counts = {s: sum(1 for f in manifest["files"] if f["file"].startswith(s + "/")) for s in TRAINING_SETS}
    print(f"wrote {out}: {out.stat().st_size / 2**20:.1f} MiB, files per set {counts}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    from derain_lib.paths import data_root

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / ".campaign_data" / "train.tar")
    p.add_argument("--root", type=Path, default=None, help="data root (default: DERAIN_DATA or ../shared/data)")
    p.add_argument("--quality", type=int, default=75, help="JPEG quality of re-encoded photos")
    p.add_argument("--ddn", type=int, default=60, help="how many ddn_pairs images to take")
    p.add_argument("--real-side", type=int, default=1024, help="long side of the real rainy photos (pixels)")
    p.add_argument("--limit", type=int, help="at most this many files per folder (a tiny archive for tests)")
    p.add_argument("--max-mib", type=float, default=None,
                   help="refuse a larger archive (default: what is left of the device's 64 MiB, see above)")
    p.add_argument("--smoke-sets", nargs="*", default=list(SMOKE_SETS),
                   help="evaluation sets for the notebook smoke run, packed into smoke.tar beside --out")
    p.add_argument("--no-smoke", action="store_true", help="do not write smoke.tar")
    a = p.parse_args(argv)
    root = (a.root or data_root()).resolve()
    if not a.no_smoke:
        pack_smoke(a.out.parent / "smoke.tar", root, a.smoke_sets)
    max_mib = a.max_mib
    if max_mib is None:
        tree, beside = checkout_mib(), folder_mib(a.out.parent, skip=a.out) if a.out.parent != REPO else 0.0
        max_mib = DEVICE_CARRY_MIB - tree - beside - MARGIN_MIB
        print(f"budget for {a.out.name}: {DEVICE_CARRY_MIB:.0f} MiB - checkout {tree:.1f} - {a.out.parent.name}/ "
              f"beside it {beside:.1f} - margin {MARGIN_MIB:.0f} = {max_mib:.1f} MiB")
    pack(a.out, root, quality=a.quality, ddn=a.ddn, real_side=a.real_side, limit=a.limit, max_mib=max_mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
