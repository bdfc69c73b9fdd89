"""Derain Lab web demo (Gradio 6): derain, compare models, measure, synthesize rain, heavy rain + SR.

    python demo_app.py                      # http://127.0.0.1:7860, CPU unless a GPU is present
    python demo_app.py --port 8080 --max-size 8 --device cpu
    python demo_app.py --weights runs/my-drn.safetensors   # your own weights next to the shipped ones

Tabs
    Derain      upload a rainy photo (or pick an example), choose one or several of the shipped models, see each
                result against the input with a before/after slider, its run time, a lossless PNG download, and
                the stage-by-stage outputs of multi-stage models.
    Measure     upload the clean reference of the same photo: PSNR/SSIM on the Y channel (BT.601, the convention
                of the deraining papers) and on RGB, for the input and every model's output.
    Synthesize  add rain to a clean photo with sliders (angle, density, length, haze), derain it, and measure
                against the known clean photo.
    Heavy rain + SR   the joint deraining + super-resolution model (x2/x4) against bicubic upsampling.

This file only wires the user interface. Reading images, rain synthesis, inference (with tiling) and metrics
all live in ``derain_lib``; every event has an explicit ``api_name`` so the app is scriptable with
``gradio_client`` (see tests/test_demo.py). ``launch()`` runs only under ``__main__``: ``build_demo()`` returns
the ``gr.Blocks`` for tests and for embedding.
"""
from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import html
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local demo does not phone home

import gradio as gr  # noqa: E402
import numpy as np
from PIL import Image

from derain_lib import bench, checkpoint
from derain_lib import examples as ex
from derain_lib import infer, metrics, rain
from derain_lib import io as dio
from derain_lib.paths import WEIGHTS_DIR

# ----------------------------------------------------------------------------------------------------------------
# Settings
DEFAULT_MAX_MEGAPIXELS = 16.0    # per-request limit: larger uploads are refused with a message (--max-size)
DEFAULT_WORK_MEGAPIXELS = 1.0    # above this, images are downscaled (with a visible note) unless "full resolution"
TILE = 512                       # tile size (pixels) for images larger than TILE_ABOVE pixels
TILE_ABOVE = 768 * 768
OVERLAP = 32
STAGES_MAX_PIXELS = 768 * 768    # stage-by-stage outputs need one untiled forward: only for images up to this size
RESULT_CACHE = 48                # (image, model, mode) -> output, so Measure reuses what Derain computed
QUEUE_SIZE = 16
SCOREBOARD_FILE = WEIGHTS_DIR / "scoreboard.json"   # quality figures (python -m derain_lib scoreboard --write)
LATENCY_FILE = WEIGHTS_DIR / "latency.json"         # measured seconds (python -m derain_lib bench --write)
FALLBACK_DEFAULT = "msnet-semi"  # preselected when the scoreboard names no model for real photos
RECOMMENDED_TAGS = {"real_photos": "recommended for real photos", "heavy": "best on heavy rain (Rain100H)",
                    "light": "best on light rain (Rain100L)"}
SCORE_SETS = (("rain100L", "Rain100L"), ("rain100H", "Rain100H"))

METRIC_HEADERS = ["image", "PSNR Y (dB)", "SSIM Y", "PSNR RGB (dB)", "SSIM RGB"]
METRIC_NOTE = (
    "**Y** = luma of BT.601 YCbCr (MATLAB `rgb2ycbcr`, 16-235), the convention of the deraining papers; "
    "**RGB** = over the three channels on 0-255. Higher is better; SSIM is at most 1."
)

CSS = """
.derain-note {font-size: 0.95em}
.derain-warn {border-left: 4px solid #d97706; padding: 0.4em 0.8em; background: rgba(217,119,6,0.08)}
footer {display: none !important}
#model-table table {border-collapse: collapse; width: 100%; font-size: 0.9em}
#model-table th, #model-table td {padding: 0.25em 0.5em; border-bottom: 1px solid rgba(128,128,128,0.25);
                                  text-align: left; vertical-align: top}
#model-table td.num, #model-table th.num {text-align: right; white-space: nowrap}
#model-table td:first-child {white-space: nowrap}
#model-table th.for {width: 45%}
#model-table tr.chosen td {background: rgba(99,102,241,0.08)}
#model-table .tag {display: inline-block; font-size: 0.8em; padding: 0 0.4em; margin-left: 0.3em;
                   border-radius: 0.6em; background: rgba(22,163,74,0.15)}
#model-table .tag.exp {background: rgba(217,119,6,0.18)}
#model-table .caption {font-size: 0.8em; opacity: 0.8; margin-top: 0.3em}
"""


def launch_kwargs() -> dict[str, Any]:
    """Appearance and upload limits for ``launch()`` (Gradio 6 takes theme/css there, not in ``gr.Blocks``)."""
    # (tests/test_browser.py checks that the page then fetches nothing from outside this machine)
    return dict(theme=gr.themes.Soft(), css=CSS, max_file_size="64mb", show_error=True)


