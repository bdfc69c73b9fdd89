"""Tiled FFT convolution (overlap-save) for the 'same'-padded, stride-1 convolutions of DSEN / S-DSEN inference.

Why: a k x k convolution with ``C_in`` inputs and ``C_out`` outputs costs ``k^2 C_in C_out`` multiply-adds per
pixel done directly.  Cut the zero-padded image into overlapping ``T x T`` tiles (stride ``V = T - k + 1``),
take the 2D real FFT of every tile and channel, multiply by the (precomputed) filter spectra and sum over input
channels at every frequency, transform back and keep the ``V x V`` outputs of each tile that did not wrap
around.  Per output pixel the channel mixing then costs ``2 T (T/2 + 1) / V^2`` real multiply-adds per
(in, out) channel pair instead of ``k^2``: 2.8 instead of 25 for ``T = 32``, ``k = 5`` (9x fewer), plus the
transforms, which are ``O(log T)`` per pixel and channel.  The result equals the direct convolution up to float
rounding (about 1e-6 relative in float32; FFTs are numerically benign, unlike large Winograd tiles).

Layout.  Feature maps live in *padded* channels-last buffers ``(B, Hp, Wp, C)`` (:class:`TilePlan`): the image
sits at ``[p : p + H, p : p + W]`` (``p = k // 2``), everything else is zero, and ``Hp = ny V + k - 1``,
``Wp = nx V + k - 1`` cover whole tiles.  Tiles are then just a strided view of the buffer (no unfold copy);
the FFTs run over the two leading tile axes (``scipy.fft``: pocketfft vectorises across the contiguous channel
axis), which leaves the spectra as ``(T, T/2 + 1, tiles, C)``, exactly the ``(frequency, tiles, C_in)`` batch
of matrices the channel mixing needs: one batched real GEMM ``(F, tiles, 2 C_in) @ (F, 2 C_in, 2 C_out)`` on
interleaved real / imaginary parts (see :func:`spectrum_matrix`).  Bias, LeakyReLU and a residual add are
applied while the valid part of each tile is written straight into the output's padded buffer, which is then
the next layer's input.  The image is processed in chunks of ``rows`` tile rows so that the spectra of a chunk
stay in cache.

Several inputs (``conv(cat(a, b); W) = conv(a; W_a) + conv(b; W_b)``, the skip concatenation) are summed in the
frequency domain: one inverse transform for both halves.

:func:`use_fft` is the rule that picks this over oneDNN's direct convolution (no timing at run time).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import scipy.fft
import torch

__all__ = ["TilePlan", "use_fft", "spectrum_matrix", "fft_conv2d", "conv2d_padded", "TILE", "ROWS"]

TILE = 32      # FFT tile side (valid outputs per tile: TILE - k + 1 = 28 for 5x5 filters)
ROWS = 2       # tile rows per chunk (keeps a chunk's spectra in cache)
MIN_CHANNEL_PRODUCT = 1024  # C_in * C_out from which the FFT beats direct convolution (40 x 40, 80 x 40: yes)
MIN_PIXELS = 40_000         # H * W from which it does (measured crossover about 200 x 150 at 2 threads)


def use_fft(c_in: int, c_out: int, kernel_size: int, h: int, w: int, tile: int = TILE) -> bool:
    """The rule (fixed, not timed at run time): FFT convolution for a stride-1 'same' ``k x k`` convolution iff
    ``k >= 3``, ``C_in * C_out >= 1024``, ``H * W >= 40,000`` pixels and the image holds at least one whole
    tile of valid outputs in each direction (``H, W >= T - k + 1``).  Few channels (the 3 -> 40 head, the
    40 -> 10 aggregation) or small images stay direct (oneDNN): there the transforms and the per-chunk overhead
    cost more than the multiply-adds they save (80 -> 40 at 2 threads: FFT x0.5 at 97 x 65, x0.9 at 128 x 128,
    x1.06 at 200 x 150, x1.76 at 481 x 321)."""
    v = tile - kernel_size + 1
    return (kernel_size >= 3 and v >= 1 and c_in * c_out >= MIN_CHANNEL_PRODUCT and h * w >= MIN_PIXELS
            and h >= v and w >= v)


@dataclass(frozen=True)
class TilePlan:
    """Tiling of a ``H x W`` image for ``k x k`` filters with ``T x T`` tiles."""

    h: int
    w: int
    k: int
    tile: int = TILE

    @property
    def pad(self) -> int:
        return self.k // 2

    @property
    def valid(self) -> int:  # V: outputs per tile side
        return self.tile - self.k + 1

    @property
    def ny(self) -> int:
        return -(-self.h // self.valid)

    @property
    def nx(self) -> int:
        return -(-self.w // self.valid)

    @property
    def hp(self) -> int:
        return self.ny * self.valid + self.k - 1

    @property
    def wp(self) -> int:
        return self.nx * self.valid + self.k - 1

    def empty(self, b: int, c: int, dtype=torch.float32) -> torch.Tensor:
        """A padded buffer (B, Hp, Wp, C) whose border (everything outside the image) is zero and whose interior
        is uninitialised."""
        t = torch.empty(b, self.hp, self.wp, c, dtype=dtype)
        p = self.pad
        t[:, :p].zero_()
        t[:, :, :p].zero_()
        t[:, p + self.h:].zero_()
        t[:, :, p + self.w:].zero_()
        return t

    def zero_outside(self, t: torch.Tensor) -> torch.Tensor:
        """Zero what a tile-aligned write left beyond the image (rows >= H, columns >= W)."""
        p = self.pad
        t[:, p + self.h:].zero_()
        t[:, :, p + self.w:].zero_()
        return t

    def pad_nchw(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> padded buffer (B, Hp, Wp, C)."""
        p = self.pad
        t = self.empty(x.shape[0], x.shape[1], x.dtype)
        t[:, p:p + self.h, p:p + self.w].copy_(x.permute(0, 2, 3, 1))
        return t

    def interior(self, t: torch.Tensor) -> torch.Tensor:
        """Padded buffer -> the image as a (B, C, H, W) view (channels-last strides, row stride of the buffer)."""
        p = self.pad
        return t[:, p:p + self.h, p:p + self.w].permute(0, 3, 1, 2)

    def buffer_of(self, x: torch.Tensor) -> torch.Tensor | None:
        """The padded buffer that ``x`` is the :meth:`interior` view of, if it is one (else None)."""
        base = x._base
        if base is None or base.dim() != 4 or tuple(base.shape[1:3]) != (self.hp, self.wp) \
                or base.shape[0] != x.shape[0] or base.shape[3] != x.shape[1]:
            return None
        v = self.interior(base)
        if v.data_ptr() == x.data_ptr() and v.stride() == x.stride() and v.shape == x.shape:
            return base
        return None


