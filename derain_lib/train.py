"""One Trainer for every model.

* any model + any loss ``loss_fn(model, batch) -> (loss, logs)`` (default: the model's paper loss from the
  registry), Adam with step-based multi-step decay (the papers' schedules), optional gradient clipping;
* tqdm progress that renders in notebooks, a ``history`` dict of lists that notebooks plot;
* checkpoints that resume exactly (model, optimiser, scheduler, step, RNG-independent data seeds), loaded with
  ``torch.load(weights_only=True)`` so that no arbitrary code is unpickled;
* seeds, device auto-selection, AMP on CUDA (bfloat16 where supported, else float16 with a GradScaler);
* multi-GPU through PyTorch's own launcher: ``torchrun --nproc_per_node=N -m derain_lib train ...`` sets the
  environment that :func:`setup_distributed` reads; the model is wrapped in DistributedDataParallel, each rank
  draws different data, and only rank 0 logs and saves.  (CPU: gloo backend; CUDA: NCCL.)
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .models.registry import config_dict, training_loss
from .runtime import resolve_device

LossFn = Callable[[torch.nn.Module, dict], "tuple[torch.Tensor, dict[str, float]]"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_distributed() -> tuple[int, int, int]:
    """Initialise torch.distributed when launched by torchrun; returns (rank, world_size, local_rank)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return dist.get_rank(), dist.get_world_size(), local_rank


