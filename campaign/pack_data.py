"""Pack the campaign's *training* data into one tar archive small enough to travel with the working tree.

    python campaign/pack_data.py                       # -> .campaign_data/train.tar (at most --max-mib)
    python campaign/pack_data.py --limit 3 --out /tmp/tiny.tar     # a few files per set (tests)

What goes in, from the data root (``DERAIN_DATA`` or ``../shared/data``): ``clean/`` (photos re-encoded as JPEG
where that makes them smaller; rain is synthesized on crops of them), ``rain100H_train12/`` byte for byte (the
rain banks subtract clean from rainy, which recompression would corrupt), the first ``--ddn`` pairs of
``ddn_pairs/`` (the ``bank_ddn`` streaks) and the real rainy photos of ``real_rainy/`` and ``real_rainy_more/``
(MSNet's unlabelled batches), shrunk to ``--real-side`` pixels on the long side.  The benchmark test sets
(``derain_lib.paths.BENCHMARK_SETS``) are refused: they never travel with training data.  A ``MANIFEST.json``
in the archive lists every file with its source and sha256.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TRAINING_SETS = ("clean", "rain100H_train12", "ddn_pairs", "real_rainy", "real_rainy_more")
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


def pack(out: Path, root: Path, *, quality: int = 85, ddn: int = 60, real_side: int = 1024,
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
    p.add_argument("--quality", type=int, default=85, help="JPEG quality of re-encoded photos")
    p.add_argument("--ddn", type=int, default=60, help="how many ddn_pairs images to take")
    p.add_argument("--real-side", type=int, default=1024, help="long side of the real rainy photos (pixels)")
    p.add_argument("--limit", type=int, help="at most this many files per folder (a tiny archive for tests)")
    p.add_argument("--max-mib", type=float, default=48.0,
                   help="refuse a larger archive (the device copy carries 64 MiB in all, the checkout included)")
    a = p.parse_args(argv)
    pack(a.out, (a.root or data_root()).resolve(), quality=a.quality, ddn=a.ddn, real_side=a.real_side,
         limit=a.limit, max_mib=a.max_mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
