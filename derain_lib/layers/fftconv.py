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
``Wp = nx V + k - 1`` cover whole tiles.  Tiles are then just a strided view of the buffer (no unfold copy).
The 32-point transforms are dense real DFT matrices applied as matrix multiplies (:func:`dft_matrices`): about
10x the FLOPs of an FFT, but at GEMM speed, where pocketfft (``scipy.fft``, an earlier version) ran 32-point
transforms at 2-3 GFLOP/s and took two thirds of the time.  They leave the spectra as ``(T, T/2 + 1, tiles, C)``,
exactly the ``(frequency, tiles, C_in)`` batch
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

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

__all__ = [
    "MAX_CHUNK_TILES",
    "TILE",
    "TilePlan",
    "conv2d_padded",
    "dft_matrices",
    "fft_conv2d",
    "spectrum",
    "spectrum_matrix",
    "use_fft",
]

TILE = 32      # FFT tile side (valid outputs per tile: TILE - k + 1 = 28 for 5x5 filters)
MAX_CHUNK_TILES = 384  # tiles per chunk at most (see chunk_rows): scratch <= 384 x 544 x 2 C_out floats
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


def dft_matrices(tile: int, k: int, dtype=torch.float32):
    """The real DFT matrices of the tiled transforms (float64-built, cached), for ``T = tile``, ``V = T - k + 1``,
    ``nh = T // 2 + 1`` (half spectrum along the tile rows, full along the columns):

    * ``d`` (2 nh, T): real forward DFT along the tile rows, output rows ``(u, re/im)``;
    * ``e`` (2 T, 2 T): complex forward DFT along the columns, ``[(v, re/im out), (re/im in, j)]``;
    * ``g`` (2 V, 2 T): complex inverse DFT along the columns, only the ``V`` valid outputs,
      ``[(re/im out, j'), (v, re/im in)]``;
    * ``hm`` (V, 2 nh): real (Hermitian half-spectrum) inverse along the rows, valid outputs only, with the
      ``1 / T^2`` normalisation."""
    key = (tile, k, dtype)
    m = _MATS.get(key)
    if m is not None:
        return m
    t, v, nh = tile, tile - k + 1, tile // 2 + 1
    i = torch.arange(t, dtype=torch.float64)
    u = torch.arange(nh, dtype=torch.float64)
    th = 2 * math.pi * torch.outer(u, i) / t                        # (nh, T)
    d = torch.stack([th.cos(), -th.sin()], 1).reshape(2 * nh, t)
    ph = 2 * math.pi * torch.outer(i, i) / t                        # (v, j)
    c, s = ph.cos(), ph.sin()
    e = torch.empty(t, 2, 2, t, dtype=torch.float64)
    e[:, 0, 0], e[:, 0, 1], e[:, 1, 0], e[:, 1, 1] = c, s, -s, c      # e^{-i phi} (x_re + i x_im)
    cj, sj = c[:, :v].T, s[:, :v].T                                 # (j', v)
    g = torch.empty(2, v, t, 2, dtype=torch.float64)
    g[0, :, :, 0], g[0, :, :, 1], g[1, :, :, 0], g[1, :, :, 1] = cj, -sj, sj, cj  # e^{+i phi} (y_re + i y_im)
    wt = torch.full((nh,), 2.0, dtype=torch.float64)                # Hermitian weights: 1 for DC (and Nyquist)
    wt[0] = 1
    if t % 2 == 0:
        wt[-1] = 1
    ps = 2 * math.pi * torch.outer(i[:v], u) / t                    # (i', u)
    hm = torch.stack([ps.cos() * wt, -ps.sin() * wt], 2).reshape(v, 2 * nh) / (t * t)
    m = tuple(q.to(dtype).contiguous() for q in (d, e.reshape(2 * t, 2 * t), g.reshape(2 * v, 2 * t), hm))
    _MATS[key] = m
    return m


_MATS: dict = {}


