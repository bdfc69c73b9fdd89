"""The demo's event handlers (``DerainApp``): read, fit, derain, measure, synthesize, super-resolve."""
from __future__ import annotations

import atexit
import hashlib
import math
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from derain_lib import infer, metrics, rain
from derain_lib import io as dio
from derain_lib.backends import BACKENDS, available_backends, require_backend

from .config import METRIC_NOTE, RESULT_CACHE, STAGES_MAX_PIXELS
from .errors import user_error
from .model_bank import ModelBank
from .picker import Picker

__all__ = ["DerainApp"]


class DerainApp:
    """Event handlers; one instance per ``build_demo`` call.

    ``picker``: the model table (default: one without latency or scoreboard figures); ``examples``: what the
    Derain tab offers, as ``derain_lib.examples.demo_examples`` returns it (``(kind, [(photo, clean, title)])``).
    """

    def __init__(self, bank: ModelBank, max_pixels: int, work_pixels: int, backend: str = "torch",
                 picker: Picker | None = None, examples: tuple[str, list] = ("synthetic", [])):
        self.bank = bank
        self.backend = backend          # the default of the Backend dropdown (derain_lib.backends)
        # ONNX Runtime and OpenVINO run on the CPU only: with the models on a GPU, PyTorch is the one choice
        self.backends = available_backends() if bank.device.type == "cpu" else ["torch"]
        self.max_pixels = int(max_pixels)
        self.work_pixels = int(work_pixels)
        self.picker = picker if picker is not None else Picker(bank, None, None)
        self.examples_kind, self.derain_examples = examples[0], list(examples[1])
        self.results = _Results()
        self.tmp_root = Path(tempfile.mkdtemp(prefix="derain_demo_"))  # PNG downloads; removed at exit
        atexit.register(shutil.rmtree, self.tmp_root, True)

    # -- reading and sizing ------------------------------------------------------------------------------------
    def read(self, src, what: str = "image") -> np.ndarray:
        if src is None or (isinstance(src, str) and not src):
            raise user_error(f"Please upload {what} first (or pick an example).")
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
        """Pixels the models see for a ``w`` x ``h`` working image: tiles overlap, so tiling costs a little more.
        The plan is the library's (``infer.plan_tiles``), the one :meth:`run` and the command line follow."""
        return infer.plan_tiles(h, w).pixels

    def photo_work_size(self, payload, full_res: bool) -> tuple[int, int] | None:
        """(W, H) at which the chosen photo (a raw upload payload or a path) will be processed; None if unknown."""
        path = payload.get("path") if isinstance(payload, dict) else getattr(payload, "path", payload)
        if not path:
            return None
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001  not an image: the Derain button says so
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
    def check_backend(self, backend: str | None) -> str:
        """The backend a request asks for (None or empty: the default), or a message saying why it cannot run."""
        backend = backend or self.backend
        here = ", ".join(self.backends)
        if backend not in BACKENDS:
            raise user_error(f"Unknown backend {backend!r}: choose one of {here}.")
        try:
            require_backend(backend)
        except ImportError as err:
            raise user_error(f"{err}. Available here: {here}.", title="Backend not installed") from None
        if backend not in self.backends:
            raise user_error(f"Backend {backend!r} runs on the CPU but this demo's models are on "
                              f"`{self.bank.device}`: start it with --device cpu to use it. Available here: {here}.")
        return backend

    def run(self, name: str, img: np.ndarray, stages: bool = False, backend: str | None = None):
        """(output uint8, seconds, [(stage image, caption)], how). Tiled when large; cached per backend."""
        backend = self.check_backend(backend)
        h, w = img.shape[:2]
        digest = _digest(img)
        hit = self.results.get((digest, name, backend))
        cached = hit is not None
        if hit is None:
            model = self.bank.get(name)
            plan = infer.plan_tiles(h, w, model)  # the library's default policy, as in the command line
            t0 = time.perf_counter()
            out = infer.derain(img, model, tile=plan.tile, overlap=plan.overlap, max_pixels=self.max_pixels,
                               backend=backend)
            secs = time.perf_counter() - t0
            how = plan.describe()
            hit = (out, secs, how if backend == "torch" else f"{how}, {backend}")
            self.results.put((digest, name, backend), hit)
        out, secs, how = hit
        if cached:
            how += " (cached: time of the first run)"
        stage_list: list = []
        if stages and h * w <= STAGES_MAX_PIXELS:  # one extra untiled PyTorch pass, for display only
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
            raise user_error(f"Unknown model(s) {bad}. Available: {', '.join(allowed) or 'none'}.")
        return names

    # -- Derain tab ---------------------------------------------------------------------------------------------
    def derain(self, src, names, full_res: bool, show_stages: bool, backend: str | None = None):
        names = self._selected(names, self.bank.derain_names)
        backend = self.check_backend(backend)
        if not self.bank.derain_names:
            raise user_error("No trained deraining weights are shipped yet, so there is nothing to run here. "
                              "The Synthesize tab still adds rain and measures it.")
        if not names:
            raise user_error("Choose at least one model.")
        img = self.read(src, "a rainy photo")
        work, note = self.fit(img, full_res)
        stem = _safe_name(Path(src).stem if isinstance(src, str) else "image")
        rows, sliders, gallery, files = [], {}, [], []
        for name in names:
            out, secs, stages, how = self.run(name, work, show_stages, backend)
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
    def measure(self, src, ref_src, names, full_res: bool, backend: str | None = None):
        names = self._selected(names, self.bank.derain_names)
        backend = self.check_backend(backend)
        img = self.read(src, "the rainy photo (in the Derain tab)")
        ref = self.read(ref_src, "the clean reference")
        if ref.shape != img.shape:
            raise user_error(f"The reference is {ref.shape[1]}x{ref.shape[0]} but the rainy photo is "
                              f"{img.shape[1]}x{img.shape[0]}: they must be the same picture at the same size.")
        work, note = self.fit(img, full_res)
        if work.shape != img.shape:
            ref = _resize(ref, (work.shape[1], work.shape[0]))
        rows = [_metric_row("input (rainy)", work, ref)]
        for name in names:
            out, _, _, _ = self.run(name, work, backend=backend)
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

    def synthesize(self, src, angle, density, length, layers, haze, seed, names, backend: str | None = None):
        names = self._selected(names, self.bank.derain_names)
        backend = self.check_backend(backend)
        rainy, clean, note = self.add_rain(src, angle, density, length, layers, haze, seed)
        rows = [_metric_row("rainy input", rainy, clean)]
        outs = {}
        for name in names:
            out, secs, _, _ = self.run(name, rainy, backend=backend)
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

    def derain_sr(self, src, name, ref_src, backend: str | None = None):
        if not self.bank.sr_names:
            raise user_error("No joint derain + super-resolution weights (derain_sr-*) are shipped yet. Train them "
                              "with `python -m derain_lib train derain_sr ...`; this tab works as soon as the file "
                              "is in derain_lib/weights/.")
        if not name:
            raise user_error("Choose a derain + SR model.")
        self._selected(name, self.bank.sr_names)
        backend = self.check_backend(backend)
        img = self.read(src, "a low-resolution rainy photo")
        s = self.bank.scale(name)
        h, w = img.shape[:2]
        if h * w * s * s > self.max_pixels:
            raise user_error(f"x{s} of {w}x{h} would be {w * s}x{h * s}, above this demo's limit of "
                              f"{self.max_pixels / 1e6:.1f} MP. Use a smaller photo.")
        out, secs, _, _ = self.run(name, img, backend=backend)
        bicubic = _resize(img, (out.shape[1], out.shape[0]), method="bicubic")
        md = [f"**{name}**: {w}x{h} -> {out.shape[1]}x{out.shape[0]} (x{s}) in {secs:.2f} s on `{self.bank.device}`"
              + (f" with {backend}." if backend != "torch" else ".")]
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


_RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC}


def _resize(img: np.ndarray, size: tuple[int, int], method: str = "lanczos") -> np.ndarray:
    """Resize a uint8 RGB image to ``size`` = (W, H): Lanczos to shrink, bicubic for the SR baseline."""
    return np.asarray(Image.fromarray(img).resize(size, _RESAMPLE[method]))


class _Results:
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
