"""The authors' DRN forward, op for op: the reference for speed comparisons and for importing their weights.

Cai, Li, Ren, Wang, "Dual Recursive Network for Fast Image Deraining", ICIP 2019; released code
github.com/csdwren/DRN, ``network.py`` class ``DRN``.  Written here from that file's structure (not copied):

* the same modules under the same names (``conv0``, ``res_conv1``, ``res_conv2``, ``conv``; plain
  ``nn.Sequential`` of ``nn.Conv2d`` and ``nn.ReLU``), so a state dict saved by their training script
  (``torch.save(model.state_dict(), 'net_latest.pth')``) loads with ``strict=True``;
* the same forward (paper Eq. 1 and Sec. 2.2): for each of the T stages ``x = cat(input, x)``;
  ``x = conv0(x)`` (conv + ReLU); R times ``x = relu(res_conv1(x) + x)``, ``x = relu(res_conv2(x) + x)``
  (each ``res_conv`` is conv-ReLU-conv-ReLU); ``x = conv(x) + input``.  NCHW float32 tensors, a fresh
  ``torch.cat`` in every stage, nothing cached, and it returns ``(x, x_list)`` as their ``forward`` does.

Their code concatenates the rainy input *first* (``torch.cat((input, x), 1)``), which is also our
:class:`~derain_lib.models.drn.DRN`'s order.  ``concat="x_first"`` builds the other order (``cat((x, input))``),
which a modified copy of their code might use; :mod:`derain_lib.convert` converts either.

API (used by ``lab/benchmarks/bench_drn.py``, notebook 02 and the tests)::

    ref = AuthorsDRN(stages=7, recursions=7)      # untrained, the authors' module layout
    ref = from_drn(model)                          # copy of our DRN's weights, eval mode
    out, stages = ref(x)                           # x: (B, 3, H, W) in [0, 1]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AUTHORS_KEYS", "AuthorsDRN", "from_drn"]

# The 12 tensors of a state dict saved from the authors' DRN (channel=3, 16 features), in their order.
AUTHORS_KEYS = tuple(
    f"{mod}.{idx}.{kind}"
    for mod, idxs in (("conv0", (0,)), ("res_conv1", (0, 2)), ("res_conv2", (0, 2)), ("conv", (0,)))
    for idx in idxs for kind in ("weight", "bias")
)


class AuthorsDRN(nn.Module):
    """DRN as in the authors' ``network.py``: ``stages`` = their ``inter_iter`` (T), ``recursions`` = their
    ``intra_iter`` (R), 16 features (hard-coded there as ``channel_feature``)."""

    def __init__(self, stages: int = 7, recursions: int = 7, channel: int = 3, concat: str = "input_first"):
        super().__init__()
        if concat not in ("input_first", "x_first"):
            raise ValueError(f"concat must be 'input_first' (the authors' code) or 'x_first', got {concat!r}")
        self.iteration, self.intra_iter, self.concat = stages, recursions, concat
        f = 16
        self.conv0 = nn.Sequential(nn.Conv2d(channel * 2, f, 3, 1, 1), nn.ReLU())
        self.res_conv1 = nn.Sequential(nn.Conv2d(f, f, 3, 1, 1), nn.ReLU(), nn.Conv2d(f, f, 3, 1, 1), nn.ReLU())
        self.res_conv2 = nn.Sequential(nn.Conv2d(f, f, 3, 1, 1), nn.ReLU(), nn.Conv2d(f, f, 3, 1, 1), nn.ReLU())
        self.conv = nn.Sequential(nn.Conv2d(f, channel, 3, 1, 1))

    def forward(self, input: torch.Tensor):
        x = input
        x_list = []
        for _ in range(self.iteration):                       # outer recursion over stages (Eq. 1)
            x = torch.cat((input, x) if self.concat == "input_first" else (x, input), 1)
            x = self.conv0(x)
            resx = x
            for _ in range(self.intra_iter):                  # inner recursion (Sec. 2.2)
                x = F.relu(self.res_conv1(x) + resx)
                resx = x
                x = F.relu(self.res_conv2(x) + resx)
                resx = x
            x = self.conv(x)
            x = input + x
            x_list.append(x)
        return x, x_list


def from_drn(model: nn.Module, concat: str = "input_first") -> AuthorsDRN:
    """An :class:`AuthorsDRN` holding a copy of ``model``'s weights (our :class:`~derain_lib.models.drn.DRN`,
    same key names), in eval mode on the CPU.  With ``concat="x_first"`` the two input halves of ``conv0``'s
    kernel are swapped, so the result computes the same function with the other concatenation order."""
    cfg = model.config
    if cfg.features != 16:
        raise ValueError(f"the authors' DRN has 16 features; this model has {cfg.features}")
    ref = AuthorsDRN(cfg.stages, cfg.recursions, cfg.in_channels, concat=concat)
    state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()}
    if concat == "x_first":
        w, c = state["conv0.0.weight"], cfg.in_channels
        state["conv0.0.weight"] = torch.cat((w[:, c:], w[:, :c]), 1)
    ref.load_state_dict(state, strict=True)
    return ref.eval()
