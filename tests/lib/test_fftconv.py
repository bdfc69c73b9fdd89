"""Tiled FFT convolution (derain_lib.layers.fftconv) against F.conv2d, and the DSEN / S-DSEN eval path that uses it
against the reference ``_Body.forward``.  Correctness only: speed is measured in lab/benchmarks/bench_dsen.py."""
import pytest
import torch
import torch.nn.functional as F

from derain_lib.layers import fftconv
from derain_lib.models.registry import build_model


@pytest.fixture
def threads():
    before = torch.get_num_threads()

    def set_threads(n):
        torch.set_num_threads(n)
    yield set_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("h,w,c_in,c_out,tile,rows", [
    (7, 5, 6, 4, 8, 1),        # tiny, odd, smaller than one tile
    (1, 1, 3, 2, 8, 2),        # a single pixel
    (33, 29, 16, 8, 16, 1),    # not tile multiples
    (61, 45, 80, 40, 32, 2),   # the S-DSEN layer shape, partial last tile row / column
    (56, 28, 40, 40, 32, 1),   # exact multiples of the valid size 28
    (29, 57, 40, 10, 24, 100),  # one chunk for everything
])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fft_conv_matches_conv2d(h, w, c_in, c_out, tile, rows, n_threads, threads):
    threads(n_threads)
    g = torch.Generator().manual_seed(h * 1000 + w)
    x = torch.rand(2, c_in, h, w, generator=g)
    weight = torch.randn(c_out, c_in, 5, 5, generator=g) / (5 * c_in ** 0.5)
    bias = torch.randn(c_out, generator=g)
    y = fftconv.fft_conv2d(x, weight, bias, tile=tile, rows=rows)
    ref = F.conv2d(x, weight, bias, padding=2)
    assert y.shape == ref.shape
    assert (y - ref).abs().max().item() <= 1e-4


def test_fft_conv_3x3_and_padded_buffers_keep_a_zero_border():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 12, 19, 23, generator=g)
    weight = torch.randn(5, 12, 3, 3, generator=g) * 0.1
    assert (fftconv.fft_conv2d(x, weight, tile=8) - F.conv2d(x, weight, padding=1)).abs().max() <= 1e-4
    plan = fftconv.TilePlan(19, 23, 5, 16)
    buf = fftconv.conv2d_padded([plan.pad_nchw(x)], [fftconv.spectrum_matrix(torch.randn(4, 12, 5, 5), 16)], plan,
                                bias=torch.ones(4), negative_slope=0.2)
    inner = torch.zeros_like(buf, dtype=torch.bool)
    inner[:, 2:21, 2:25] = True
    assert buf[~inner].abs().max() == 0 and buf[inner].abs().min() > 0
    assert plan.buffer_of(plan.interior(buf)) is buf
    assert plan.buffer_of(plan.interior(buf).contiguous()) is None