def spectrum_matrix(weight: torch.Tensor, tile: int = TILE) -> torch.Tensor:
    """Filter spectra for :func:`conv2d_padded`: (C_out, C_in, k, k) -> (F, 2 C_in, 2 C_out) real, F = T (T/2+1).

    ``F.conv2d`` is a cross-correlation, so the tile spectrum is multiplied by the *conjugate* filter spectrum.
    Complex products ``z = x w`` on interleaved (re, im) pairs are the real 2 x 2 blocks
    ``[re z, im z] = [re x, im x] @ [[re w, im w], [-im w, re w]]``."""
    c_out, c_in, k, _ = weight.shape
    wp = torch.zeros(tile, tile, c_in, c_out, dtype=torch.float64)
    wp[:k, :k] = weight.detach().double().permute(2, 3, 1, 0)
    s = torch.fft.rfft2(wp, dim=(0, 1)).conj().reshape(-1, c_in, c_out)  # (F, C_in, C_out) complex128
    m = torch.empty(s.shape[0], c_in, 2, c_out, 2, dtype=torch.float64)
    m[:, :, 0, :, 0] = s.real
    m[:, :, 0, :, 1] = s.imag
    m[:, :, 1, :, 0] = -s.imag
    m[:, :, 1, :, 1] = s.real
    return m.reshape(s.shape[0], 2 * c_in, 2 * c_out).to(weight.dtype).contiguous()


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers != n:
        # each worker runs its chunk single-threaded (OpenMP / MKL thread counts are per calling thread)
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fftconv",
                                   initializer=torch.set_num_threads, initargs=(1,))
    return _POOL


_POOL: ThreadPoolExecutor | None = None