class Trainer:
    """Train ``model`` with ``loss_fn`` on an iterable of batch dicts.

    ``milestones`` are step numbers at which the learning rate is multiplied by ``gamma``.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn | None = None, lr: float = 1e-3,
                 milestones: Iterable[int] = (), gamma: float = 0.5, device: str | torch.device = "auto",
                 amp: bool = True, seed: int = 0, grad_clip: float | None = None, weight_decay: float = 0.0,
                 precision: str = "auto", channels_last: bool | None = None):
        self.rank, self.world_size, local_rank = setup_distributed()
        seed_everything(seed + self.rank)
        if self.world_size > 1 and torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank)
        else:
            self.device = resolve_device(device)
        self.model = model.to(self.device)
        if loss_fn is None:
            if not hasattr(model, "arch"):
                raise ValueError("loss_fn is required for a model not built by build_model()")
            loss_fn = training_loss(model.arch)
        self.loss_fn = loss_fn
        self.net: torch.nn.Module = self.model
        if self.world_size > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            # loss functions read these plain attributes; DDP does not forward them
            for name in ("config", "scale", "arch", "tile_multiple"):
                if hasattr(self.model, name):
                    setattr(self.net, name, getattr(self.model, name))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, sorted(int(m) for m in milestones), gamma)
        self.grad_clip = grad_clip
        # precision: "auto" = mixed precision on CUDA (bfloat16 where supported, else float16 + GradScaler) and
        # float32 on the CPU; "fp32" = float32 everywhere; "bf16" = bfloat16 autocast on any device (on CPUs with
        # AMX or AVX512-BF16 the convolutions run about 2x faster: lab/benchmarks/bench_train_step.py). Weights,
        # optimiser state and the losses (SSIM, covariances: derain_lib.losses) stay float32 in every mode.
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
        self.precision = precision
        if precision == "bf16":
            self.amp, self.amp_dtype = True, torch.bfloat16
        else:
            self.amp = amp and precision == "auto" and self.device.type == "cuda"
            self.amp_dtype = torch.bfloat16 if (self.amp and torch.cuda.is_bf16_supported()) else torch.float16
        # channels-last batches: oneDNN's fastest convolution layout on the CPU (the model's weights keep
        # their layout, so saved files are unchanged); default on for the CPU
        self.channels_last = (self.device.type == "cpu") if channels_last is None else bool(channels_last)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step = 0
        self.seed = seed
        # free-form facts about the run that a resume must carry on (derain_lib.lineage keeps the lineage of the
        # weights a run started from here)
        self.meta: dict = {}
        self.history: dict[str, list[float]] = {"step": [], "loss": [], "lr": [], "time": []}
        self._elapsed = 0.0
        self.cpu_seconds = 0.0     # process CPU seconds of the training loop, whole run (kept across resumes)
        self.cpu_recorded = True   # False after resuming a checkpoint that did not record its CPU time
        # one record per fit() call of this run (date, steps, precision, machine, CPU time), kept across resumes
        # so that a run continued on another machine or in another precision still says so
        self.invocations: list[dict] = []
        self._current: dict | None = None
        self.interrupted = False

    @property
    def compute_precision(self) -> str:
        """What the network's forward runs in: 'fp32', 'bf16' or 'fp16' (recorded in each run's lineage)."""
        if not self.amp:
            return "fp32"
        return "bf16" if self.amp_dtype == torch.bfloat16 else "fp16"

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds of training over the whole run (a resumed run's checkpoint carries the time before)."""
        return self._elapsed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
        self.net.train()
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                     for k, v in batch.items()}
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            loss, logs = self.loss_fn(self.net, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.step}; lower the learning rate")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.step += 1
        return float(loss.detach()), logs

    @contextlib.contextmanager
    def _stop_on_signal(self):
        """Turn SIGINT/SIGTERM into a stop request (``stop["signal"]`` set to its name) while ``fit`` runs; a
        second signal raises KeyboardInterrupt.  Only in the main thread of a single-process run: ranks of a
        distributed run could stop at different steps and hang in all-reduce."""
        stop = {"signal": None}
        if self.world_size > 1 or threading.current_thread() is not threading.main_thread():
            yield stop
            return

        def request_stop(signum, frame):
            if stop["signal"] is not None:            # second signal: give up at once
                raise KeyboardInterrupt
            stop["signal"] = signal.Signals(signum).name

        old = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield stop
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def fit(self, batches: Iterable[dict[str, torch.Tensor]], steps: int, log_every: int = 10,
            progress: bool = True, ckpt_path: str | Path | None = None, ckpt_every: int | None = None,
            time_limit: float | None = None, val_fn: Callable[[torch.nn.Module], dict] | None = None,
            val_every: int | None = None, log_lines: bool = False) -> dict[str, list[float]]:
        """Train until ``self.step == steps`` (absolute, so a resumed run continues its schedule).

        ``time_limit`` (seconds of *this* call, so a resumed run gets a fresh budget while ``history["time"]``
        keeps counting the whole run) stops early but cleanly, with a checkpoint; so does Ctrl-C / SIGINT (or
        SIGTERM) in the main thread of a single-process run: the step in progress finishes, the checkpoint is
        written and ``fit`` returns as at a time limit (``self.interrupted`` is then True); a second Ctrl-C
        aborts at once.
        ``val_fn(model)`` returns a dict of figures recorded in the history every ``val_every`` steps;
        ``log_lines`` prints one line per log interval (for logs written to a file, where a progress bar is
        noise).
        """
        from tqdm.auto import tqdm

        from .runtime import machine_info

        self.interrupted = False
        self._current = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "from_step": self.step,
                         "precision": self.compute_precision, "lr": float(self.opt.param_groups[0]["lr"]),
                         "machine": machine_info(), "cpu_at_start": self.cpu_seconds}
        with self._stop_on_signal() as stop:
            it = iter(batches)
            bar = tqdm(total=steps, initial=self.step, disable=not (progress and self.is_main),
                       dynamic_ncols=True)
            started = time.time()
            start = started - self._elapsed
            cpu_start = time.process_time() - self.cpu_seconds
            acc: dict[str, list[float]] = {}
            while self.step < steps:
                loss, logs = self.train_step(next(it))
                acc.setdefault("loss", []).append(loss)
                for k, v in logs.items():
                    acc.setdefault(k, []).append(float(v))
                self._elapsed = time.time() - start
                self.cpu_seconds = time.process_time() - cpu_start
                if self.step % log_every == 0 or self.step == steps:
                    self._record(acc)
                    acc = {}
                    bar.set_postfix(loss=f"{self.history['loss'][-1]:.4f}", lr=f"{self.history['lr'][-1]:.1e}")
                    if log_lines and self.is_main:
                        # Without a progress bar (logs redirected to a file), still say where training is.
                        print(f"step {self.step}/{steps}  loss {self.history['loss'][-1]:.4f}  "
                              f"lr {self.history['lr'][-1]:.1e}  {self._elapsed:.0f} s", flush=True)
                if val_fn and val_every and self.step % val_every == 0 and self.is_main:
                    self.model.eval()
                    with torch.no_grad():
                        for k, v in val_fn(self.model).items():
                            self.history.setdefault("val_" + k, []).append(float(v))
                    self.history.setdefault("val_step", []).append(self.step)
                bar.update(1)
                if ckpt_path and ckpt_every and self.step % ckpt_every == 0:
                    self.save_checkpoint(ckpt_path)
                if time_limit and time.time() - started > time_limit:
                    if self.is_main:
                        bar.write(f"time limit of {time_limit:.0f} s reached at step {self.step}")
                    break
                if stop["signal"] is not None:
                    self.interrupted = True
                    bar.write(f"{stop['signal']} received: stopping cleanly at step {self.step} "
                              f"(checkpoint and weights are written; a second signal aborts)")
                    break
            if acc:
                self._record(acc)
            bar.close()
            if ckpt_path:                             # (a signal arriving now only re-requests the stop)
                self.save_checkpoint(ckpt_path)
        self.invocations, self._current = self.invocation_log(), None
        self.model.eval()
        return self.history

    def invocation_log(self) -> list[dict]:
        """The run's fit() calls so far, the one in progress included: date, first and last step, precision,
        lr at its start, machine and CPU seconds of each (what a lineage record of a resumed run lists)."""
        log = [dict(r) for r in self.invocations]
        if self._current is not None:
            cur = {k: v for k, v in self._current.items() if k != "cpu_at_start"}
            cur["to_step"] = self.step
            cur["cpu_seconds"] = round(self.cpu_seconds - self._current["cpu_at_start"], 3)
            log.append(cur)
        return log

    def _record(self, acc: dict[str, list[float]]) -> None:
        self.history["step"].append(self.step)
        self.history["lr"].append(self.opt.param_groups[0]["lr"])
        self.history["time"].append(self._elapsed)
        for k, v in acc.items():
            self.history.setdefault(k, []).append(float(np.mean(v)))

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        """Everything needed to resume (rank 0 only)."""
        if not self.is_main:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "arch": getattr(self.model, "arch", None),
            "config": config_dict(self.model) if hasattr(self.model, "config") else None,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "elapsed": self._elapsed,
            "cpu_seconds": self.cpu_seconds,
            "history": self.history,
            "seed": self.seed,
            "meta": self.meta,
            "invocations": self.invocation_log(),
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint

    def load_checkpoint(self, path: str | Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"], strict=True)
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self._elapsed = float(state.get("elapsed", 0.0))
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.cpu_recorded = "cpu_seconds" in state
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.meta = dict(state.get("meta") or {})
        self.invocations = [dict(r) for r in state.get("invocations", [])]
        if not self.invocations and self.step:     # a checkpoint written before invocations were recorded
            self.invocations = [{"from_step": 0, "to_step": self.step,
                                 "note": "not recorded (older checkpoint): date, precision and machine unknown"}]

    def set_lr(self, lr: float) -> float:
        """Set the learning rate of every parameter group (e.g. a manual decay after ``load_checkpoint``) and
        return the old one.  Adam's moments, the step and the scheduler's milestones are kept; the scheduler's
        base rates move too, so a later milestone multiplies the new rate by ``gamma``."""
        old = float(self.opt.param_groups[0]["lr"])
        for group in self.opt.param_groups:
            group["lr"] = lr
            group["initial_lr"] = lr
        self.sched.base_lrs = [lr for _ in self.opt.param_groups]
        self.sched._last_lr = [lr for _ in self.opt.param_groups]
        return old

    @staticmethod
    def read_checkpoint_model(path: str | Path) -> torch.nn.Module:
        """Rebuild the model stored in a training checkpoint (safe load)."""
        from .models.registry import build_model

        state = torch.load(path, map_location="cpu", weights_only=True)
        if not state.get("arch"):
            raise ValueError(f"{path}: checkpoint has no architecture name")
        model = build_model(state["arch"], **state["config"])
        model.load_state_dict(state["model"], strict=True)
        return model.eval()


def epochs_to_steps(epochs: float, dataset_size: int, batch_size: int) -> int:
    """Convert a paper's epoch count into optimiser steps."""
    return max(1, math.ceil(epochs * dataset_size / batch_size))