def spectrum_matrix(weight: torch.Tensor, tile: int = TILE) -> torch.Tensor:
    """Filter spectra for :func:`conv2d_padded`: (C_out, C_in, k, k) -> (F, 2 C_in, 2 C_out) real,
    ``F = (T/2 + 1) T`` frequencies ``(u, v)`` (half spectrum along the rows), rows ``(re/im, C_in)``, columns
    ``(re/im, C_out)``.

    ``F.conv2d`` is a cross-correlation, so the tile spectrum is multiplied by the *conjugate* filter spectrum
    ``s``; complex products ``y = x s`` on (re, im) halves are the real block matrix
    ``[y_re, y_im] = [x_re, x_im] @ [[re s, im s], [-im s, re s]]``."""
    c_out, c_in, k, _ = weight.shape
    wp = torch.zeros(tile, tile, c_in, c_out, dtype=torch.float64)
    wp[:k, :k] = weight.detach().double().permute(2, 3, 1, 0)
    s = torch.fft.rfft2(wp, dim=(1, 0)).conj().reshape(-1, c_in, c_out)  # (F, C_in, C_out), half along dim 0
    m = torch.empty(s.shape[0], 2, c_in, 2, c_out, dtype=torch.float64)
    m[:, 0, :, 0] = s.real
    m[:, 0, :, 1] = s.imag
    m[:, 1, :, 0] = -s.imag
    m[:, 1, :, 1] = s.real
    return m.reshape(s.shape[0], 2 * c_in, 2 * c_out).to(weight.dtype).contiguous()


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers != n:
        # each worker runs its jobs single-threaded (OpenMP / MKL thread counts are per calling thread)
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fftconv",
                                   initializer=torch.set_num_threads, initargs=(1,))
    return _POOL


_POOL: ThreadPoolExecutor | None = None
_TLS = threading.local()


def _scratch(name: str, shape: tuple, dtype) -> torch.Tensor:
    """A per-thread scratch buffer, reused from call to call (no per-chunk allocations / page faults)."""
    bufs = _TLS.__dict__.setdefault("bufs", {})
    t = bufs.get(name)
    if t is None or t.dtype != dtype or t.numel() < math.prod(shape):
        t = bufs[name] = torch.empty(math.prod(shape), dtype=dtype)
    return t[:math.prod(shape)].view(shape)


def _run(fn, jobs) -> None:
    """Run ``fn(job)`` for every job, spread over ``torch.get_num_threads()`` single-threaded workers (not
    torch's intra-op threads: on a busy machine their spinning barriers made S-DSEN 5-10x slower)."""
    threads = torch.get_num_threads()
    if threads > 1 and len(jobs) > 1:
        inference = torch.is_inference_mode_enabled()

        def in_mode(job):  # grad / inference mode are thread-local: carry the caller's over
            with torch.inference_mode(inference), torch.no_grad():
                fn(job)

        torch.set_num_threads(1)
        try:
            list(_pool(threads).map(in_mode, jobs))
        finally:
            torch.set_num_threads(threads)
    else:
        for job in jobs:
            fn(job)


def _row_spectrum(xb: torch.Tensor, plan: TilePlan, ty: int, out: torch.Tensor) -> None:
    """Spectra of the ``nx`` tiles of tile row ``ty`` of one padded image ``xb`` (Hp, Wp, C) into ``out``
    (nx, F, 2C): two GEMMs, ``d @ tile`` for all columns and channels at once (read straight from the buffer),
    then ``e @`` for each (tile, u)."""
    t, v, nx, wp, c = plan.tile, plan.valid, plan.nx, plan.wp, xb.shape[-1]
    nh = t // 2 + 1
    d, e, _, _ = dft_matrices(t, plan.k, xb.dtype)
    x = xb.as_strided((nx, t, t * c), (v * c, wp * c, 1), xb.storage_offset() + ty * v * wp * c)
    tmp = _scratch("rows", (nx, 2 * nh, t * c), xb.dtype)
    torch.matmul(d, x, out=tmp)                                       # (nx, (u, re/im), (j, C))
    torch.matmul(e, tmp.view(nx * nh, 2 * t, c), out=out.view(nx * nh, 2 * t, c))  # (nx, u, (v, re/im), C)