# ----------------------------------------------------------------------------------------------------------------
# Models: loaded once, cached
class ModelBank:
    """The shipped weights (``checkpoint.list_weights()``) plus optional in-memory models, each loaded once.

    ``extra`` maps display names to ready ``nn.Module`` objects (tests use a tiny untrained model when no
    weights are shipped). Metadata is read from the safetensors header without loading tensors.
    """

    def __init__(self, weights: list[str] | None = None, extra: dict[str, Any] | None = None,
                 device: str = "auto"):
        self.device = checkpoint.resolve_device(device)
        self.weights = list(checkpoint.list_weights() if weights is None else weights)
        self._models: dict[str, Any] = {}
        self._meta: dict[str, dict] = {}
        self._lock = threading.Lock()
        for name in self.weights:
            try:
                self._meta[name] = checkpoint.read_metadata(checkpoint.weights_path(name))
            except Exception as err:  # a broken file must not take the demo down: list it as unusable
                self._meta[name] = {"arch": "?", "config": {}, "info": {}, "error": str(err)}
            self._meta[name]["sidecar"] = _read_sidecar(name)
        for name, model in (extra or {}).items():
            model = model.to(self.device).eval()
            self._models[name] = model
            self._meta[name] = {"arch": getattr(model, "arch", type(model).__name__),
                                "config": {}, "info": {"note": "in-memory model"}, "sidecar": {},
                                "in_memory": True}

    @property
    def names(self) -> list[str]:
        return [n for n in self._meta if "error" not in self._meta[n]]

    def arch(self, name: str) -> str:
        return self._meta[name]["arch"]

    def scale(self, name: str) -> int:
        cfg = self._meta[name].get("config", {})
        if name in self._models:
            return int(getattr(self._models[name], "scale", 1))
        return int(cfg.get("scale", 2 if self.arch(name) == "derain_sr" else 1))

    def is_sr(self, name: str) -> bool:
        return self.arch(name) == "derain_sr" or self.scale(name) > 1

    @property
    def derain_names(self) -> list[str]:
        return [n for n in self.names if not self.is_sr(n)]

    @property
    def sr_names(self) -> list[str]:
        return [n for n in self.names if self.is_sr(n)]

    @property
    def broken(self) -> dict[str, str]:
        return {n: m["error"] for n, m in self._meta.items() if "error" in m}

    def get(self, name: str):
        with self._lock:
            if name not in self._models:
                if name not in self._meta:
                    raise _user_error(f"Unknown model {name!r}. Available: {', '.join(self.names) or 'none'}.")
                self._models[name] = checkpoint.load_model(name, device=self.device)
            return self._models[name]

    def info(self, name: str) -> dict:
        """What is known about a weight: the file's stored info, overridden by its JSON sidecar (``NAME.json``)."""
        meta = self._meta[name]
        return {**(meta.get("info") or {}), **(meta.get("sidecar") or {})}

    def is_experiment(self, name: str) -> bool:
        """Sidecar ``"experiment"`` set: weights trained for an experiment (e.g. ``*_narrow20``), not for photos."""
        return bool(self.info(name).get("experiment"))

    def label(self, name: str) -> str:
        """Display name: the weight name, or the file name of a user's ``--weights FILE``."""
        return Path(name).stem if name.endswith(".safetensors") else name

    def is_user_file(self, name: str) -> bool:
        return name.endswith(".safetensors")

    def config(self, name: str) -> dict:
        return self._meta[name].get("config") or {}

    def purpose(self, name: str) -> str:
        """One line on what the weight is for: the sidecar's ``purpose``, else the first clause of its summary."""
        info = self.info(name)
        text = str(info.get("purpose") or "").strip()
        if not text:
            text = re.split(r"[:;]\s", str(info.get("summary") or "").strip(), maxsplit=1)[0].strip()
        if not text:
            if self._meta[name].get("in_memory"):
                text = "in-memory model (for trying the page)"
            else:
                text = f"architecture {self.arch(name)}" + (" (your weights file)" if self.is_user_file(name) else "")
        return text if len(text) <= 140 else text[:137].rstrip() + "..."

    def describe(self, name: str) -> str:
        """One line for the page: architecture, the trainer's summary, data, steps and evaluation figures."""
        info = self._meta[name].get("info", {}) or {}
        bits = [f"architecture `{self.arch(name)}`"]
        if info.get("summary"):
            bits.append(str(info["summary"]))
        if info.get("data"):
            bits.append(f"trained on {info['data']}")
        if info.get("steps"):
            bits.append(f"{info['steps']} steps")
        for ds, m in (info.get("eval") or {}).items():
            try:
                bits.append(f"{ds}: {float(m['output_psnr_y']):.2f} dB Y-PSNR (rainy input "
                            f"{float(m['input_psnr_y']):.2f})")
            except (KeyError, TypeError, ValueError):
                continue
        return "; ".join(bits)


def _read_sidecar(name: str) -> dict:
    """The JSON next to a weight file (``NAME.json``: written by ``train``), or {} when absent or unreadable."""
    try:
        path = checkpoint.weights_path(name).with_suffix(".json")
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_scoreboard(path: str | Path | None = SCOREBOARD_FILE) -> dict | None:
    """``scoreboard.json`` (``python -m derain_lib scoreboard --write``), or None when absent or unreadable."""
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows", []), list) else None


