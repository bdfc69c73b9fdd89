"""Inference backends: PyTorch, ONNX Runtime and OpenVINO behind one callable.

A :class:`Runner` is called like the model (``runner(x)``, ``x`` a (B, 3, H, W) float tensor in [0, 1], CPU) and
carries the model's ``scale`` and ``tile_multiple``, so :func:`derain_lib.infer.run_model` tiles with any backend.
``torch`` runs the model itself (with its CPU fast paths); ``onnxruntime`` and ``openvino`` run the graph of
:func:`derain_lib.export.export_onnx` on the CPU.  Exported graphs are cached on disk (keyed by architecture,
weights fingerprint and opset, see :func:`onnx_cache_path`), sessions in memory per (weights, backend, threads),
so only the first call for a weight pays the export and the compilation.

Both runtimes are optional packages: ``pip install onnxruntime`` / ``pip install openvino``; a missing one gives
an ``ImportError`` naming the package.  OpenVINO is asked for float32 inference explicitly: on CPUs with bf16
or AMX units its default precision would be bfloat16, which changes the output.
"""
from __future__ import annotations

import collections
import os
import threading
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "BACKENDS",
    "Runner",
    "available_backends",
    "get_runner",
    "onnx_cache_path",
    "require_backend",
]

BACKENDS = ("torch", "onnxruntime", "openvino")
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
_MAX_SESSIONS = 6       # sessions kept in memory (each holds its weights and compiled kernels)
_MAX_OV_SHAPES = 4      # OpenVINO: compiled static-shape models kept per session (tiles use one or two shapes)


def require_backend(backend: str):
    """The backend's Python module; ``ValueError`` for an unknown name, ``ImportError`` naming the pip package."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return torch
    pkg = _PACKAGES[backend]
    try:
        return __import__(pkg)
    except ImportError as e:
        raise ImportError(f"backend {backend!r} needs the {pkg} package: pip install {pkg} "
                          f"(or use backend='torch')") from e


def available_backends() -> list[str]:
    """The backends whose package imports here."""
    out = []
    for b in BACKENDS:
        try:
            require_backend(b)
            out.append(b)
        except ImportError:
            pass
    return out


def _cache_dir() -> Path:
    root = os.environ.get("DERAIN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "derain_lib")
    return Path(root) / "onnx"


def onnx_cache_path(model: torch.nn.Module, opset: int | None = None) -> Path:
    """Where the exported graph of ``model`` is cached (``$DERAIN_CACHE/onnx`` or ``~/.cache/derain_lib/onnx``):
    the name holds the architecture, the weights fingerprint, the opset and the torch version, so changed weights
    or a new exporter never reuse a stale file."""
    from .export import OPSET, fingerprint

    arch = str(getattr(model, "arch", type(model).__name__))
    tv = torch.__version__.split("+")[0]
    return _cache_dir() / f"{arch}-{fingerprint(model)}-opset{opset or OPSET}-torch{tv}.onnx"


def _exported(model: torch.nn.Module) -> Path:
    from .export import export_onnx

    path = onnx_cache_path(model)
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        export_onnx(model, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return path


class Runner:
    """``runner(x) -> output`` for (B, 3, H, W) float32 CPU tensors, with the model's ``scale`` and
    ``tile_multiple``.  Images smaller than the graph's smallest valid side run through the PyTorch model."""

    backend = "torch"

    def __init__(self, model: torch.nn.Module, threads: int | None = None):
        from .export import min_side, uses_guidance

        self.model = model
        self.threads = threads
        self.scale = int(getattr(model, "scale", 1))
        self.tile_multiple = int(getattr(model, "tile_multiple", 1))
        self.min_side = min_side(model)
        self.guidance = uses_guidance(model)

    def _feed(self, x: torch.Tensor) -> list[np.ndarray]:
        x = x.detach().to("cpu", torch.float32).contiguous()
        feed = [x.numpy()]
        if self.guidance:
            from .mser import mser_guidance
            feed.append(mser_guidance(x, frac=self.model.config.mser_frac).to(torch.float32).contiguous().numpy())
        return feed

    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        old = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            p = next(self.model.parameters(), None)
            with torch.inference_mode():
                return self.model(x.to(p.device) if p is not None else x).float().cpu()
        finally:
            torch.set_num_threads(old)

    def _run(self, feed: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) image tensor, got {tuple(x.shape)}")
        if self.backend == "torch" or min(x.shape[-2:]) < self.min_side:
            return self._torch(x)
        return torch.from_numpy(np.ascontiguousarray(self._run(self._feed(x))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.model, 'weights_name', type(self.model).__name__)}, " \
               f"threads={self.threads})"


