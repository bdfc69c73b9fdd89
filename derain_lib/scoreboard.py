"""One scoreboard: every shipped weight on the benchmark sets, next to the rainy input and the papers' figures.

``python -m derain_lib scoreboard [--weights NAMES...] [--write] [--check] [--max-seconds-per-weight S]
[--subset auto|all|every5|every20] [--sets ...] [--cached-only] [--jobs N] [--threads 1]``

One command regenerates everything from the cache plus whatever changed: ``nice -n 10 python -m derain_lib
scoreboard --jobs 2 --write`` (``--check`` to flag rows below their input; ``--cached-only --write`` to rebuild
the tables without evaluating anything).

What is measured, per shipped weight (``derain_lib/weights/*.safetensors``):

* **Paired sets** ``rain100L`` (100 pairs), ``rain100H`` (100) and ``outdoor_rain_sample`` (4): mean Y-PSNR/SSIM
  (MATLAB ``rgb2ycbcr`` luma, BT.601, 16-235) and RGB PSNR/SSIM, :func:`derain_lib.metrics.all_metrics`, the
  conventions of ``python -m derain_lib eval``.  Every result also stores the *input* figures on the same images,
  so a subset row is compared with the input on that subset.
* **Real photos** ``real_rainy/`` (13, no ground truth): the no-reference rain measure
  :func:`derain_lib.nr_quality.rain_residual` (``rain_excess``, lower = less visible rain; ``texture`` alongside,
  a drop means detail removed too), mean over the photos.  Each photo is first downscaled (area) to at most
  1,000,000 pixels (the two 2560x1280 and the 1280x960 ones are), so no photo is tiled and the cost stays bounded.
  ``msnet-semi`` matched features on the unlabelled real photos minus 8 held-out ones, i.e. it saw 9 of these 13
  during training; ``nr_real_heldout`` is the mean over the 4 of them in :data:`derain_lib.models.semi.HELD_OUT_REAL`.
* **Time per image**: the model call alone on the rain100L/rain100H images evaluated (481x321), as CPU seconds
  (``time.process_time``; the CLI runs torch with 1 thread by default, so this is the work, little affected by
  the other jobs of a shared machine) and as wall-clock seconds; each image's row records the machine, threads
  and load average (the ``timing`` of a row: at its first and last image).

Super-resolution weights (``derain_sr-x2/x4``, ``model.scale = s > 1``) are scored on *every* set the way notebook
04 and their sidecars do: the rainy image (cropped to a multiple of s) is bicubic-downsampled by s (antialiased,
:func:`derain_lib.rain.downsample`), the model gets that LR image and its output is compared with the
full-resolution clean image.  Their ``input`` figures (and so the below-input check) are those of the LR rainy image
bicubic-upsampled back ("bicubic xs", shown beside them).  On ``outdoor_rain_sample`` two comparison rows follow:
"bicubic xs" and, for each non-experiment DRN weight, "drn-... + bicubic xs" (DRN derains the LR image, bicubic
upsamples it).  For real photos the SR models get the downscaled photo bicubic-downsampled by s.  (Rain100L/H are
scored with this protocol too, so an SR row there measures joint deraining + upscaling, not deraining alone.)

Subsets: a slow weight is scored on a fixed subset, named in the row and the table: ``all`` (rain100L/H: 100
images each, real_rainy: 13), ``every5`` (images 0, 5, 10, ... in sorted order: 20 per Rain100 set, 3 photos) or
``every20`` (5 per Rain100 set, 1 photo).  ``outdoor_rain_sample`` is always complete.  ``--subset auto`` (the
default) takes the densest subset whose *uncached* work, estimated from the CPU time of the first rain100L image,
fits ``--max-seconds-per-weight`` CPU seconds.  A subset row shows the input on its own images.

Cache: per image, one JSON per method in ``assets/scoreboard/cache/``, keyed by the weight file's sha256, the set
(with a fingerprint of its file names and sizes), the image and :data:`PROTOCOL`.  The subsets are nested
(every20 within every5 within all), so a denser run reuses a sparser one, an interrupted run keeps what it
measured, and when a weight file changes (a retrained weight) only that weight is evaluated again.

Recommended (``recommended`` in the JSON, read by the demo), among non-experiment (sidecar key ``experiment``)
deraining weights (scale 1):

* ``real_photos``: the lowest rain measure (mean over the photos every candidate was scored on) among the weights
  not below their input on rain100L and rain100H (Y-PSNR on the same images); if none qualifies, the lowest of
  all (``fallback`` says so);
* ``heavy``: the largest Y-PSNR gain over the input on rain100H, ``light``: the same on rain100L (the gain on the
  same images, so a subset row is ranked fairly; on full sets this is the best Y-PSNR).

``--check`` flags (exit status 1) every non-experiment row below its input on rain100L or rain100H (Y-PSNR), and
prints the issue-12 targets as information.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .checkpoint import sha256_file
from .paths import ASSETS_DIR, WEIGHTS_DIR, data_root

PROTOCOL = "scoreboard-1"
PAIRED_SETS = ("rain100L", "rain100H", "outdoor_rain_sample")
SUBSET_SETS = ("rain100L", "rain100H")          # the sets a slow model may subsample
NR_SET = "real_rainy"
NR_MAX_PIXELS = 1_000_000
SUBSETS = {"all": 1, "every5": 5, "every20": 20}
DEFAULT_MAX_SECONDS = 900.0

OUT_DIR = ASSETS_DIR / "scoreboard"
CACHE_DIR = OUT_DIR / "cache"
JSON_PATH = WEIGHTS_DIR / "scoreboard.json"
MD_PATH = OUT_DIR / "scoreboard.md"
PNG_PATH = OUT_DIR / "quality_vs_time.png"
README_PATH = ASSETS_DIR.parent / "README.md"   # its scoreboard section is refreshed by write()
COMMAND = "nice -n 10 python -m derain_lib scoreboard --jobs 2 --write"  # torch threads: 1 (the CLI default)

# Figures we did not measure with this scoreboard, each with where it comes from.  kind "paper": the paper's table;
# kind "authors_weights": the authors' released weights scored on our copies of the sets (DESIGN.md, 2026-11-24).
PAPERS: list[dict[str, Any]] = [
    {"label": "DRN paper, RainTrainH-trained, GPU, in-domain", "arch": "drn", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 26.99, "ssim_y": 0.861}},
     "source": "Cai et al., ICIP 2019, Table; quoted in derain_lib/weights/drn-mixed.json 'paper'"},
    {"label": "DRN authors' released weights, RainTrainL-trained (reported)", "arch": "drn",
     "kind": "authors_weights", "sets": {"rain100L": {"psnr_y": 35.84, "ssim_y": 0.971}},
     "source": "authors' RainTrainL weights on our rain100L/ (100), ../shared/DESIGN.md and issue 12; not re-run here"},
    {"label": "DRN authors' released weights, RainTrainH-trained (reported)", "arch": "drn",
     "kind": "authors_weights",
     "sets": {"rain100H": {"psnr_y": 27.00, "ssim_y": 0.862}, "rain100L": {"psnr_y": 30.51, "ssim_y": None}},
     "source": "authors' RainTrainH weights on our rain100H/ and rain100L/, ../shared/DESIGN.md and issue 12; "
               "not re-run here"},
    {"label": "S-DSEN paper, RainTrainH-trained, in-domain", "arch": "sdsen", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 27.16, "ssim_y": 0.8589}},
     "source": "Liu et al., ICIP 2019; quoted in derain_lib/weights/sdsen.json 'paper_reference'"},
    {"label": "MSNet paper (figure as in the README, unverified)", "arch": "msnet", "kind": "paper",
     "sets": {"rain100H": {"psnr_y": 30.68, "ssim_y": 0.93}},
     "source": "README 'paper (Rain100H, in-domain)' column; the paper's text was not available to us "
               "(models/semi.py), so set and protocol are unverified"},
    {"label": "derain_sr paper x2, full Outdoor-Rain test set (not our 4-pair sample)", "arch": "derain_sr",
     "kind": "paper", "sets": {"outdoor_rain_sample": {"psnr_y": 22.67, "ssim_y": 0.755}},
     "source": "Vu & Kim; quoted in derain_lib/weights/derain_sr-x2.json 'evaluation.paper_context'"},
]

METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


# ----------------------------------------------------------------------------------------------------- helpers
def machine_state() -> dict[str, Any]:
    """The machine, torch threads and load average now (recorded with every timed result)."""
    import torch
    from .bench import machine_info
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"machine": machine_info(), "threads": torch.get_num_threads(), "loadavg": load,
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def _set_dir(name: str) -> Path:
    p = data_root() / name
    if not p.is_dir():
        raise FileNotFoundError(f"dataset {name!r} not found at {p} (set DERAIN_DATA to the data root)")
    return p


def set_fingerprint(name: str) -> str:
    """A short hash of a set's file names and sizes (a changed data root invalidates cached results)."""
    return _fingerprint(str(_set_dir(name)))