# ----------------------------------------------------------------------------------------------------------------
# The model picker: a table (what each weight is for, expected time, scoreboard figures) + a selection control
class Picker:
    """Rows and HTML of the Derain tab's model table; pure functions of the bank, latency.json and scoreboard."""

    def __init__(self, bank: ModelBank, latency: dict | None, scoreboard: dict | None):
        self.bank, self.latency, self.board = bank, latency, scoreboard
        rows = (scoreboard or {}).get("rows") or []
        self.scores = {r.get("weights"): r for r in rows if isinstance(r, dict)}
        rec = (scoreboard or {}).get("recommended") or {}
        self.tags: dict[str, list[str]] = {}
        for key, text in RECOMMENDED_TAGS.items():
            if rec.get(key):
                self.tags.setdefault(rec[key], []).append(text)
        self.default = self._default(rec.get("real_photos"))

    @property
    def experiments(self) -> list[str]:
        return [n for n in self.bank.derain_names if self.bank.is_experiment(n)]

    def names(self, show_experiments: bool) -> list[str]:
        return [n for n in self.bank.derain_names if show_experiments or not self.bank.is_experiment(n)]

    def choices(self, show_experiments: bool) -> list[tuple[str, str]]:
        return [(self.bank.label(n), n) for n in self.names(show_experiments)]

    def _default(self, recommended: str | None) -> str | None:
        names = self.names(False) or self.bank.derain_names
        for cand in (recommended, FALLBACK_DEFAULT):
            if cand in names:
                return cand
        return names[0] if names else None

    # -- expected time ----------------------------------------------------------------------------------------
    def latency_row(self, name: str) -> tuple[dict | None, str]:
        """(latency row, the measured weight it comes from): the weight itself, or one of the same arch + config."""
        row = bench.latency_row(self.latency, self.bank.label(name), self.bank.arch(name),
                                self.bank.config(name) or None)
        return row, (row or {}).get("weights", "")

    def expected(self, name: str, pixels: int | None) -> str:
        """'1.2 s' for ``pixels`` (None: the measured sizes), or 'n/a' (no latency.json / not measured / GPU)."""
        if self.latency is None:
            return "n/a"
        if self.bank.device.type != "cpu" and "no GPU" in str(self.latency.get("machine", "")):
            return "n/a (measured on CPU)"
        row, source = self.latency_row(name)
        if row is None:
            return "n/a"
        as_ = f" (as {source})" if source != name else ""
        if pixels is None:
            secs = [row["seconds"].get(k) for k in self.latency["sizes"]]
            return " / ".join("n/a" if t is None else _secs(t) for t in secs) + as_
        t = bench.expected_seconds(self.latency, row, pixels)
        return ("n/a" if t is None else _secs(t)) + as_

    # -- scoreboard ---------------------------------------------------------------------------------------------
    def score(self, name: str, set_name: str) -> str:
        r = (self.scores.get(name) or {}).get("sets", {}).get(set_name)
        try:
            text = f"{float(r['psnr_y']):.2f}"
        except (TypeError, KeyError, ValueError):
            return "n/a"
        n, of = r.get("n"), r.get("of")
        if n and of and n < of:
            text += f" ({n}/{of})"
        return text

    def input_score(self, set_name: str) -> str | None:
        try:
            return f"{float(self.board['input']['sets'][set_name]['psnr_y']):.2f}"
        except (TypeError, KeyError, ValueError):
            return None

    # -- the table ------------------------------------------------------------------------------------------------
    def rows(self, show_experiments: bool, pixels: int | None = None) -> list[dict]:
        out = []
        for n in self.names(show_experiments):
            tags = list(self.tags.get(n, []))
            if self.bank.is_experiment(n):
                tags.append("experiment")
            out.append({"name": n, "label": self.bank.label(n), "arch": self.bank.arch(n),
                        "for": self.bank.purpose(n), "tags": tags, "expected": self.expected(n, pixels),
                        **{key: self.score(n, key) for key, _ in SCORE_SETS}, "describe": self.bank.describe(n)})
        return out

    def html(self, show_experiments: bool, size: tuple[int, int] | None = None, chosen=(),
             pixels: int | None = None) -> str:
        """The table for the photo at hand: ``size`` = the (W, H) it is processed at (None before a photo is
        chosen), ``pixels`` = the pixels the models see (more than W*H when tiled; default W*H)."""
        if size and pixels is None:
            pixels = size[0] * size[1]
        rows = self.rows(show_experiments, pixels)
        if not rows:
            return "<div id='model-table-empty'><em>No deraining models to list.</em></div>"
        e = html.escape
        if size:
            t_sub = f"this photo ({size[0]}x{size[1]})"
        elif self.latency is None:
            t_sub = ""
        else:
            t_sub = "at " + " / ".join(k.replace("MP", " MP") for k in self.latency["sizes"])
        heads = [f"expected time<br><small>{e(t_sub)}</small>"]
        for key, title in SCORE_SETS:
            inp = self.input_score(key)
            heads.append(f"{title}<br><small>Y-PSNR" + (f", input {inp}" if inp else "") + "</small>")
        lines = ["<table><thead><tr><th>model</th><th class='for'>what it is for</th>"
                 + "".join(f"<th class='num'>{h}</th>" for h in heads) + "</tr></thead><tbody>"]
        for r in rows:
            tags = "".join(f"<span class='tag{' exp' if t == 'experiment' else ''}'>{e(t)}</span>" for t in r["tags"])
            cls = " class='chosen'" if r["name"] in (chosen or ()) else ""
            lines.append(f"<tr{cls} data-model='{e(r['name'])}' title='{e(r['describe'])}'>"
                         f"<td><code>{e(r['label'])}</code></td><td>{e(r['for'])}{tags}</td>"
                         f"<td class='num'>{e(r['expected'])}</td>"
                         + "".join(f"<td class='num'>{e(r[key])}</td>" for key, _ in SCORE_SETS) + "</tr>")
        lines.append("</tbody></table>")
        lines.append(f"<div class='caption'>{self.caption()}</div>")
        return "".join(lines)

    def caption(self) -> str:
        e = html.escape
        if self.latency is None:
            t = "No <code>latency.json</code> yet (<code>python -m derain_lib bench --write</code>): no expected times."
        else:
            la = (self.latency.get("load_avg") or {}).get("before")
            t = (f"Expected times: measured with <code>python -m derain_lib bench</code> on "
                 f"{e(str(self.latency.get('machine', '?')))}, {e(str(self.latency.get('threads', '?')))} threads"
                 + (f", load {la[0]:.1f}" if la else "") + f" ({e(str(self.latency.get('date', '')))}), scaled "
                 "by megapixels to the size that is processed; your machine will differ.")
        if self.board is None:
            q = "No <code>scoreboard.json</code> yet (<code>python -m derain_lib scoreboard --write</code>): no scores."
        else:
            q = ("Y-PSNR in dB (BT.601 luma, as in the papers) from the scoreboard"
                 + (f" of {e(str(self.board.get('generated')))}" if self.board.get("generated") else "")
                 + "; (n/100) = scored on a subset. Hover a row for the training details.")
        return t + " " + q


def _secs(t: float) -> str:
    return f"{t:.2f} s" if t < 10 else f"{t:.0f} s"


# ----------------------------------------------------------------------------------------------------------------
# Small helpers (UI plumbing only)
def _user_error(message: str, **kw) -> gr.Error:
    """An error shown in the page; expected (bad input), so no server-side traceback."""
    return gr.Error(message, print_exception=False, **kw)


