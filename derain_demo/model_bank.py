"""The weights the demo offers, loaded once and cached, with what their sidecars say about them."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from derain_lib import checkpoint, reports
from derain_lib.models import registry
from derain_lib.runtime import resolve_device

from .errors import user_error

__all__ = ["ModelBank"]


class ModelBank:
    """The shipped weights (``checkpoint.list_weights()``) plus optional in-memory models, each loaded once.

    ``extra`` maps display names to ready ``nn.Module`` objects (tests use a tiny untrained model when no
    weights are shipped). Metadata is read from the safetensors header without loading tensors.
    """

    def __init__(self, weights: list[str] | None = None, extra: dict[str, Any] | None = None,
                 device: str = "auto"):
        self.device = resolve_device(device)
        self.weights = list(checkpoint.list_weights() if weights is None else weights)
        self._models: dict[str, Any] = {}
        self._meta: dict[str, dict] = {}
        self._lock = threading.Lock()
        for name in self.weights:
            try:
                meta = checkpoint.read_metadata(checkpoint.weights_path(name))
                meta["scale"] = _config_scale(meta["arch"], meta["config"])
            except Exception as err:  # noqa: BLE001  a broken file must not take the demo down: list it as unusable
                meta = {"arch": "?", "config": {}, "info": {}, "scale": 1, "error": str(err)}
            meta["sidecar"] = reports.read_sidecar(name)
            self._meta[name] = meta
        for name, model in (extra or {}).items():
            model = model.to(self.device).eval()
            self._models[name] = model
            self._meta[name] = {"arch": getattr(model, "arch", type(model).__name__),
                                "config": {}, "info": {"note": "in-memory model"}, "sidecar": {},
                                "scale": int(getattr(model, "scale", 1)), "in_memory": True}

    @property
    def names(self) -> list[str]:
        return [n for n in self._meta if "error" not in self._meta[n]]

    def arch(self, name: str) -> str:
        return self._meta[name]["arch"]

    def scale(self, name: str) -> int:
        """The model's upscaling factor (1: pure deraining), from its stored architecture and config."""
        return self._meta[name]["scale"]

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
                    raise user_error(f"Unknown model {name!r}. Available: {', '.join(self.names) or 'none'}.")
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


def _config_scale(arch: str, config: dict) -> int:
    """The scale a model of ``arch`` built from ``config`` has: its config's ``scale``, else the class's own
    (``derain_lib.models.registry``'s contract); an unknown architecture or config key raises, as loading would."""
    cls = registry.model_class(arch)
    cfg = cls.Config(**config)
    return int(getattr(cfg, "scale", getattr(cls, "scale", 1)))
