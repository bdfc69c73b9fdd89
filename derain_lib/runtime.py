"""Where code runs: the torch device, and one line naming the machine a figure or a weight came from."""
from __future__ import annotations

import os
import platform

import torch

__all__ = ["DeviceUnavailable", "loadavg", "machine_info", "resolve_device"]


class DeviceUnavailable(RuntimeError, ValueError):
    """A device that this machine does not have (a bad ``--device`` value as far as a user is concerned)."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev


def machine_info() -> str:
    """One line naming the machine: CPU model, logical cores, torch version and threads, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads){gpu}")


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages ("n/a" where the OS has none): other work slows every timing down."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