def _user_errors(fn: Callable) -> Callable:
    """Turn library errors into a readable message in the page (``gr.Error``); the app keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except dio.ImageError as err:
            raise _user_error(f"Cannot use this image: {err}", title="Image error") from err
        except (ValueError, FileNotFoundError, KeyError) as err:
            raise _user_error(str(err)) from err
        except MemoryError as err:
            raise gr.Error("Out of memory on this image: try a smaller one, or leave 'full resolution' off.") from err
        except Exception as err:  # pragma: no cover - unexpected: show it rather than an anonymous failure
            traceback.print_exc()
            raise gr.Error(f"Unexpected error ({type(err).__name__}): {err}") from err

    return wrapper


def _image_input(label: str, **kw) -> gr.Image:
    """An upload box that hands the *original file* to ``derain_lib.io.read_image``.

    ``type="filepath"`` with ``image_mode=None`` keeps Gradio from converting the upload (which would drop
    16-bit depth and alpha handling choices); Gradio still opens the file with PIL first, so a non-image or
    corrupt upload is turned into a readable ``gr.Error`` here instead of an anonymous failure.
    """
    comp = gr.Image(label=label, type="filepath", image_mode=None, format="png",
                    sources=["upload", "clipboard"], **kw)
    original = comp.preprocess

    def preprocess(payload):
        try:
            return original(payload)
        except gr.Error:
            raise
        except Exception as err:
            name = getattr(payload, "orig_name", None) or "the uploaded file"
            detail = str(err).replace(str(getattr(payload, "path", None) or "\0"), name)
            raise _user_error(f"{name} is not an image this demo can read ({detail}). "
                              "Use PNG, JPEG, BMP, TIFF or WebP.", title="Image error") from err

    comp.preprocess = preprocess
    return comp


def _safe_name(text: str) -> str:
    """A file-name-safe version of ``text`` (download names)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"


def _digest(img: np.ndarray) -> str:
    return hashlib.sha1(img.tobytes() + str(img.shape).encode()).hexdigest()


def _fmt(x: float, nd: int) -> float | str:
    return "inf" if math.isinf(x) else round(float(x), nd)


def _metric_row(label: str, pred: np.ndarray, ref: np.ndarray) -> list:
    return [label,
            _fmt(metrics.psnr(pred, ref, y_channel=True), 2), _fmt(metrics.ssim(pred, ref, y_channel=True), 4),
            _fmt(metrics.psnr(pred, ref, y_channel=False), 2), _fmt(metrics.ssim(pred, ref, y_channel=False), 4)]


def _resize(img: np.ndarray, size: tuple[int, int], method: str = "lanczos") -> np.ndarray:
    """Resize a uint8 RGB image to ``size`` = (W, H) (Lanczos to shrink, bicubic for the SR baseline)."""
    resize = getattr(dio, "resize", None)
    if resize is not None:  # prefer the library's when it has one
        return resize(img, size, method=method)
    m = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC, "area": Image.BOX}[method]
    return np.asarray(Image.fromarray(img).resize(size, m))


class Results:
    """LRU cache of model outputs: ``(image digest, model, mode) -> (output, seconds, stages)``."""

    def __init__(self, size: int = RESULT_CACHE):
        self.size = size
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


