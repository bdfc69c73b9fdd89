"""Rotation-equivariant group convolutions on the group p4 (translations + rotations by multiples of 90 degrees).

This follows the "split" implementation of Cohen & Welling's G-CNNs (tscohen/GrouPy,
``groupy/gconv/pytorch_gconv/splitgconv2d.py``): build the four rotated copies of the filter bank once, run a
single ``F.conv2d`` with the expanded bank, and view the result as ``(B, C, 4, H, W)``.  This is how the
S-DSEN paper (Liu, Ye, Li, Shi, Liu, Sun, "Self-refining Deep Symmetry Enhanced Network for Rain Removal",
ICIP 2019, Sec. 2.1, Eq. 1-3) builds its "G-conv" layers.

Notation (paper Eq. 1-3, with ``rho`` the rotation by 90 degrees and ``*`` a cross-correlation):

* Eq. 1, the group p4: ``g = (r, t)``, a rotation ``r in {0, 1, 2, 3}`` (multiples of 90 degrees) followed by a
  translation ``t``.
* Eq. 2, first layer, plane -> group (``P4ConvZ2``)::

      [f * psi](r, x) = sum_y sum_c f_c(y) psi_c(rho^{-r}(y - x))      i.e.  out[:, :, r] = f * rho^r(psi)

  one output map per rotation ``r`` of the filter.
* Eq. 3, group -> group (``P4ConvP4``)::

      [f * psi](r, x) = sum_s sum_y sum_c f_c(s, y) psi_c(s - r, rho^{-r}(y - x))

  the filter is rotated spatially *and* its input-orientation axis is cyclically shifted by ``r``.

Conventions used everywhere in this library (and tested in ``tests/test_gconv.py``):

* ``rot(x) = torch.rot90(x, 1, dims=(-2, -1))`` is "the" 90-degree rotation (counter-clockwise as displayed
  with the row index pointing down).
* A p4 feature map is a tensor ``(B, C, 4, H, W)``; index ``r`` on axis 2 is the response of the filter rotated
  by ``rot^r``.
* Equivariance: for both layers, ``layer(rot(x)) == rot(roll(layer(x), +1, dim=2))``, i.e. rotating the input
  by +90 degrees rotates every output map and rolls the orientation axis **forward** by one (the map that was
  at orientation ``r - 1`` moves to ``r``).  For ``P4ConvP4`` the input ``x`` is itself a p4 map and ``rot(x)``
  means "rotate the maps and roll the input orientation axis by +1", the same group action.
* Odd kernels with "same" zero padding (``k // 2`` on every side) keep this exact for any H and W (odd or even),
  because symmetric padding commutes with rotation about the image centre.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OrientationPool", "P4ConvP4", "P4ConvZ2", "rotate_filter_bank_p4", "rotate_filter_bank_z2", "rotate_p4"]

N_ROT = 4  # |rotations of p4|


def rotate_p4(x: torch.Tensor, k: int = 1) -> torch.Tensor:
    """The p4 group action on a feature map (B, C, 4, H, W): rotate each map by ``k`` quarter turns and roll the
    orientation axis forward by ``k``.  On a plain image (B, C, H, W) it is just the spatial rotation."""
    if x.dim() == 5:
        return torch.rot90(torch.roll(x, shifts=k, dims=2), k, dims=(-2, -1))
    return torch.rot90(x, k, dims=(-2, -1))


def rotate_filter_bank_z2(weight: torch.Tensor) -> torch.Tensor:
    """Eq. 2 filter bank. (C_out, C_in, k, k) -> (C_out * 4, C_in, k, k); row ``o * 4 + r`` is ``rot^r(psi_o)``."""
    bank = torch.stack([torch.rot90(weight, r, dims=(-2, -1)) for r in range(N_ROT)], dim=1)  # (C_out, 4, C_in, k, k)
    c_out, _, c_in, k1, k2 = bank.shape
    return bank.reshape(c_out * N_ROT, c_in, k1, k2)


def rotate_filter_bank_p4(weight: torch.Tensor) -> torch.Tensor:
    """Eq. 3 filter bank. (C_out, C_in, 4, k, k) -> (C_out * 4, C_in * 4, k, k).

    For output orientation ``r`` the filter is rotated spatially by ``rot^r`` and its input-orientation axis is
    rolled forward by ``r`` (``bank_r[:, :, s] = rot^r(psi[:, :, s - r])``).
    """
    bank = torch.stack(
        [torch.rot90(torch.roll(weight, shifts=r, dims=2), r, dims=(-2, -1)) for r in range(N_ROT)], dim=1
    )  # (C_out, 4, C_in, 4, k, k)
    c_out, _, c_in, s, k1, k2 = bank.shape
    return bank.reshape(c_out * N_ROT, c_in * s, k1, k2)


class P4ConvBase(nn.Module):
    """Shared machinery: parameters, bias per regular channel, and the cached expanded filter bank.

    The cache is used only in eval mode and only when no gradient must flow to the weight (inference);
    it is invalidated by ``train()``, by any in-place change of the weight (optimizer step, ``load_state_dict``:
    both bump the tensor's version counter) and by a device or dtype move (the data pointer changes).
    """

    in_orientations: int = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            # An even kernel has no centre pixel: "same" padding is then asymmetric and exact equivariance breaks.
            raise ValueError(f"kernel_size must be odd for exact p4 equivariance, got {kernel_size}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be positive, got {in_channels} -> {out_channels}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        shape = (out_channels, in_channels) + ((N_ROT,) if self.in_orientations == N_ROT else ()) + (kernel_size,) * 2
        self.weight = nn.Parameter(torch.empty(shape))
        # One bias per *regular* channel, shared by its 4 orientations (a per-orientation bias would break
        # equivariance).
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()
        self._cache: torch.Tensor | None = None
        self._cache_key: tuple | None = None

    def reset_parameters(self) -> None:
        # He-style init with the true fan-in of one output map (C_in * (1 or 4) * k * k).
        fan_in = self.in_channels * self.in_orientations * self.kernel_size ** 2
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        with torch.no_grad():
            bound = 1.0 / math.sqrt(fan_in)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def _expand(self, weight: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def train(self, mode: bool = True):
        self._cache, self._cache_key = None, None
        return super().train(mode)

    def filter_bank(self) -> torch.Tensor:
        """The expanded filter bank (C_out * 4, C_in * (1 or 4), k, k), cached for inference."""
        w = self.weight
        cacheable = not self.training and not (torch.is_grad_enabled() and w.requires_grad)
        if not cacheable:
            return self._expand(w)
        key = (w._version, w.data_ptr(), w.device, w.dtype)
        if self._cache is None or self._cache_key != key:
            with torch.no_grad():
                self._cache = self._expand(w).contiguous()
            self._cache_key = key
        return self._cache

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in * (1 or 4), H, W) -> (B, C_out, 4, H, W)."""
        # The bias of regular channel o is shared by its 4 orientation maps; folding it into the conv call
        # (repeat_interleave) avoids a second pass over the output.
        bias = self.bias.repeat_interleave(N_ROT) if self.bias is not None else None
        y = F.conv2d(x, self.filter_bank(), bias, padding=self.kernel_size // 2)  # (B, C_out * 4, H, W)
        return y.view(y.shape[0], self.out_channels, N_ROT, y.shape[-2], y.shape[-1])  # (B, C_out, 4, H, W)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bias={self.bias is not None}")


class P4ConvZ2(P4ConvBase):
    """Plane -> p4 group convolution (Eq. 2): (B, C_in, H, W) -> (B, C_out, 4, H, W).

    Parameters: ``C_out * C_in * k * k`` weights + ``C_out`` biases (the same count as a plain conv with
    ``C_out`` outputs, but it produces ``4 * C_out`` maps).
    """

    in_orientations = 1

    def _expand(self, weight: torch.Tensor) -> torch.Tensor:
        return rotate_filter_bank_z2(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"P4ConvZ2 expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self._conv(x)  # (B, C_out, 4, H, W)


class P4ConvP4(P4ConvBase):
    """p4 -> p4 group convolution (Eq. 3): (B, C_in, 4, H, W) -> (B, C_out, 4, H, W).

    Parameters: ``C_out * C_in * 4 * k * k`` weights + ``C_out`` biases.
    """

    in_orientations = N_ROT

    def _expand(self, weight: torch.Tensor) -> torch.Tensor:
        return rotate_filter_bank_p4(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[2] != N_ROT:
            raise ValueError(f"P4ConvP4 expects (B, {self.in_channels}, 4, H, W), got {tuple(x.shape)}")
        b, c, s, h, w = x.shape
        return self._conv(x.reshape(b, c * s, h, w))  # (B, C_out, 4, H, W)


class OrientationPool(nn.Module):
    """Pool over the orientation axis: (B, C, 4, H, W) -> (B, C, H, W).

    The result is rotation-*invariant* per map (rotating the input only rotates the pooled maps), because max and
    mean do not care about the cyclic order of the orientation axis.  Used by the DSEN_maxpool / DSEN_avgpool
    ablations (paper Table 1) in place of the symmetry-aggregation convolution.
    """

    def __init__(self, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"OrientationPool expects (B, C, 4, H, W), got {tuple(x.shape)}")
        return x.amax(dim=2) if self.mode == "max" else x.mean(dim=2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