@functools.lru_cache(maxsize=None)
def _fingerprint(folder: str) -> str:
    root = Path(folder)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root)}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def subset_indices(n: int, subset: str) -> list[int]:
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: {', '.join(SUBSETS)}")
    return list(range(0, n, SUBSETS[subset]))


def _bicubic_down(img: np.ndarray, s: int) -> np.ndarray:
    from .io import to_tensor, to_uint8
    from .rain import downsample
    return to_uint8(downsample(to_tensor(img), s))


def _bicubic_up(img: np.ndarray, s: int) -> np.ndarray:
    import torch.nn.functional as F
    from .io import to_tensor, to_uint8
    return to_uint8(F.interpolate(to_tensor(img), scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1))


def _crop(img: np.ndarray, s: int) -> np.ndarray:
    return img[: img.shape[0] // s * s, : img.shape[1] // s * s] if s > 1 else img


def downscale_to(img: np.ndarray, max_pixels: int = NR_MAX_PIXELS) -> np.ndarray:
    """Area-downscale so that H*W <= max_pixels (unchanged when already small enough)."""
    import cv2
    h, w = img.shape[:2]
    if h * w <= max_pixels:
        return img
    f = (max_pixels / (h * w)) ** 0.5
    nw, nh = max(1, int(w * f)), max(1, int(h * f))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)


def real_photo_files() -> list[Path]:
    from .data import list_images
    root = _set_dir(NR_SET)
    return list_images(root / "rainy" if (root / "rainy").is_dir() else root)


# --------------------------------------------------------------------------------------------------- methods
class Method:
    """Something that turns a rainy image into an estimate of the clean one, at full resolution.

    ``prep(rainy)`` builds what the method is given (the LR image for scale > 1); ``run(prep_out)`` is the timed
    part; ``baseline(rainy)`` is what "the input" means for this method (the rainy image, or for scale > 1 the LR
    rainy image bicubic-upsampled back).  ``identity``: the method is the rainy input itself (the input row)."""

    def __init__(self, key: str, fingerprint: str, run: Callable[[np.ndarray], np.ndarray], scale: int = 1,
                 timed: bool = True, info: dict[str, Any] | None = None, identity: bool = False):
        self.key, self.fingerprint, self._run, self.scale, self.timed = key, fingerprint, run, scale, timed
        self.info, self.identity = info or {}, identity
        self._warm = not timed

    def prep(self, rainy: np.ndarray) -> np.ndarray:
        return _bicubic_down(rainy, self.scale) if self.scale > 1 else rainy

    def run(self, x: np.ndarray) -> np.ndarray:
        if not self._warm:  # one untimed call on a small image: one-time allocations are not timed
            self._warm = True
            self._run(self.prep(np.zeros((64, 64, 3), np.uint8)))
        return self._run(x)

    def baseline(self, rainy: np.ndarray) -> np.ndarray:
        return _bicubic_up(_bicubic_down(rainy, self.scale), self.scale) if self.scale > 1 else rainy


def weight_files(weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(Path(weights_dir).glob("*.safetensors"))}