# ----------------------------------------------------------------------------------------------------------------
# The app
class DerainApp:
    """Event handlers; one instance per ``build_demo`` call."""

    def __init__(self, bank: ModelBank, max_pixels: int, work_pixels: int):
        self.bank = bank
        self.max_pixels = int(max_pixels)
        self.work_pixels = int(work_pixels)
        self.results = Results()
        self.tmp_root = Path(tempfile.mkdtemp(prefix="derain_demo_"))  # PNG downloads; removed at exit
        atexit.register(shutil.rmtree, self.tmp_root, True)

    # -- reading and sizing ------------------------------------------------------------------------------------
    def read(self, src, what: str = "image") -> np.ndarray:
        if src is None or (isinstance(src, str) and not src):
            raise _user_error(f"Please upload {what} first (or pick an example).")
        try:
            return dio.read_image(src, max_pixels=self.max_pixels)
        except dio.ImageError as err:  # name the user's file, not Gradio's temporary copy of it
            msg = str(err).replace(str(src), Path(str(src)).name)
            if "over the limit" in msg:
                msg += " (this demo's per-image limit; start it with --max-size to change it)"
            raise dio.ImageError(msg) from None

    def work_size(self, w: int, h: int, full_res: bool) -> tuple[int, int]:
        """(W, H) that a ``w`` x ``h`` photo is processed at: downscaled to the working size unless ``full_res``."""
        if full_res or h * w <= self.work_pixels:
            return w, h
        s = math.sqrt(self.work_pixels / (h * w))
        return max(8, int(w * s)), max(8, int(h * s))

    def processed_pixels(self, w: int, h: int) -> int:
        """Pixels the models see for a ``w`` x ``h`` working image: tiles overlap, so tiling costs a little more."""
        if h * w <= TILE_ABOVE:
            return w * h
        ny = len(infer._starts(h, TILE, TILE - OVERLAP))
        nx = len(infer._starts(w, TILE, TILE - OVERLAP))
        return ny * min(TILE, h) * nx * min(TILE, w)

    def photo_work_size(self, payload, full_res: bool) -> tuple[int, int] | None:
        """(W, H) at which the chosen photo (a raw upload payload or a path) will be processed; None if unknown."""
        path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", payload)
        if not path:
            return None
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # not an image: the Derain button says so
            return None
        return self.work_size(w, h, full_res)

    def fit(self, img: np.ndarray, full_res: bool) -> tuple[np.ndarray, str]:
        """Downscale to the working size unless ``full_res``; return the image and a note for the page."""
        h, w = img.shape[:2]
        size = self.work_size(w, h, full_res)
        if size == (w, h):
            return img, ""
        note = (f"The photo is {w}x{h} ({h * w / 1e6:.1f} MP); it was downscaled to {size[0]}x{size[1]} for speed. "
                "Tick *Full resolution (tiled)* to process every pixel.")
        return _resize(img, size), note

    # -- running one model ---------------------------------------------------------------------------------------
    def run(self, name: str, img: np.ndarray, stages: bool = False):
        """(output uint8, seconds, [(stage image, caption)], how). Tiled when large; cached."""
        h, w = img.shape[:2]
        tile = TILE if h * w > TILE_ABOVE else 0
        digest = _digest(img)
        hit = self.results.get((digest, name))
        cached = hit is not None
        if hit is None:
            model = self.bank.get(name)
            t0 = time.perf_counter()
            out = infer.derain(img, model, tile=tile, overlap=OVERLAP, max_pixels=self.max_pixels)
            secs = time.perf_counter() - t0
            hit = (out, secs, f"{TILE} px tiles, {OVERLAP} px overlap" if tile else "whole image")
            self.results.put((digest, name), hit)
        out, secs, how = hit
        if cached:
            how += " (cached: time of the first run)"
        stage_list: list = []
        if stages and h * w <= STAGES_MAX_PIXELS:  # one extra untiled pass, for display only
            st = self.results.get((digest, name, "stages"))
            if st is None:
                try:
                    st = infer.stage_outputs(img, self.bank.get(name))
                except (ValueError, TypeError):  # single-stage model, or intermediates that are not images
                    st = []
                self.results.put((digest, name, "stages"), st)
            stage_list = [(im, f"stage {i + 1}") for i, im in enumerate(st)]
        return out, secs, stage_list, how

    def save_png(self, img: np.ndarray, stem: str) -> str:
        self._cleanup()
        d = Path(tempfile.mkdtemp(dir=self.tmp_root))
        path = d / f"{stem}.png"
        dio.save_image(img, path)
        return str(path)

    def _cleanup(self, age_s: float = 3600):
        now = time.time()
        for d in self.tmp_root.iterdir():
            if now - d.stat().st_mtime > age_s:
                shutil.rmtree(d, ignore_errors=True)

    def _selected(self, names, allowed: list[str]) -> list[str]:
        names = [names] if isinstance(names, str) else list(names or [])
        bad = [n for n in names if n not in allowed]
        if bad:
            raise _user_error(f"Unknown model(s) {bad}. Available: {', '.join(allowed) or 'none'}.")
        return names

    # -- Derain tab ---------------------------------------------------------------------------------------------
    def derain(self, src, names, full_res: bool, show_stages: bool):
        names = self._selected(names, self.bank.derain_names)
        if not self.bank.derain_names:
            raise _user_error("No trained deraining weights are shipped yet, so there is nothing to run here. "
                              "The Synthesize tab still adds rain and measures it.")
        if not names:
            raise _user_error("Choose at least one model.")
        img = self.read(src, "a rainy photo")
        work, note = self.fit(img, full_res)
        stem = _safe_name(Path(src).stem if isinstance(src, str) else "image")
        rows, sliders, gallery, files = [], {}, [], []
        for name in names:
            out, secs, stages, how = self.run(name, work, show_stages)
            sliders[name] = (work, out, secs)
            files.append(self.save_png(out, f"{stem}_{_safe_name(name)}"))
            gallery += [(im, f"{name}: {lab}") for im, lab in stages]
            rows.append(f"| `{name}` | {secs:.2f} s | {out.shape[1]}x{out.shape[0]} | {how} |")
        h, w = work.shape[:2]
        md = [f"**Input** {img.shape[1]}x{img.shape[0]}" + (f", processed at {w}x{h}" if note else "")
              + f" on `{self.bank.device}`."]
        if note:
            md.append(f"> {note}")
        md += ["", "| model | run time | output | how |", "|---|---|---|---|", *rows]
        if show_stages and not gallery:
            md.append("\n*No stage outputs: the chosen models are single-stage, or the image is larger than "
                      f"{STAGES_MAX_PIXELS / 1e6:.2f} MP (stages need one untiled pass).*")
        # plain values (not component updates) so that API clients get (before, after) pairs; the sliders'
        # visibility follows the model choice through a separate, private event.
        pairs = [(sliders[n][0], sliders[n][1]) if n in sliders else None for n in self.bank.derain_names]
        return ["\n".join(md), *pairs, gallery or None, files]

    # -- Measure tab --------------------------------------------------------------------------------------------
    def measure(self, src, ref_src, names, full_res: bool):
        names = self._selected(names, self.bank.derain_names)
        img = self.read(src, "the rainy photo (in the Derain tab)")
        ref = self.read(ref_src, "the clean reference")
        if ref.shape != img.shape:
            raise _user_error(f"The reference is {ref.shape[1]}x{ref.shape[0]} but the rainy photo is "
                              f"{img.shape[1]}x{img.shape[0]}: they must be the same picture at the same size.")
        work, note = self.fit(img, full_res)
        if work.shape != img.shape:
            ref = _resize(ref, (work.shape[1], work.shape[0]))
        rows = [_metric_row("input (rainy)", work, ref)]
        for name in names:
            out, _, _, _ = self.run(name, work)
            rows.append(_metric_row(name, out, ref))
        md = METRIC_NOTE
        if note:
            md += f"\n\n> {note} The reference was downscaled the same way."
        if not names:
            md += "\n\n*No model chosen (or none shipped): only the input is measured.*"
        return rows, md

    # -- Synthesize tab -----------------------------------------------------------------------------------------
    def add_rain(self, src, angle, density, length, layers, haze, seed):
        """Rain over a clean photo; ``density`` is in drops per 1000 pixels (``rain.add_rain`` takes a fraction)."""
        clean = self.read(src, "a clean photo")
        clean, note = self.fit(clean, False)
        rainy = rain.add_rain(clean, angle=float(angle), density=float(density) / 1000.0, length=float(length),
                              layers=int(layers), haze=float(haze), seed=int(seed or 0))
        return rainy, clean, note

    def preview_rain(self, src, angle, density, length, layers, haze, seed):
        """Only the rainy image (to tune the sliders quickly)."""
        return self.add_rain(src, angle, density, length, layers, haze, seed)[0]

    def synthesize(self, src, angle, density, length, layers, haze, seed, names):
        names = self._selected(names, self.bank.derain_names)
        rainy, clean, note = self.add_rain(src, angle, density, length, layers, haze, seed)
        rows = [_metric_row("rainy input", rainy, clean)]
        outs = {}
        for name in names:
            out, secs, _, _ = self.run(name, rainy)
            outs[name] = (rainy, out)
            rows.append(_metric_row(name, out, clean) + [f"{secs:.2f}"])
        rows[0].append("")
        updates = [outs.get(n) for n in self.bank.derain_names]
        md = METRIC_NOTE + (f"\n\n> {note}" if note else "")
        if not self.bank.derain_names:
            md += "\n\n*No trained weights are shipped yet: only the rainy input is measured.*"
        elif not names:
            md += "\n\n*No model chosen: only the rainy input is measured.*"
        return [rainy, rows, md, *updates]

    # -- Heavy rain + SR tab ------------------------------------------------------------------------------------
    def make_lr(self, src, scale):
        """A low-resolution heavy-rain test image from a clean photo, and the clean photo as HR reference."""
        s = int(str(scale).lstrip("x"))
        clean = self.read(src, "a clean photo")
        clean, _ = self.fit(clean, False)
        h, w = (clean.shape[0] // s) * s, (clean.shape[1] // s) * s
        clean = clean[:h, :w]
        lr = _resize(clean, (w // s, h // s), method="bicubic")
        rainy = rain.add_rain(lr, angle=15.0, density=0.002, length=max(8.0, 40.0 / s), layers=3,
                              brightness=0.5, haze=0.25, seed=0)
        return self.save_png(rainy, f"lr_rainy_x{s}"), self.save_png(clean, "hr_clean")

    def derain_sr(self, src, name, ref_src):
        if not self.bank.sr_names:
            raise _user_error("No joint derain + super-resolution weights (derain_sr-*) are shipped yet. Train them "
                              "with `python -m derain_lib train derain_sr ...`; this tab works as soon as the file "
                              "is in derain_lib/weights/.")
        if not name:
            raise _user_error("Choose a derain + SR model.")
        self._selected(name, self.bank.sr_names)
        img = self.read(src, "a low-resolution rainy photo")
        s = self.bank.scale(name)
        h, w = img.shape[:2]
        if h * w * s * s > self.max_pixels:
            raise _user_error(f"x{s} of {w}x{h} would be {w * s}x{h * s}, above this demo's limit of "
                              f"{self.max_pixels / 1e6:.1f} MP. Use a smaller photo.")
        out, secs, _, _ = self.run(name, img)
        bicubic = _resize(img, (out.shape[1], out.shape[0]), method="bicubic")
        md = [f"**{name}**: {w}x{h} -> {out.shape[1]}x{out.shape[0]} (x{s}) in {secs:.2f} s on `{self.bank.device}`."]
        table = None
        if ref_src:
            ref = self.read(ref_src, "the high-resolution reference")
            if ref.shape != out.shape:
                md.append(f"\n> The reference is {ref.shape[1]}x{ref.shape[0]}, the output {out.shape[1]}x"
                          f"{out.shape[0]}: not measured.")
            else:
                table = [_metric_row(f"bicubic x{s} of the rainy input", bicubic, ref), _metric_row(name, out, ref)]
                md.append("\n" + METRIC_NOTE)
        files = [self.save_png(out, f"{_safe_name(Path(src).stem)}_{_safe_name(name)}")]
        return (bicubic, out), "\n".join(md), table, files


# ----------------------------------------------------------------------------------------------------------------
def _no_weights_message(bank: ModelBank) -> str:
    lines = []
    shipped = [n for n in bank.derain_names if n in bank.weights]
    if not shipped:
        lines.append("**No trained deraining weights are shipped in `derain_lib/weights/` yet.** The Derain and "
                     "Measure tabs need them; the **Synthesize** tab still adds rain and measures the rainy image. "
                     "Train one with `python -m derain_lib train MODEL ...` (see the notebooks).")
        others = [n for n in bank.derain_names if n not in bank.weights]
        if others:
            lines.append("Offered instead (not trained on rain, for trying the page only): "
                         + ", ".join(f"`{n}`" for n in others) + ".")
    for name, err in bank.broken.items():
        lines.append(f"Weight file `{name}` could not be read and is hidden: {html.escape(err)}")
    return "\n\n".join(lines)


def build_demo(weights: list[str] | None = None, extra_models: dict[str, Any] | None = None,
               device: str = "auto", max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
               work_megapixels: float = DEFAULT_WORK_MEGAPIXELS, queue_size: int = QUEUE_SIZE,
               examples_dir: str | Path = ex.EXAMPLES_DIR, latency_file: str | Path | None = LATENCY_FILE,
               scoreboard_file: str | Path | None = SCOREBOARD_FILE) -> gr.Blocks:
    """Build the demo.

    Args:
        weights: shipped weight names to offer (default: all of ``checkpoint.list_weights()``).
        extra_models: ``{display name: nn.Module}`` of ready models to offer as well (tests, notebooks).
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
        max_megapixels: per-request limit; larger images are refused with a message.
        work_megapixels: images above this are downscaled (with a note) unless "full resolution" is ticked.
        queue_size: bound of the request queue (``queue(max_size=...)``); one job runs at a time.
        examples_dir: folder of ``NAME_rainy.png``/``NAME_clean.jpg`` pairs (``derain_lib.examples``); the Derain
            tab offers real rainy photos from the data root instead when it has them (``examples.demo_examples``).
        latency_file: ``latency.json`` of ``python -m derain_lib bench --write`` (expected times; None: none).
        scoreboard_file: ``scoreboard.json`` (Y-PSNR columns and the preselected model; None or absent: none).
    """
    bank = ModelBank(weights, extra_models, device)
    app = DerainApp(bank, int(max_megapixels * 1e6), int(work_megapixels * 1e6))
    pairs = ex.example_pairs(examples_dir)
    examples_kind, derain_examples = ex.demo_examples(examples_dir)
    app.examples_kind, app.derain_examples = examples_kind, derain_examples
    dnames, snames = bank.derain_names, bank.sr_names
    warn = _no_weights_message(bank)
    picker = Picker(bank, bench.load_latency(latency_file) if latency_file else None,
                    load_scoreboard(scoreboard_file))
    app.picker = picker
    chosen0 = [picker.default] if picker.default else []

    with gr.Blocks(title="Derain Lab", delete_cache=(3600, 3600)) as demo:
        # Created first, shown in the Measure tab: the Derain tab's examples fill it with the clean photo.
        ref_in = _image_input("Clean reference", elem_id="ref-in", height=320, render=False)
        gr.Markdown("# Derain Lab\nSingle-image rain removal: four published methods in one small library. "
                    f"Models run on `{bank.device}`; photos above {work_megapixels:g} MP are downscaled unless "
                    f"you ask for full resolution (tiled); the limit is {max_megapixels:g} MP per image.")
        if warn:
            gr.Markdown(warn, elem_classes=["derain-warn"], elem_id="no-weights")

        # ---------------------------------------------------------------- Derain
        with gr.Tab("Derain", id="derain"):
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    rain_in = _image_input("Rainy photo", elem_id="rain-in", height=320)
                    if derain_examples:
                        real = examples_kind == "real"
                        gr.Examples([[str(r)] if real else [str(r), str(c)] for r, c, _ in derain_examples],
                                    inputs=[rain_in] if real else [rain_in, ref_in],
                                    label="Examples: real rainy photos (no clean version exists; from the data "
                                          "folder, none seen in training)" if real else
                                          "Examples: synthetic rain over scikit-image photos "
                                          "(the clean photo goes to the Measure tab)",
                                    example_labels=[t for _, _, t in derain_examples], cache_examples=False,
                                    examples_per_page=8, elem_id="derain-examples")
                with gr.Column(scale=3, min_width=420):
                    picker_html = gr.HTML(picker.html(False, chosen=chosen0), elem_id="model-table",
                                          label="Models", js_on_load=None)
                    models_cb = gr.CheckboxGroup(choices=picker.choices(False), value=chosen0, label="Run these models",
                                                 info="Choose one or several; each result gets its own slider."
                                                 if dnames else "None: no trained weights are shipped yet.",
                                                 elem_id="models")
                    with gr.Row():
                        show_exp = gr.Checkbox(False, label=f"Show experiment weights ({len(picker.experiments)})",
                                               visible=bool(picker.experiments), elem_id="show-experiments")
                        full_res = gr.Checkbox(False, label="Full resolution (tiled)", elem_id="full-res")
                        show_stages = gr.Checkbox(False, label="Show stage-by-stage outputs")
                    derain_btn = gr.Button("Derain", variant="primary", elem_id="derain-btn",
                                           interactive=bool(dnames))
                    if snames:
                        gr.Markdown("Joint derain + super-resolution models (" + ", ".join(f"`{n}`" for n in snames)
                                    + ") are in the **Heavy rain + SR** tab.", elem_classes=["derain-note"])
            derain_md = gr.Markdown(label="Summary", elem_id="derain-summary")
            derain_sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                                             label=f"{bank.label(n)}: rainy | derained", max_height=520,
                                             elem_id=f"slider-{i}")
                              for i, n in enumerate(dnames)]
            stage_gallery = gr.Gallery(label="Stage-by-stage outputs", format="png", columns=4,
                                       height="auto", visible=False, elem_id="stages")
            downloads = gr.File(label="Results as lossless PNG", file_count="multiple")

        # ---------------------------------------------------------------- Measure
        with gr.Tab("Measure", id="measure"):
            gr.Markdown("Upload the **clean reference** of the photo chosen in the Derain tab (same size) to score "
                        "the input and every chosen model. Results computed in the Derain tab are reused.")
            with gr.Row():
                with gr.Column(scale=1):
                    ref_in.render()
                    measure_btn = gr.Button("Measure", variant="primary", elem_id="measure-btn")
                    if pairs:
                        gr.Examples([[str(r), str(c)] for r, c, _ in pairs], inputs=[rain_in, ref_in],
                                    label="Pairs with a known clean photo: synthetic rain over scikit-image photos "
                                          "(fills the Derain tab's photo and this reference)",
                                    example_labels=[t for _, _, t in pairs], cache_examples=False)
                with gr.Column(scale=2):
                    measure_table = gr.Dataframe(headers=METRIC_HEADERS, label="PSNR / SSIM against the reference",
                                                 interactive=False, elem_id="measure-table")
                    measure_md = gr.Markdown(METRIC_NOTE, label="Notes")

        # ---------------------------------------------------------------- Synthesize
        with gr.Tab("Synthesize", id="synthesize"):
            gr.Markdown("Add rain to a clean photo, derain it, and measure against the photo you started from. "
                        "Angles are degrees from vertical.")
            with gr.Row():
                with gr.Column(scale=1):
                    syn_in = _image_input("Clean photo", elem_id="syn-in", height=280)
                    angle = gr.Slider(-60, 60, value=20, step=1, label="Angle (degrees from vertical)")
                    density = gr.Slider(0.2, 10.0, value=1.0, step=0.1, label="Density (drops per 1000 pixels)")
                    length = gr.Slider(5, 80, value=30, step=1, label="Streak length (pixels)")
                    layers = gr.Slider(1, 5, value=1, step=1, label="Directions (streak layers)")
                    haze = gr.Slider(0.0, 0.6, value=0.0, step=0.05, label="Haze")
                    seed = gr.Number(0, precision=0, label="Seed")
                    syn_models = gr.CheckboxGroup(choices=[(bank.label(n), n) for n in dnames], value=chosen0,
                                                  label="Models",
                                                  info=None if dnames else "None: only the rainy input is measured.")
                    if pairs:
                        gr.Examples([[str(c)] for _, c, _ in pairs], inputs=[syn_in], label="Clean photos",
                                    example_labels=[p.stem for _, p, _ in pairs], cache_examples=False)
                    with gr.Row():
                        preview_btn = gr.Button("Add rain")
                        syn_btn = gr.Button("Add rain, derain and measure", variant="primary", elem_id="syn-btn")
                with gr.Column(scale=2):
                    syn_rainy = gr.Image(label="Rainy (synthetic)", type="numpy", format="png", interactive=False,
                                         height=320, elem_id="syn-rainy")
                    syn_table = gr.Dataframe(headers=METRIC_HEADERS + ["run time (s)"], label="Against the clean photo",
                                             interactive=False, elem_id="syn-table")
                    syn_md = gr.Markdown(label="Notes")
                    syn_sliders = [gr.ImageSlider(type="numpy", format="png", visible=n in chosen0,
                                                  label=f"{bank.label(n)}: rainy | derained", max_height=480)
                                   for n in dnames]

        # ---------------------------------------------------------------- Heavy rain + SR
        with gr.Tab("Heavy rain + SR", id="sr"):
            shipped_sr = [n for n in snames if n in bank.weights]
            if snames:
                gr.Markdown("Joint heavy-rain removal and super-resolution (Vu & Kim) against bicubic upsampling "
                            "of the rainy input. No low-res rainy photo at hand? Make one from a clean photo below.")
            if not shipped_sr:
                gr.Markdown("**No joint derain + super-resolution weights (`derain_sr-*`) are shipped yet.** This tab "
                            "works as soon as one is in `derain_lib/weights/` (train it with "
                            "`python -m derain_lib train derain_sr ...`). You can already make low-resolution "
                            "heavy-rain test images below."
                            + (" Offered instead (untrained, for trying the page only): "
                               + ", ".join(f"`{n}`" for n in snames) + "." if snames else ""),
                            elem_classes=["derain-warn"], elem_id="no-sr")
            with gr.Row():
                with gr.Column(scale=1):
                    sr_in = _image_input("Low-resolution rainy photo", elem_id="sr-in", height=240)
                    sr_model = gr.Dropdown(choices=snames, value=snames[0] if snames else None,
                                           label="Derain + SR model")
                    sr_ref = _image_input("High-resolution clean reference (optional)", height=200)
                    sr_btn = gr.Button("Derain + upscale", variant="primary", interactive=bool(snames))
                    with gr.Accordion("Make a low-res heavy-rain test image from a clean photo", open=False):
                        lr_clean = _image_input("Clean photo", height=200)
                        lr_scale = gr.Radio(["x2", "x4"], value="x2", label="Downscale by")
                        lr_btn = gr.Button("Make test image")
                with gr.Column(scale=2):
                    sr_slider = gr.ImageSlider(type="numpy", format="png", label="bicubic | derain + SR",
                                               max_height=520)
                    sr_md = gr.Markdown(label="Summary")
                    sr_table = gr.Dataframe(headers=METRIC_HEADERS, interactive=False, label="Against the reference")
                    sr_files = gr.File(label="Result as lossless PNG", file_count="multiple")

        # ---------------------------------------------------------------- events (explicit api_name each)
        def show_chosen(chosen):  # one slider per chosen model (UI only, not an API endpoint)
            return [gr.ImageSlider(visible=n in (chosen or [])) for n in dnames]

        show_stages.change(lambda on: gr.Gallery(visible=bool(on)), show_stages, stage_gallery, queue=False,
                           api_visibility="private")

        def refresh_table(photo, full, show, chosen):  # the table for the photo at hand (UI only)
            size = app.photo_work_size(photo, bool(full))
            return picker.html(bool(show), size, chosen, app.processed_pixels(*size) if size else None)

        def toggle_experiments(show, chosen):  # experiment weights in or out of the table and the choices
            keep = [n for n in (chosen or []) if show or not bank.is_experiment(n)]
            return gr.CheckboxGroup(choices=picker.choices(bool(show)), value=keep)

        table_inputs = [rain_in, full_res, show_exp, models_cb]
        for event in (rain_in.change, full_res.change, show_exp.change, models_cb.change):
            # preprocess=False: the table needs only the photo's size, read from the raw upload here, so a broken
            # upload is reported once, by the Derain button, not by this table as well
            event(refresh_table, table_inputs, picker_html, queue=False, preprocess=False,
                  show_progress="hidden", api_visibility="private")
        show_exp.change(toggle_experiments, [show_exp, models_cb], models_cb, queue=False, api_visibility="private")
        if dnames:
            models_cb.change(show_chosen, models_cb, derain_sliders, queue=False, api_visibility="private")
            syn_models.change(show_chosen, syn_models, syn_sliders, queue=False, api_visibility="private")
        derain_btn.click(_user_errors(app.derain), [rain_in, models_cb, full_res, show_stages],
                         [derain_md, *derain_sliders, stage_gallery, downloads], api_name="derain")
        measure_btn.click(_user_errors(app.measure), [rain_in, ref_in, models_cb, full_res],
                          [measure_table, measure_md], api_name="measure")
        preview_btn.click(_user_errors(app.preview_rain), [syn_in, angle, density, length, layers, haze, seed],
                          [syn_rainy], api_name="add_rain")
        syn_btn.click(_user_errors(app.synthesize), [syn_in, angle, density, length, layers, haze, seed, syn_models],
                      [syn_rainy, syn_table, syn_md, *syn_sliders], api_name="synthesize")
        lr_btn.click(_user_errors(app.make_lr), [lr_clean, lr_scale], [sr_in, sr_ref], api_name="make_lr_rainy")
        sr_btn.click(_user_errors(app.derain_sr), [sr_in, sr_model, sr_ref], [sr_slider, sr_md, sr_table, sr_files],
                     api_name="derain_sr")

    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.derain_app = app  # for tests and embedding
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Derain Lab web demo")
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine "
                                                        "only; 0.0.0.0 exposes it to your network)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    ap.add_argument("--max-size", type=float, default=DEFAULT_MAX_MEGAPIXELS, metavar="MEGAPIXELS",
                    help=f"per-request image size limit in megapixels (default {DEFAULT_MAX_MEGAPIXELS:g})")
    ap.add_argument("--work-size", type=float, default=DEFAULT_WORK_MEGAPIXELS, metavar="MEGAPIXELS",
                    help="downscale larger photos to this size unless 'full resolution' is ticked "
                         f"(default {DEFAULT_WORK_MEGAPIXELS:g})")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--queue-size", type=int, default=QUEUE_SIZE, help="maximum number of waiting requests")
    ap.add_argument("--weights", nargs="+", default=[], metavar="FILE",
                    help="also offer these .safetensors files (e.g. your own training runs) next to the shipped ones")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        weights = checkpoint.list_weights() + [str(checkpoint.weights_path(w)) for w in args.weights]
        demo = build_demo(weights=weights, device=args.device, max_megapixels=args.max_size,
                          work_megapixels=args.work_size, queue_size=args.queue_size)
    except (RuntimeError, ValueError, FileNotFoundError) as err:  # e.g. --device cuda without CUDA
        raise SystemExit(f"error: {err}") from None
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs())


if __name__ == "__main__":
    main()