class TorchRunner(Runner):
    backend = "torch"


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, model, threads=None, path: Path | None = None):
        super().__init__(model, threads)
        ort = require_backend("onnxruntime")
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or torch.get_num_threads())
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between calls: spinning workers would take the cores from PyTorch (or another session)
        # running next in the same process, e.g. the demo switching backends or tiles of one image.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path) if path is not None else _exported(model)
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def _run(self, feed):
        return self.session.run(None, dict(zip(self.names, feed)))[0]


class OpenVINORunner(Runner):
    """OpenVINO on the CPU, float32, latency hint; one compiled static-shape model per input shape (a dynamic
    model re-plans every call, which measured slower), the last few kept."""

    backend = "openvino"

    def __init__(self, model, threads=None, path: Path | None = None):
        super().__init__(model, threads)
        ov = require_backend("openvino")
        self.core = ov.Core()
        self.path = Path(path) if path is not None else _exported(model)
        self.config = {"INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()), "NUM_STREAMS": 1,
                       "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        self.compiled: collections.OrderedDict = collections.OrderedDict()
        self.lock = threading.Lock()

    def _request(self, shapes):
        req = self.compiled.pop(shapes, None)
        if req is None:
            m = self.core.read_model(str(self.path))
            m.reshape({i: list(s) for i, s in enumerate(shapes)})
            req = self.core.compile_model(m, "CPU", self.config).create_infer_request()
        self.compiled[shapes] = req
        while len(self.compiled) > _MAX_OV_SHAPES:
            self.compiled.popitem(last=False)
        return req

    def _run(self, feed):
        with self.lock:  # an infer request serves one call at a time (the demo may run two at once)
            req = self._request(tuple(a.shape for a in feed))
            res = req.infer(dict(enumerate(feed)))
            return np.array(res[req.model_outputs[0]], copy=True)


_RUNNERS = {"torch": TorchRunner, "onnxruntime": OnnxRuntimeRunner, "openvino": OpenVINORunner}
_SESSIONS: collections.OrderedDict = collections.OrderedDict()
_SESSIONS_LOCK = threading.Lock()


def get_runner(model: torch.nn.Module, backend: str = "torch", threads: int | None = None) -> Runner:
    """A runner of ``model`` on ``backend`` with ``threads`` CPU threads (None: ``torch.get_num_threads()``).

    ONNX Runtime and OpenVINO runners are cached per (weights fingerprint, backend, threads): a second call
    with the same weights reuses the session.  The model must be in eval mode on the CPU for those two."""
    require_backend(backend)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    if backend == "torch":
        return TorchRunner(model, threads)
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError(f"backend {backend!r} runs on the CPU; load the model with device='cpu'")
    from .export import fingerprint

    key = (fingerprint(model), backend, threads or torch.get_num_threads())
    with _SESSIONS_LOCK:
        r = _SESSIONS.pop(key, None)
    if r is None:
        r = _RUNNERS[backend](model, threads or torch.get_num_threads())
    with _SESSIONS_LOCK:
        _SESSIONS[key] = r
        while len(_SESSIONS) > _MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    return r