def conv2d_padded(inputs: list[torch.Tensor], spectra: list[torch.Tensor], plan: TilePlan,
                  bias: torch.Tensor | None = None, negative_slope: float | None = None,
                  residual: torch.Tensor | None = None, rows: int = ROWS) -> torch.Tensor:
    """``out = residual + act(sum_i conv(inputs[i]; W_i) + bias)`` on padded buffers, by tiled FFT.

    inputs: padded buffers (B, Hp, Wp, C_i) of ``plan``; spectra: :func:`spectrum_matrix` of each ``W_i``
    (C_out, C_i, k, k) for ``plan.tile``; ``negative_slope``: LeakyReLU slope (None: no activation);
    residual: a padded buffer (B, Hp, Wp, C_out) added after the activation.  Returns a new padded buffer
    (B, Hp, Wp, C_out).

    With ``torch.get_num_threads() > 1`` the chunks (``rows`` tile rows of one image each) are spread over
    that many threads, each running its chunk single-threaded (the GEMMs and FFTs of one chunk are too small
    to split well); the chunks write disjoint parts of the output."""
    t, v, nx, ny, p = plan.tile, plan.valid, plan.nx, plan.ny, plan.pad
    b = inputs[0].shape[0]
    bias = None if bias is None else bias.detach()
    c_out = spectra[0].shape[-1] // 2
    n_freq = t * (t // 2 + 1)
    out = plan.empty(b, c_out, inputs[0].dtype)
    wp = plan.wp

    def chunk(job):
        bi, r0 = job
        r = min(rows, ny - r0)
        m = r * nx
        y = None
        for x, wm in zip(inputs, spectra):
            c = x.shape[-1]
            base = x[bi]
            tiles = base.as_strided((t, t, r, nx, c), (wp * c, c, v * wp * c, v * c, 1),
                                    base.storage_offset() + r0 * v * wp * c)
            spec = scipy.fft.rfftn(tiles.numpy(), axes=(0, 1))                      # (T, T/2+1, r, nx, C)
            xs = torch.view_as_real(torch.from_numpy(spec)).view(n_freq, m, 2 * c)
            y = torch.bmm(xs, wm) if y is None else y.baddbmm_(xs, wm)              # (F, m, 2 C_out)
        yc = torch.view_as_complex(y.view(t, t // 2 + 1, r, nx, c_out, 2)).numpy()
        z = torch.from_numpy(scipy.fft.irfftn(yc, s=(t, t), axes=(0, 1), overwrite_x=True))  # (T, T, r, nx, C_out)
        zv = z[:v, :v].permute(2, 0, 3, 1, 4)                                           # (r, V, nx, V, C_out)
        rs = slice(p + r0 * v, p + (r0 + r) * v)
        cs = slice(p, p + nx * v)
        dst = out[bi, rs, cs].view(r, v, nx, v, c_out)
        if bias is not None:
            torch.add(zv, bias, out=dst)
        else:
            dst.copy_(zv)
        if negative_slope is not None:
            torch.nn.functional.leaky_relu_(dst, negative_slope)
        if residual is not None:
            dst.add_(residual[bi, rs, cs].view(r, v, nx, v, c_out))

    jobs = [(bi, r0) for bi in range(b) for r0 in range(0, ny, rows)]
    threads = torch.get_num_threads()
    if threads > 1 and len(jobs) > 1:
        inference = torch.is_inference_mode_enabled()

        def chunk_in_mode(job):  # grad / inference mode are thread-local: carry the caller's over
            with torch.inference_mode(inference), torch.no_grad():
                chunk(job)

        torch.set_num_threads(1)
        try:
            list(_pool(threads).map(chunk_in_mode, jobs))
        finally:
            torch.set_num_threads(threads)
    else:
        for job in jobs:
            chunk(job)
    return plan.zero_outside(out)


def fft_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, tile: int = TILE,
               rows: int = ROWS) -> torch.Tensor:
    """Drop-in ``F.conv2d(x, weight, bias, padding=k // 2)`` (stride 1, odd square k) by tiled FFT, for
    (B, C_in, H, W) float tensors; returns (B, C_out, H, W) in channels-last memory."""
    k = weight.shape[-1]
    if weight.shape[-2] != k or k % 2 != 1:
        raise ValueError(f"need an odd square kernel, got {tuple(weight.shape[-2:])}")
    if tile - k + 1 < 1:
        raise ValueError(f"tile {tile} too small for a {k}x{k} kernel")
    plan = TilePlan(x.shape[-2], x.shape[-1], k, tile)
    with torch.no_grad():
        out = conv2d_padded([plan.pad_nchw(x)], [spectrum_matrix(weight, tile)], plan, bias=bias, rows=rows)
    return plan.interior(out).contiguous(memory_format=torch.channels_last)