def sidecar(path: Path) -> dict[str, Any]:
    j = path.with_suffix(".json")
    if j.exists():
        try:
            return json.loads(j.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def weight_method(name: str, path: Path) -> tuple[Method, Any]:
    from .checkpoint import load_model
    from .infer import derain
    model = load_model(path, device="cpu")
    scale = int(getattr(model, "scale", 1))
    m = Method(name, sha256_file(path), lambda x: derain(x, model, tile=0), scale=scale, info={"file": path.name})
    return m, model


# ---------------------------------------------------------------------------------------------------- cache
class Cache:
    """Per-image results, ``<dir>/<method key>.json``:
    ``{"key", "fingerprint", "protocol", "sets": {"<set>|<set fingerprint>": {"<image name>": row}}}``.

    ``fingerprint`` is the weight file's sha256: results of another file (an older weight) are ignored and dropped
    at the next write.  A subset's figures are assembled from the per-image rows, so every5 reuses every20's images
    and all reuses both; an interrupted run keeps what it measured."""

    def __init__(self, directory: str | Path | None):
        self.dir = Path(directory) if directory else None
        self.computed: list[str] = []   # "<method>|<set>|<image>" evaluated (not read from the cache) this run
        self._mem: dict[str, dict[str, Any]] = {}

    def _file(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def _load(self, m: Method) -> dict[str, Any]:
        if m.key in self._mem and self._mem[m.key]["fingerprint"] == m.fingerprint:
            return self._mem[m.key]
        d: dict[str, Any] = {}
        if self.dir is not None and self._file(m.key).exists():
            d = json.loads(self._file(m.key).read_text())
        if d.get("fingerprint") != m.fingerprint or d.get("protocol") != PROTOCOL:
            d = {"key": m.key, "fingerprint": m.fingerprint, "protocol": PROTOCOL, "info": m.info, "sets": {}}
        self._mem[m.key] = d
        return d

    @staticmethod
    def set_key(set_name: str) -> str:
        return f"{set_name}|{set_fingerprint(set_name)}"

    def rows(self, m: Method, set_name: str) -> dict[str, Any]:
        return self._load(m)["sets"].get(self.set_key(set_name), {})

    def put(self, m: Method, set_name: str, name: str, row: dict[str, Any]) -> None:
        self.computed.append(f"{m.key}|{set_name}|{name}")
        d = self._load(m)
        d["sets"].setdefault(self.set_key(set_name), {})[name] = row
        if self.dir is None:
            return
        if self._file(m.key).exists():  # merge what another process wrote meanwhile (several runs may share it)
            try:
                disk = json.loads(self._file(m.key).read_text())
            except json.JSONDecodeError:
                disk = {}
            if disk.get("fingerprint") == m.fingerprint and disk.get("protocol") == PROTOCOL:
                for k, rows in disk.get("sets", {}).items():
                    for n, r in rows.items():
                        d["sets"].setdefault(k, {}).setdefault(n, r)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._file(m.key).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(d, indent=0, sort_keys=True))
        tmp.replace(self._file(m.key))


# ------------------------------------------------------------------------------------------------- evaluation
def _timed(m: Method, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = m.run(x)
    return out, time.perf_counter() - t0, time.process_time() - c0


def input_method() -> Method:
    """The rainy input itself (the input row)."""
    return Method("input", "rainy-input", lambda x: x, timed=False, identity=True)


def _score_one(m: Method, rainy: np.ndarray, clean: np.ndarray, name: str,
               in_row: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``m``'s output and of its baseline input on one pair, and the model's wall and CPU time.

    ``in_row``: the input row's cached result for this image (scale 1: the baseline is the rainy image itself)."""
    from .metrics import all_metrics
    rainy, clean = _crop(rainy, m.scale), _crop(clean, m.scale)
    out, wall, cpu = _timed(m, m.prep(rainy))
    row: dict[str, Any] = {"seconds": wall, "cpu_seconds": cpu, "hw": list(clean.shape[:2])}
    row.update({f"out_{k}": v for k, v in all_metrics(out, clean).items()})
    if m.identity:
        row.update({f"in_{k}": row[f"out_{k}"] for k in METRICS})
    elif in_row is not None and m.scale == 1:
        row.update({f"in_{k}": in_row[f"out_{k}"] for k in METRICS})
    else:
        row.update({f"in_{k}": v for k, v in all_metrics(m.baseline(rainy), clean).items()})
    return row


def _timing_summary(per: list[dict[str, Any]]) -> dict[str, Any]:
    return {"seconds_per_image": float(np.mean([r["seconds"] for r in per])),
            "cpu_seconds_per_image": float(np.mean([r["cpu_seconds"] for r in per]))}


def eval_paired(m: Method, set_name: str, subset: str, cache: Cache,
                log: Callable[[str], None] | None = None, cached_only: bool = False) -> dict[str, Any] | None:
    """Mean metrics of ``m`` (and of its baseline input) over the ``subset`` of a paired set (cached per image).

    ``cached_only``: compute nothing; None unless every image of the subset is cached."""
    from .data import PairedFolder

    ds = PairedFolder(_set_dir(set_name))
    idx = subset_indices(len(ds), subset)
    have = cache.rows(m, set_name)
    if cached_only and any(ds.pairs[i][0].name not in have for i in idx):
        return None
    inputs = cache.rows(input_method(), set_name) if m.scale == 1 and not m.identity else {}
    per = []
    t_start, n_new = time.perf_counter(), 0
    for j, i in enumerate(idx):
        name = ds.pairs[i][0].name
        if name not in have:
            row = _score_one(m, *ds[i], in_row=inputs.get(name))
            if m.timed:
                row["state"] = machine_state()
            cache.put(m, set_name, name, row)
            have = cache.rows(m, set_name)
            n_new += 1
            if log and n_new % 10 == 0:
                log(f"  {m.key} {set_name} [{subset}] {j + 1}/{len(idx)} ({time.perf_counter() - t_start:.0f} s)")
        per.append(have[name])
    res: dict[str, Any] = {k: float(np.mean([r[f"out_{k}"] for r in per])) for k in METRICS}
    res.update({f"input_{k}": float(np.mean([r[f"in_{k}"] for r in per])) for k in METRICS})
    res.update({"n": len(per), "of": len(ds), "subset": subset})
    if m.timed:
        res.update(_timing_summary(per))
        res["timing"] = {"first": per[0].get("state"), "last": per[-1].get("state")}
        res["machines"] = sorted({(r.get("state") or {}).get("machine") for r in per} - {None})
    return res


def heldout_real() -> tuple[str, ...]:
    """File names (no folder) of the real photos that msnet-semi's matching never saw.

    :data:`~derain_lib.models.semi.HELD_OUT_REAL` lists them as ``folder/rainy/name`` while the per-photo rows
    are keyed by the bare file name, so only the names are compared."""
    try:
        from .models.semi import HELD_OUT_REAL
        return tuple(Path(p).name for p in HELD_OUT_REAL)
    except ImportError:
        return ()


def eval_real(m: Method, subset: str, cache: Cache, log: Callable[[str], None] | None = None,
              cached_only: bool = False) -> dict[str, Any] | None:
    """No-reference rain measure on the real photos (each downscaled to <= NR_MAX_PIXELS first), cached per photo.

    ``cached_only``: compute nothing; None unless every photo of the subset is cached."""
    from .io import read_image
    from .nr_quality import rain_residual

    files = real_photo_files()
    idx = subset_indices(len(files), subset)
    have = cache.rows(m, NR_SET)
    if cached_only and any(files[i].name not in have for i in idx):
        return None
    per = {}
    for i in idx:
        f = files[i]
        if f.name not in have:
            img = _crop(downscale_to(read_image(f)), m.scale)
            out, wall, cpu = _timed(m, m.prep(img))
            r = rain_residual(out)
            cache.put(m, NR_SET, f.name, {"rain_excess": r["rain_excess"], "texture": r["texture"],
                                          "hw": list(out.shape[:2]), "seconds": wall, "cpu_seconds": cpu})
            have = cache.rows(m, NR_SET)
        per[f.name] = have[f.name]
    held = [v["rain_excess"] for k, v in per.items() if k in heldout_real()]
    return {"rain_excess": float(np.mean([v["rain_excess"] for v in per.values()])),
            "texture": float(np.mean([v["texture"] for v in per.values()])),
            "rain_excess_heldout": float(np.mean(held)) if held else None,
            "n": len(per), "of": len(files), "subset": subset,
            "per_image": {k: v["rain_excess"] for k, v in per.items()}}


def _pixels(p: Path) -> int:
    from PIL import Image
    with Image.open(p) as im:
        return im.size[0] * im.size[1]


def remaining_pixels(m: Method, cache: Cache, subset: str) -> float:
    """Output pixels still to compute for ``m`` with the rain100L/H and real-photo ``subset`` (outdoor: all)."""
    from .data import PairedFolder
    total = 0.0
    for d in PAIRED_SETS:
        pairs = PairedFolder(_set_dir(d)).pairs
        have = cache.rows(m, d)
        idx = subset_indices(len(pairs), subset if d in SUBSET_SETS else "all")
        total += sum(_pixels(pairs[i][0]) for i in idx if pairs[i][0].name not in have)
    files = real_photo_files()
    have = cache.rows(m, NR_SET)
    total += sum(min(_pixels(files[i]), NR_MAX_PIXELS) for i in subset_indices(len(files), subset)
                 if files[i].name not in have)
    return total


def choose_subset(m: Method, cache: Cache, max_seconds: float, forced: str | None,
                  log: Callable[[str], None]) -> str:
    """The densest subset whose uncached work fits ``max_seconds`` of CPU time at ``m``'s measured speed.

    The speed comes from the first rain100L image (cached, or measured now: index 0 is in every subset)."""
    from .data import PairedFolder
    if forced and forced != "auto":
        return forced
    ds = PairedFolder(_set_dir(SUBSET_SETS[0]))
    name = ds.pairs[0][0].name
    if name not in cache.rows(m, SUBSET_SETS[0]):
        row = _score_one(m, *ds[0], in_row=cache.rows(input_method(), SUBSET_SETS[0]).get(name))
        row["state"] = machine_state()
        cache.put(m, SUBSET_SETS[0], name, row)
    first = cache.rows(m, SUBSET_SETS[0])[name]
    t = first["cpu_seconds"] / (first["hw"][0] * first["hw"][1] / m.scale ** 2)  # CPU s per input pixel
    est = 0.0
    for s in SUBSETS:
        est = t * remaining_pixels(m, cache, s) / m.scale ** 2
        if est <= max_seconds:
            log(f"{m.key}: {first['cpu_seconds']:.2f} CPU s on the first image -> subset {s} "
                f"(estimated {est:.0f} CPU s of new work <= {max_seconds:.0f})")
            return s
    log(f"{m.key}: {first['cpu_seconds']:.2f} CPU s on the first image -> subset every20 "
        f"(estimated {est:.0f} CPU s of new work > {max_seconds:.0f})")
    return "every20"


def _set_summary(r: dict[str, Any]) -> dict[str, Any]:
    keep = list(METRICS) + [f"input_{k}" for k in METRICS] + ["n", "of", "subset"]
    return {k: r[k] for k in keep if k in r}


def densest_cached(m: Method, cache: Cache) -> str | None:
    """The densest subset whose rain100L and rain100H images are all cached for ``m`` (None if none is)."""
    for s in SUBSETS:
        if all(eval_paired(m, d, s, cache, cached_only=True) is not None for d in SUBSET_SETS):
            return s
    return None


def evaluate_weight(name: str, path: str | Path, cache_dir: str | Path | None, max_seconds: float,
                    subset: str | None, cached_only: bool = False, cache: Cache | None = None,
                    log: Callable[[str], None] = print, threads: int | None = None,
                    only: Sequence[str] | None = None) -> dict[str, Any] | None:
    """One weight's scoreboard row (None in ``cached_only`` mode when no subset of rain100L/H is complete).

    ``only``: evaluate just these of rain100L, rain100H, outdoor_rain_sample, real_rainy (the others are read from
    the cache if there, else left empty)."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    path = Path(path)
    cache = cache or Cache(cache_dir)
    side = sidecar(path)
    m, model = weight_method(name, path)
    if cached_only:
        sub = densest_cached(m, cache)
        if sub is None:
            return None
    else:
        sub = choose_subset(m, cache, max_seconds, subset, log)
        log(f"{name}: rain100L/H and real photos on subset {sub}")
    def skip(d: str) -> bool:
        return cached_only or (only is not None and d not in only)
    sets = {d: eval_paired(m, d, sub if d in SUBSET_SETS else "all", cache, log, skip(d)) for d in PAIRED_SETS}
    if any(sets[d] is None for d in SUBSET_SETS):
        return None
    nr = eval_real(m, sub, cache, log, skip(NR_SET))
    timed = [sets[d] for d in SUBSET_SETS]
    n_t = sum(r["n"] for r in timed)
    nr = nr or {}
    return {
        "weights": name, "arch": model.arch, "experiment": bool(side.get("experiment")),
        "scale": m.scale, "params": int(sum(p.numel() for p in model.parameters())),
        "sha256": m.fingerprint,
        "sets": {d: (_set_summary(r) if r else None) for d, r in sets.items()},
        "nr_real": nr.get("rain_excess"), "nr_real_heldout": nr.get("rain_excess_heldout"),
        "nr_texture": nr.get("texture"), "nr_n": nr.get("n"), "nr_subset": nr.get("subset"),
        "nr_per_image": nr.get("per_image"),
        "seconds_per_image": sum(r["seconds_per_image"] * r["n"] for r in timed) / n_t,
        "cpu_seconds_per_image": sum(r["cpu_seconds_per_image"] * r["n"] for r in timed) / n_t,
        "timing": sets[SUBSET_SETS[0]].get("timing"),
        "timing_machines": sorted(set().union(*(sets[d].get("machines", []) for d in SUBSET_SETS))),
        "summary": side.get("summary", ""),
        "_drn": model.arch == "drn" and not side.get("experiment"),
    }


def _worker(args: tuple) -> tuple[str, dict[str, Any] | None, str]:
    import io as _io
    buf = _io.StringIO()
    name, path, cache_dir, max_seconds, subset, data, only = args
    os.environ["DERAIN_DATA"] = data
    row = evaluate_weight(name, path, cache_dir, max_seconds, subset, log=lambda s: print(s, file=buf), threads=1,
                          only=only)
    return name, row, buf.getvalue()


def build(weights: Sequence[str] | None = None, weights_dir: str | Path = WEIGHTS_DIR,
          cache_dir: str | Path | None = CACHE_DIR, max_seconds: float = DEFAULT_MAX_SECONDS,
          subset: str | None = None, log: Callable[[str], None] = print, cache: Cache | None = None,
          cached_only: bool = False, jobs: int = 1, only: Sequence[str] | None = None) -> dict:
    """Evaluate (or read from the cache) every weight and return the scoreboard dict (see the module docstring).

    ``cached_only``: evaluate nothing; weights without a complete cached subset are listed in ``pending``.
    ``jobs`` > 1: that many worker processes (1 torch thread each), one weight at a time each.
    ``only``: evaluate only these sets (rain100L and rain100H are always among them); the rest from the cache."""
    if only is not None:
        bad = [d for d in only if d not in PAIRED_SETS + (NR_SET,)]
        if bad:
            raise ValueError(f"unknown set {bad[0]!r}; sets: {', '.join(PAIRED_SETS + (NR_SET,))}")
        only = sorted(set(only) | set(SUBSET_SETS))
    files = weight_files(weights_dir)
    if weights:
        unknown = [w for w in weights if w not in files]
        if unknown:
            raise ValueError(f"unknown weights {', '.join(unknown)}; shipped: {', '.join(files) or 'none'}")
        names = list(weights)
    else:
        names = list(files)
    if subset and subset != "auto" and subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; known: auto, {', '.join(SUBSETS)}")
    for d in PAIRED_SETS + (NR_SET,):
        _set_dir(d)
    cache = cache or Cache(cache_dir)
    board: dict[str, Any] = {"generated": _dt.date.today().isoformat(), "machine": machine_state(),
                             "command": COMMAND, "protocol": PROTOCOL, "rows": [], "comparisons": [], "pending": []}
    inp = input_method()
    board["input"] = {"sets": {d: _set_summary(eval_paired(inp, d, "all", cache, log)) for d in PAIRED_SETS}}
    nr_in = eval_real(inp, "all", cache, log)
    board["input"].update({"nr_real": nr_in["rain_excess"], "nr_real_heldout": nr_in["rain_excess_heldout"],
                           "nr_texture": nr_in["texture"], "nr_per_image": nr_in["per_image"]})

    rows: dict[str, dict[str, Any] | None] = {}
    if jobs > 1 and not cached_only and len(names) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as ex:
            todo = [(n, str(files[n]), str(cache_dir) if cache_dir else None, max_seconds, subset, str(data_root()),
                     only) for n in names]
            for name, row, out in ex.map(_worker, todo):
                for line in out.splitlines():
                    log(line)
                rows[name] = row
        cache = Cache(cache_dir) if cache_dir else cache  # re-read what the workers wrote
    else:
        for name in names:
            rows[name] = evaluate_weight(name, files[name], cache_dir, max_seconds, subset, cached_only, cache, log,
                                         only=only)
    scales = set()
    drn_weights: list[tuple[str, Path]] = []
    for name in names:
        row = rows[name]
        if row is None:
            board["pending"].append(name)
            continue
        if row.pop("_drn"):
            drn_weights.append((name, files[name]))
        scales.add(row["scale"])
        board["rows"].append(row)

    # comparison rows for the SR protocol on outdoor_rain_sample: bicubic, and DRN + bicubic.  (On rain100L/H an SR
    # row's own input figures are the bicubic ones on the same images.)
    skip_outdoor = cached_only or (only is not None and "outdoor_rain_sample" not in only)
    for s in sorted(x for x in scales if x > 1):
        bic = Method(f"bicubic-x{s}", f"bicubic-x{s}", lambda x, s=s: _bicubic_up(x, s), scale=s, timed=False)
        r = eval_paired(bic, "outdoor_rain_sample", "all", cache, log, skip_outdoor)
        if r is not None:
            board["comparisons"].append({"label": f"bicubic x{s} (rainy LR upsampled)", "scale": s,
                                         "sets": {"outdoor_rain_sample": _set_summary(r)}})
        for name, path in drn_weights:
            dm, _ = weight_method(name, path)
            m2 = Method(f"{name}+bicubic-x{s}", dm.fingerprint, lambda x, dm=dm, s=s: _bicubic_up(dm.run(x), s),
                        scale=s, info={"file": path.name})
            r = eval_paired(m2, "outdoor_rain_sample", "all", cache, log, skip_outdoor)
            if r is None:
                continue
            board["comparisons"].append({"label": f"{name} + bicubic x{s} (DRN on the rainy LR, then bicubic)",
                                         "scale": s, "weights": name,
                                         "sets": {"outdoor_rain_sample": _set_summary(r)},
                                         "cpu_seconds_per_image": r.get("cpu_seconds_per_image"),
                                         "timing_machines": r.get("machines", [])})
    board["papers"] = PAPERS
    board["recommended"] = recommend(board["rows"])
    board["recommended_rule"] = RECOMMENDED_RULE
    board["computed_this_run"] = len(cache.computed)
    return board


# ----------------------------------------------------------------------------------------------- decisions
RECOMMENDED_RULE = (
    "Among non-experiment deraining weights (scale 1): real_photos = lowest no-reference rain measure on real_rainy/ "
    "(mean over the photos all of them were scored on) among those not below their input on rain100L and rain100H "
    "(Y-PSNR, same images; if none, lowest of all, fallback=true); heavy = largest Y-PSNR gain over the input on "
    "rain100H; light = the same on rain100L (gain on the same images, so subset rows rank fairly).")


def gain(row: dict[str, Any], set_name: str) -> float | None:
    r = row["sets"].get(set_name)
    if not r:
        return None
    return r["psnr_y"] - r["input_psnr_y"]


def below_input(row: dict[str, Any]) -> list[str]:
    """The sets among rain100L/rain100H where ``row`` is below its input (Y-PSNR, same images)."""
    return [d for d in SUBSET_SETS if (g := gain(row, d)) is not None and g < 0]


def _nr_common(pool: list[dict[str, Any]]) -> dict[str, float]:
    """Each row's mean rain measure over the real photos that every row of ``pool`` was scored on."""
    pool = [r for r in pool if r.get("nr_per_image")]
    common = set.intersection(*(set(r["nr_per_image"]) for r in pool)) if pool else set()
    if not common:
        return {r["weights"]: r["nr_real"] for r in pool}
    return {r["weights"]: float(np.mean([r["nr_per_image"][k] for k in sorted(common)])) for r in pool}


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cand = [r for r in rows if not r["experiment"] and r.get("scale", 1) == 1]
    out: dict[str, Any] = {"real_photos": None, "heavy": None, "light": None, "fallback": False}
    if not cand:
        return out
    ok = [r for r in cand if not below_input(r) and r.get("nr_per_image")]
    pool = ok or [r for r in cand if r.get("nr_per_image")]
    out["fallback"] = not ok
    if pool:
        nr = _nr_common(pool)
        out["real_photos"] = min(pool, key=lambda r: nr[r["weights"]])["weights"]
    out["heavy"] = max(cand, key=lambda r: gain(r, "rain100H") if gain(r, "rain100H") is not None else -1e9)["weights"]
    out["light"] = max(cand, key=lambda r: gain(r, "rain100L") if gain(r, "rain100L") is not None else -1e9)["weights"]
    return out


def check(board: dict[str, Any]) -> list[str]:
    """One line per non-experiment row below its input on rain100L or rain100H (Y-PSNR)."""
    flags = []
    for r in board["rows"]:
        if r["experiment"]:
            continue
        for d in below_input(r):
            s = r["sets"][d]
            base = "input" if r.get("scale", 1) == 1 else f"bicubic x{r['scale']}"
            flags.append(f"{r['weights']}: {d} {s['psnr_y']:.2f} dB Y < {base} {s['input_psnr_y']:.2f} "
                         f"(n={s['n']}, {s['subset']})")
    return flags


def targets(board: dict[str, Any]) -> list[str]:
    """The issue-12 targets, read off the scoreboard (information, not a pass/fail of this command)."""
    rows = {r["weights"]: r for r in board["rows"]}
    lines = []
    drn = [r for r in board["rows"] if r["arch"] == "drn" and not r["experiment"]]
    if drn:
        bl = max(drn, key=lambda r: r["sets"]["rain100L"]["psnr_y"])
        bh = max(drn, key=lambda r: r["sets"]["rain100H"]["psnr_y"])
        for r, d, t in ((bl, "rain100L", 34.0), (bh, "rain100H", 25.0)):
            x = r["sets"][d]
            lines.append(f"best DRN {d} >= {t}: {r['weights']} {x['psnr_y']:.2f} (n={x['n']}, {x['subset']}) "
                         f"[{'ok' if x['psnr_y'] >= t else 'not yet'}{'' if x['subset'] == 'all' else ', subset only'}]")
    if "sdsen" in rows and "dsen" in rows:
        for d in SUBSET_SETS:
            a, b = gain(rows["sdsen"], d), gain(rows["dsen"], d)
            lines.append(f"S-DSEN >= DSEN on {d} (gain over input, same-subset input): {a:+.2f} vs {b:+.2f} "
                         f"[{'ok' if a >= b else 'not yet'}]")
    if "msnet-semi" in rows and "msnet-sup" in rows and rows["msnet-semi"]["nr_per_image"] \
            and rows["msnet-sup"]["nr_per_image"]:
        se, su = rows["msnet-semi"], rows["msnet-sup"]
        nr = _nr_common([se, su])
        a, b = nr["msnet-semi"], nr["msnet-sup"]
        lines.append(f"msnet-semi less rain than msnet-sup (NR, common photos): {a:.2f} vs {b:.2f} "
                     f"[{'ok' if a < b else 'not yet'}]")
        if se.get("nr_real_heldout") is not None and su.get("nr_real_heldout") is not None:
            lines.append(f"  (the same on the {len([k for k in se['nr_per_image'] if k in heldout_real()])} photos "
                         f"the matching never saw: {se['nr_real_heldout']:.2f} vs {su['nr_real_heldout']:.2f})")
        for d in SUBSET_SETS:
            diff = gain(se, d) - gain(su, d)
            lines.append(f"msnet-semi within 0.5 dB of msnet-sup on {d} (gain over input; n={se['sets'][d]['n']} / "
                         f"{su['sets'][d]['n']}): {diff:+.2f} [{'ok' if diff >= -0.5 else 'not yet'}]")
    if "derain_sr-x2" in rows and rows["derain_sr-x2"]["sets"]["outdoor_rain_sample"]:
        sr = rows["derain_sr-x2"]["sets"]["outdoor_rain_sample"]["psnr_y"]
        comps = [c for c in board["comparisons"] if c.get("scale") == 2 and c["sets"].get("outdoor_rain_sample")]
        for c in comps:
            v = c["sets"]["outdoor_rain_sample"]["psnr_y"]
            lines.append(f"derain_sr-x2 above {c['label'].split(' (')[0]} on outdoor_rain_sample: {sr:.2f} vs {v:.2f} "
                         f"[{'ok' if sr > v else 'not yet'}]")
    return lines


# --------------------------------------------------------------------------------------------------- outputs
def to_json(board: dict[str, Any]) -> dict[str, Any]:
    """The published JSON (no per-image rows; those stay in the cache)."""
    return json.loads(json.dumps(board, default=float))


def _cell(s: dict[str, Any] | None, y: bool = True, scale: int = 1) -> str:
    if not s:
        return "–"
    p, q = (s["psnr_y"], s["ssim_y"]) if y else (s["psnr_rgb"], s["ssim_rgb"])
    txt = f"{p:.2f} / {q:.3f}" if q is not None else f"{p:.2f}"
    ip = s["input_psnr_y"] if y else s["input_psnr_rgb"]
    base = "input" if scale == 1 else f"bicubic x{scale}"
    if s.get("subset", "all") != "all":
        txt += f" (n={s['n']}, {s['subset']}; {base} {ip:.2f})"
    elif scale > 1:
        txt += f" ({base} {ip:.2f})"
    return txt


def _nr_cell(r: dict[str, Any], inp: dict[str, Any]) -> str:
    if r.get("nr_real") is None:
        return "–"
    if r.get("nr_subset", "all") == "all":
        return f"{r['nr_real']:.2f}"
    ref = np.mean([inp["nr_per_image"][k] for k in r["nr_per_image"]])
    return f"{r['nr_real']:.2f} ({r['nr_n']} photo{'s' if r['nr_n'] != 1 else ''}; input {ref:.2f})"


def _paper_cell(p: dict[str, Any], d: str) -> str:
    s = p["sets"].get(d)
    if not s:
        return ""
    return f"{s['psnr_y']:.2f}" + (f" / {s['ssim_y']:.3f}" if s.get("ssim_y") is not None else "")


def _short_machine(machine: str) -> str:
    return machine.split(",")[0]


def timing_machines_note(board: dict[str, Any]) -> str:
    """A sentence naming which machine timed which rows, when the *CPU s / image* column mixes machines (rows
    evaluated in different sessions, on different VMs); empty when one machine timed them all."""
    timed = [(r["weights"], r.get("timing_machines")) for r in board["rows"]]
    timed += [(f"{c['weights']} + bicubic x{c['scale']}", c.get("timing_machines")) for c in board["comparisons"]
              if c.get("cpu_seconds_per_image")]
    short = [(name, sorted({_short_machine(m) for m in ms or []})) for name, ms in timed]
    if len({m for _, ms in short for m in ms}) < 2:
        return ""
    groups: dict[str, list[str]] = {}
    for name, ms in short:
        groups.setdefault(" and ".join(ms) or "not recorded", []).append(f"`{name}`")
    parts = [f"{k}: {', '.join(v)}" for k, v in sorted(groups.items())]
    return ("*CPU s / image* was measured on more than one machine (weights scored in different sessions; a row "
            "under two machines has its images split between them), so compare times only within one machine: "
            + "; ".join(parts) + ".")


def to_markdown(board: dict[str, Any]) -> str:
    m = board["machine"]
    load = "/".join(f"{v:.1f}" for v in m["loadavg"]) if m.get("loadavg") else "?"
    L = [f"Scoreboard of the shipped weights, generated {board['generated']} by `{board['command']}` on "
         f"{m['machine']} (load average {load}; each row's timing, machine and load are in the JSON). "
         f"Update with `{COMMAND}`: only weights whose file changed are evaluated again.", ""]
    inp = board["input"]
    n = {d: inp["sets"][d]["n"] for d in PAIRED_SETS}
    L.append(f"| weights | model | params | Rain100L ({n['rain100L']}) Y | Rain100H ({n['rain100H']}) Y "
             f"| Outdoor-Rain sample ({n['outdoor_rain_sample']}) Y | real photos: rain ↓ | CPU s / image |")
    L.append("|---|---|---:|---|---|---|---:|---:|")
    L.append(f"| *rainy input* | | | {_cell(inp['sets']['rain100L'])} | {_cell(inp['sets']['rain100H'])} | "
             f"{_cell(inp['sets']['outdoor_rain_sample'])} | {inp['nr_real']:.2f} | |")
    for r in board["rows"]:
        name = f"`{r['weights']}`" + (" (experiment)" if r["experiment"] else "")
        model = r["arch"] + (f" x{r['scale']} (LR input)" if r.get("scale", 1) > 1 else "")
        sc = r.get("scale", 1)
        L.append(f"| {name} | {model} | {r['params']:,} | {_cell(r['sets']['rain100L'], True, sc)} | "
                 f"{_cell(r['sets']['rain100H'], True, sc)} | {_cell(r['sets']['outdoor_rain_sample'], True, sc)} | "
                 f"{_nr_cell(r, inp)} | {r['cpu_seconds_per_image']:.2f} |")
    for c in board["comparisons"]:
        sp = f"{c['cpu_seconds_per_image']:.2f}" if c.get("cpu_seconds_per_image") else ""
        L.append(f"| *{c['label']}* | | | {_cell(c['sets'].get('rain100L'))} | {_cell(c['sets'].get('rain100H'))} | "
                 f"{_cell(c['sets'].get('outdoor_rain_sample'))} | | {sp} |")
    for p in board["papers"]:
        L.append(f"| *{p['label']}* | {p['arch']} | | {_paper_cell(p, 'rain100L')} | {_paper_cell(p, 'rain100H')} | "
                 f"{_paper_cell(p, 'outdoor_rain_sample')} | | |")
    if board.get("pending"):
        L.append("")
        L.append("Not evaluated yet (no complete subset in the cache; the same command continues where it stopped): "
                 + ", ".join(f"`{n}`" for n in board["pending"]) + ".")
    L.append("")
    rec = board["recommended"]
    L.append(f"Recommended: real photos **`{rec['real_photos']}`**, heavy rain **`{rec['heavy']}`**, light rain "
             f"**`{rec['light']}`**" + (" (no weight is at or above the input on both sets: fallback)"
                                         if rec.get("fallback") else "") + ".")
    L.append(f"Rule: {board['recommended_rule']}")
    L.append("")
    L.append("PSNR (dB) / SSIM on the Y channel (MATLAB `rgb2ycbcr`, BT.601); RGB figures in the JSON and below. "
             "*real photos: rain* = no-reference rain measure (`derain_lib.nr_quality.rain_residual`, rain_excess, "
             "lower = less visible rain) mean over the "
             f"{len(inp['nr_per_image'])} photos of `real_rainy/`, each downscaled to at most 1 MP "
             "first (`msnet-semi` saw 9 of them unlabelled in training; the mean over the 4 held out is "
             "`nr_real_heldout` in the JSON). *CPU s / image*: CPU time of the model call on the 481x321 Rain100 "
             f"images with {board['machine']['threads']} torch thread(s) (for SR models on the LR input; wall-clock "
             "seconds and the load average of every row are in the JSON). Rows marked `n=..., every5` (every 5th "
             "image in sorted order; every20: every 20th) were scored on a fixed subset because the model is slow "
             "on this CPU; the input on those images is given beside them. "
             "SR rows (x2/x4) get the rainy image bicubic-downsampled and are scored at full resolution; their "
             "input is that LR image bicubic-upsampled (given beside them), not the rainy input row. Paper rows are figures we did not run "
             "(sources in `derain_lib/weights/scoreboard.json`, `papers`).")
    mixed = timing_machines_note(board)
    if mixed:
        L.append("")
        L.append(mixed)
    L.append("")
    L.append("RGB PSNR / SSIM:")
    L.append("")
    L.append("| weights | Rain100L | Rain100H | Outdoor-Rain sample |")
    L.append("|---|---|---|---|")
    L.append(f"| *rainy input* | {_cell(inp['sets']['rain100L'], False)} | {_cell(inp['sets']['rain100H'], False)} | "
             f"{_cell(inp['sets']['outdoor_rain_sample'], False)} |")
    for r in board["rows"]:
        sc = r.get("scale", 1)
        L.append(f"| `{r['weights']}` | {_cell(r['sets']['rain100L'], False, sc)} | "
                 f"{_cell(r['sets']['rain100H'], False, sc)} | {_cell(r['sets']['outdoor_rain_sample'], False, sc)} |")
    for c in board["comparisons"]:
        L.append(f"| *{c['label']}* | {_cell(c['sets'].get('rain100L'), False)} | "
                 f"{_cell(c['sets'].get('rain100H'), False)} | {_cell(c['sets'].get('outdoor_rain_sample'), False)} |")
    return "\n".join(L) + "\n"


def _spread(ys: list[float], gap: float) -> list[float]:
    """Label heights near ``ys`` at least ``gap`` apart (in the order of ys), as close to ys as that allows."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    for k in range(1, len(order)):
        i, j = order[k], order[k - 1]
        out[i] = max(out[i], out[j] + gap)
    return out


def plot(board: dict[str, Any], path: str | Path) -> Path:
    """Y-PSNR on rain100L and rain100H against CPU seconds per image (log x); one labelled point per weight, the
    input as a dashed line, the papers' / authors' figures as horizontal lines (no time known) in the legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"drn": "tab:blue", "msnet": "tab:orange", "dsen": "tab:green", "sdsen": "tab:olive",
              "derain_sr": "tab:purple"}
    paper_colors = ["firebrick", "darkmagenta", "darkgoldenrod", "teal", "saddlebrown", "crimson"]
    fig, axes = plt.subplots(1, 2, figsize=(16, 8.5))
    times = [r["cpu_seconds_per_image"] for r in board["rows"] if r["cpu_seconds_per_image"]]
    lo, hi = (min(times) / 2, max(times) * 6) if times else (0.1, 10)
    for ax, d in zip(axes, SUBSET_SETS):
        inp = board["input"]["sets"][d]["psnr_y"]
        ax.axhline(inp, ls="--", color="gray", lw=1.3, label=f"rainy input: {inp:.2f}")
        ys = [inp]
        pts = []
        for r in board["rows"]:
            s = r["sets"][d]
            x, y = r["cpu_seconds_per_image"], s["psnr_y"]
            ys.append(y)
            sr = r.get("scale", 1) > 1
            c = colors.get(r["arch"], "k")
            ax.scatter([x], [y], s=70, marker="s" if sr else "o", facecolors="none" if r["experiment"] else c,
                       edgecolors=c, linewidths=1.6, zorder=3)
            lab = r["weights"] + (" (exp.)" if r["experiment"] else "") + (" [LR input]" if sr else "")
            if s["subset"] != "all":
                lab += f" [n={s['n']}]"
            pts.append((x, y, lab))
        for k, p in enumerate(p for p in board["papers"] if d in p["sets"]):
            v = p["sets"][d]["psnr_y"]
            ys.append(v)
            ax.axhline(v, ls=":" if p["kind"] == "paper" else "-.", lw=1.4, color=paper_colors[k % len(paper_colors)],
                       label=f"{p['label']}: {v:.2f}")
        y0, y1 = min(ys) - 1.5, max(ys) + 1.5
        ax.set_ylim(y0, y1)
        # labels: to the right of each point, nudged apart within groups of nearby x (log scale)
        pts.sort(key=lambda t: t[0])
        groups: list[list[tuple[float, float, str]]] = []
        for t in pts:
            if groups and np.log10(t[0]) - np.log10(groups[-1][-1][0]) < 0.35:
                groups[-1].append(t)
            else:
                groups.append([t])
        for g in groups:
            ly = _spread([t[1] for t in g], (y1 - y0) * 0.045)
            for (x, y, lab), yy in zip(g, ly):
                ax.annotate(lab, (x, y), xytext=(x * 1.12, yy), fontsize=8.5, va="center",
                            arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5") if abs(yy - y) > 1e-9 else None)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        n = board["input"]["sets"][d]["n"]
        ax.set_title(f"{d} ({n} pairs): Y-PSNR vs CPU time per image", fontsize=11)
        ax.set_xlabel(f"CPU seconds per 481x321 image, {board['machine']['threads']} torch thread(s), log scale")
        ax.set_ylabel("Y-PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8.5, ncol=1, frameon=False)
    m = board["machine"]
    where = ("CPU times from more than one machine (the table's note says which)" if timing_machines_note(board)
             else m["machine"])
    fig.suptitle(f"Shipped weights, {board['generated']}, {where}.\nFilled: shipped, hollow: experiment, "
                 "square: joint derain+SR (bicubic-downsampled input, scored at full size); [n=..]: a fixed subset (its own "
                 "input in the table).\nLines: rainy input on the whole set (dashed); papers' tables (dotted) and the "
                 "authors' released weights (dash-dot), no time known.",
                 fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(board: dict[str, Any], json_path: str | Path = JSON_PATH, md_path: str | Path = MD_PATH,
          png_path: str | Path | None = PNG_PATH, readme_path: str | Path | None = README_PATH) -> list[Path]:
    out = []
    jp = Path(json_path)
    jp.parent.mkdir(parents=True, exist_ok=True)
    jp.write_text(json.dumps(to_json(board), indent=1) + "\n")
    out.append(jp)
    mp = Path(md_path)
    mp.parent.mkdir(parents=True, exist_ok=True)
    md = to_markdown(board)
    mp.write_text(md)
    out.append(mp)
    if png_path:
        out.append(plot(board, png_path))
    if readme_path is not None and embed_readme(md, readme_path):
        out.append(Path(readme_path))
    return out


README_BEGIN, README_END = "<!-- scoreboard:begin -->", "<!-- scoreboard:end -->"


def embed_readme(markdown: str, readme_path: str | Path) -> bool:
    """Paste ``markdown`` between the README's scoreboard markers (so the README's table is the generated one,
    never typed).  Returns False, changing nothing, when the file or its markers are missing."""
    rp = Path(readme_path)
    if not rp.exists():
        return False
    text = rp.read_text()
    i, j = text.find(README_BEGIN), text.find(README_END)
    if i < 0 or j < i:
        return False
    rp.write_text(text[:i + len(README_BEGIN)] + "\n" + markdown.strip() + "\n" + text[j:])
    return True