def test_fft_conv_fused_epilogue_and_two_inputs():
    """residual + lrelu(conv(a; W_a) + conv(b; W_b) + bias) == the same on the concatenation, directly."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(1, 8, 37, 31, generator=g), torch.rand(1, 8, 37, 31, generator=g)
    weight = torch.randn(8, 16, 5, 5, generator=g) * 0.1
    bias = torch.randn(8, generator=g)
    plan = fftconv.TilePlan(37, 31, 5, 16)
    pa, pb = plan.pad_nchw(a), plan.pad_nchw(b)
    out = fftconv.conv2d_padded([pa, pb], [fftconv.spectrum_matrix(weight[:, :8], 16),
                                           fftconv.spectrum_matrix(weight[:, 8:], 16)], plan, bias, 0.2, residual=pa)
    ref = a + F.leaky_relu(F.conv2d(torch.cat([a, b], 1), weight, bias, padding=2), 0.2)
    assert (plan.interior(out) - ref).abs().max() <= 1e-4


@pytest.mark.parametrize("tile,k", [(32, 5), (16, 3), (9, 5)])
def test_dft_gemm_spectrum_matches_torch_fft(tile, k):
    """fftconv.spectrum (two real GEMMs per tile row) == torch.fft.rfft2 of every tile (half spectrum along rows)."""
    g = torch.Generator().manual_seed(tile)
    plan = fftconv.TilePlan(61, 90, k, tile)
    buf = plan.pad_nchw(torch.rand(2, 6, 61, 90, generator=g))
    s = fftconv.spectrum(buf, plan)                                  # (B, ny, nx, F, 2C), (re/im, C)
    nh, v = tile // 2 + 1, plan.valid
    assert s.shape == (2, plan.ny, plan.nx, nh * tile, 12)
    for ty, tx in [(0, 0), (plan.ny - 1, plan.nx - 1), (1, 2)]:
        t = buf[:, ty * v:ty * v + tile, tx * v:tx * v + tile].double()
        ref = torch.fft.rfft2(t, dim=(2, 1)).reshape(2, nh * tile, 6)  # (B, (u, v), C)
        got = s[:, ty, tx].double()
        assert (got[..., :6] - ref.real).abs().max() <= 1e-4 and (got[..., 6:] - ref.imag).abs().max() <= 1e-4
    assert (fftconv.spectrum(buf, plan, out=torch.full_like(s, 7.0)) - s).abs().max() == 0


def test_precomputed_spectrum_input_equals_spatial_input():
    g = torch.Generator().manual_seed(5)
    plan = fftconv.TilePlan(45, 38, 5, 16)
    a, b = plan.pad_nchw(torch.rand(1, 8, 45, 38, generator=g)), plan.pad_nchw(torch.rand(1, 8, 45, 38, generator=g))
    w = [fftconv.spectrum_matrix(torch.randn(4, 8, 5, 5, generator=g) * 0.1, 16) for _ in range(2)]
    bias = torch.randn(4, generator=g)
    ref = fftconv.conv2d_padded([a, b], w, plan, bias, 0.2, rows=2)
    out = plan.empty(1, 4)
    got = fftconv.conv2d_padded([fftconv.spectrum(a, plan), b], w, plan, bias, 0.2, rows=3, out=out)
    assert got is out and (got - ref).abs().max() <= 1e-5


def test_chunk_rows_rule():
    assert fftconv.chunk_rows(12, 1, 1, nx=18) == 12     # 481 x 321 at 1 thread: one chunk
    assert fftconv.chunk_rows(12, 1, 2, nx=18) == 6      # 2 threads: 2 chunks
    assert fftconv.chunk_rows(13, 1, 2, nx=18) == 7
    assert fftconv.chunk_rows(50, 1, 2, nx=70) == 5      # 4 MP: 10 chunks of at most 384 tiles
    assert fftconv.chunk_rows(1, 1, 2) == 1 and fftconv.chunk_rows(40, 2, 2, nx=5) == 40


def test_sdsen_spectrum_reuse_is_exact_and_checked(monkeypatch):
    """S-DSEN keeps each layer input's spectrum for the next stage's link: same output as transforming again,
    and a feature changed in place (or any other tensor) is transformed anew."""
    monkeypatch.setattr(fftconv, "MIN_PIXELS", 0)
    from derain_lib.models import dsen
    m = _random_model("sdsen", stages=3)
    x = torch.rand(1, 3, 41, 30)
    calls = []
    spectrum = fftconv.spectrum
    monkeypatch.setattr(fftconv, "spectrum", lambda *a, **k: calls.append(1) or spectrum(*a, **k))
    with torch.no_grad():
        y = m(x)
        assert len(calls) == 3 * 3  # h_1..h_3 of each stage, each transformed once
        monkeypatch.setattr(dsen, "_keep_spectra", lambda *a: False)
        assert (m(x) - y).abs().max() <= 1e-6
        monkeypatch.undo()
        monkeypatch.setattr(fftconv, "MIN_PIXELS", 0)
        body = m.body
        _, feats, _ = body.forward_fast(x)
        assert all("_fft_spectrum" in f.__dict__ for f in feats[:3])
        feats[0].mul_(0.5)  # in place: the attached spectrum is stale
        ref = body(x, [f.contiguous().view(1, -1, 4, 41, 30) for f in feats])[0]  # the reference path
        got = body.forward_fast(x, feats)[0]
        assert (got - ref).abs().max() <= 1e-4
    monkeypatch.setattr(fftconv, "spectrum", lambda *a, **k: calls.append(1) or spectrum(*a, **k))
    with torch.inference_mode():  # derain()'s mode: inference tensors have no version counter
        calls.clear()
        assert (m(x) - y).abs().max() <= 1e-6 and len(calls) == 9


def test_the_rule():
    assert fftconv.use_fft(80, 40, 5, 321, 481) and fftconv.use_fft(40, 40, 5, 321, 481)
    assert not fftconv.use_fft(3, 40, 5, 321, 481)     # the head
    assert not fftconv.use_fft(40, 10, 5, 321, 481)    # the aggregation
    assert not fftconv.use_fft(80, 40, 5, 97, 65)      # small image
    assert not fftconv.use_fft(80, 40, 5, 2000, 7)     # narrower than one tile
    assert not fftconv.use_fft(80, 40, 1, 321, 481)    # 1x1


def _random_model(name, **cfg):
    torch.manual_seed(3)
    m = build_model(name, **cfg).eval()
    with torch.no_grad():  # realistic scale: unit-gain layers, a rain layer of a few tenths
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, (2.0 / p[0].numel()) ** 0.5 * 0.5)
            else:
                p.normal_(0, 0.02)
    return m


@pytest.mark.parametrize("name,cfg,n_threads", [("sdsen", {}, 1), ("dsen", {}, 1), ("dsen", {}, 2),
                                                ("sdsen", {"link": "add", "stages": 3}, 1)])
def test_fast_path_with_fft_matches_the_reference(name, cfg, n_threads, threads, monkeypatch):
    monkeypatch.setattr(fftconv, "MIN_PIXELS", 0)  # exercise the FFT route at a small odd size
    threads(n_threads)
    m = _random_model(name, **cfg)
    x = torch.rand(1, 3, 37, 45)
    assert m.body._fft_plan(x) is not None
    with torch.no_grad():
        body = m.body
        y, prev = x, None
        for _ in range(getattr(m.config, "stages", 1)):
            rain, feats, _ = body(y, prev if body.link != "none" else None)  # the reference path
            y, prev = y - rain, feats
        fast = m(x)
    assert fast.shape == y.shape and fast.is_contiguous()
    assert (y - x).abs().max() > 1e-2  # a non-trivial rain layer
    assert (fast - y).abs().max().item() <= 1e-4
    if name == "dsen":
        with torch.no_grad():
            _, st = m(x, return_stages=True)
            ref_feats = body(x)[1][-1]
        assert st["features"].shape == ref_feats.shape == (1, 10, 4, 37, 45)
        assert (st["features"] - ref_feats).abs().max() <= 1e-4


def test_small_images_and_training_keep_the_direct_paths():
    m = _random_model("sdsen", stages=2)
    x = torch.rand(1, 3, 7, 5)
    assert m.body._fft_plan(x) is None
    with torch.no_grad():
        assert m(x).shape == x.shape
    m.train()
    y = m(torch.rand(1, 3, 9, 11))
    y.mean().backward()  # the training path is the reference one, with gradients
    assert m.body.layers[0].weight.grad is not None


def test_spectra_cache_follows_the_weights(monkeypatch):
    monkeypatch.setattr(fftconv, "MIN_PIXELS", 0)
    m = _random_model("dsen")
    x = torch.rand(1, 3, 33, 31)
    with torch.no_grad():
        m(x)
        m.body.layers[2].weight.mul_(1.5)  # in-place change: the cached spectra must not be reused
        ref = x - m.body(x)[0]
        assert (m(x) - ref).abs().max() <= 1e-4