def spectrum(x: torch.Tensor, plan: TilePlan, out: torch.Tensor | None = None) -> torch.Tensor:
    """Tile spectra of a padded buffer (B, Hp, Wp, C): (B, ny, nx, F, 2C), frequencies ``(u, v)`` and
    ``(re/im, C)`` as in :func:`spectrum_matrix`; what :func:`conv2d_padded` computes per chunk, kept whole so
    that an input used by several convolutions is transformed once.  ``out``: a buffer of that shape to reuse."""
    b, c = x.shape[0], x.shape[-1]
    f = (plan.tile // 2 + 1) * plan.tile
    if out is None:
        out = torch.empty(b, plan.ny, plan.nx, f, 2 * c, dtype=x.dtype)
    _run(lambda job: _row_spectrum(x[job[0]], plan, job[1], out[job[0], job[1]]),
         [(bi, ty) for bi in range(b) for ty in range(plan.ny)])
    return out


def chunk_rows(ny: int, b: int = 1, threads: int | None = None, nx: int = 1) -> int:
    """Tile rows per chunk of :func:`conv2d_padded` (fixed rule): as few chunks as possible (the per-frequency
    GEMMs get all of a chunk's tiles as rows; whole image at 1 thread runs about 10 % faster than 6-row
    chunks), each at most ``MAX_CHUNK_TILES`` tiles (bounds the scratch memory), and, for a single image, a
    multiple of the thread count (each thread runs whole chunks, none idle at the end)."""
    threads = torch.get_num_threads() if threads is None else threads
    k = -(-ny * max(nx, 1) // MAX_CHUNK_TILES)
    if b == 1 and threads > 1:
        k = min(ny, -(-max(k, threads) // threads) * threads)
    return -(-ny // max(k, 1))


def conv2d_padded(inputs: list[torch.Tensor], spectra: list[torch.Tensor], plan: TilePlan,
                  bias: torch.Tensor | None = None, negative_slope: float | None = None,
                  residual: torch.Tensor | None = None, rows: int | None = None,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """``out = residual + act(sum_i conv(inputs[i]; W_i) + bias)`` on padded buffers, by tiled FFT.

    inputs: padded buffers (B, Hp, Wp, C_i) of ``plan``, or their :func:`spectrum` (B, ny, nx, F, 2 C_i);
    spectra: :func:`spectrum_matrix` of each ``W_i`` (C_out, C_i, k, k) for ``plan.tile``;
    ``negative_slope``: LeakyReLU slope (None: no activation); residual: a padded buffer (B, Hp, Wp, C_out)
    added after the activation; rows: tile rows per chunk (default :func:`chunk_rows`); out: a padded buffer
    (B, Hp, Wp, C_out) with a zero border to write into (not one of the inputs; default: a new one).  Returns the
    output padded buffer.

    The bias is added to the DC coefficient of every tile (a constant per channel).  With
    ``torch.get_num_threads() > 1`` the chunks (``rows`` tile rows of one image each) are spread over that
    many threads, each running its chunk single-threaded; the chunks write disjoint parts of the output."""
    t, v, nx, ny, p, wp = plan.tile, plan.valid, plan.nx, plan.ny, plan.pad, plan.wp
    nh = t // 2 + 1
    n_freq = nh * t
    b = inputs[0].shape[0]
    dtype = inputs[0].dtype
    bias = None if bias is None else bias.detach()
    c_out = spectra[0].shape[-1] // 2
    out = plan.empty(b, c_out, dtype) if out is None else out
    _, _, g, hm = dft_matrices(t, plan.k, dtype)
    rows = chunk_rows(ny, b, nx=nx) if rows is None else rows

    def chunk(job):
        bi, r0 = job
        r = min(rows, ny - r0)
        m = r * nx
        y = _scratch("y", (m, n_freq, 2 * c_out), dtype)
        yf = y.transpose(0, 1)                                          # (F, m, 2 C_out) view
        for n, (x, wm) in enumerate(zip(inputs, spectra)):
            if x.dim() == 5:                                            # a precomputed spectrum
                xs = x[bi, r0:r0 + r].reshape(m, n_freq, x.shape[-1])
            else:
                xs = _scratch("x", (m, n_freq, 2 * x.shape[-1]), dtype)
                for q in range(r):
                    _row_spectrum(x[bi], plan, r0 + q, xs[q * nx:(q + 1) * nx])
            if n == 0:
                torch.bmm(xs.transpose(0, 1), wm, out=yf)               # channel mixing, per frequency
            else:
                yf.baddbmm_(xs.transpose(0, 1), wm)
        if bias is not None:
            y[:, 0, :c_out] += bias * (t * t)                           # DC term: a constant per tile
        z = _scratch("z", (nx * nh, 2 * v, c_out), dtype)
        ob = out[bi]
        for q in range(r):
            torch.matmul(g, y[q * nx:(q + 1) * nx].view(nx * nh, 2 * t, c_out), out=z)   # (nx, u, (re/im, j'), C)
            dst = ob.as_strided((nx, v, v * c_out), (v * c_out, wp * c_out, 1),
                                ob.storage_offset() + (p + (r0 + q) * v) * wp * c_out + p * c_out)
            torch.matmul(hm, z.view(nx, 2 * nh, v * c_out), out=dst)    # the valid V x V outputs, in place
            if negative_slope is not None or residual is not None:     # epilogue while the row is in cache
                rs, cs = slice(p + (r0 + q) * v, p + (r0 + q + 1) * v), slice(p, p + nx * v)
                dst = ob[rs, cs]
                if negative_slope is not None:
                    torch.nn.functional.leaky_relu_(dst, negative_slope)
                if residual is not None:
                    dst.add_(residual[bi, rs, cs])

    _run(chunk, [(bi, r0) for bi in range(b) for r0 in range(0, ny, rows)])
    return plan.zero_outside(out)


def fft_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, tile: int = TILE,
               rows: int | None = None) -> torch.Tensor:
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
