"""p4 group convolutions: exact equivariance (float64) and agreement with a naive reference.

The reference below is written from the paper's Eq. 2-3 with NumPy loops (np.rot90, explicit sums over
rotations, orientations, channels and kernel offsets) and shares no code with ``derain_lib.layers.gconv``.
"""
import numpy as np
import pytest
import torch

from derain_lib.layers.gconv import OrientationPool, P4ConvP4, P4ConvZ2


# ---------------------------------------------------------------- independent reference (NumPy, loops)
def _correlate_same(img: np.ndarray, ker: np.ndarray) -> np.ndarray:
    """2-D cross-correlation with zero 'same' padding: out(x) = sum_y img(x + y) ker(y)."""
    k = ker.shape[0]
    p = k // 2
    h, w = img.shape
    padded = np.zeros((h + 2 * p, w + 2 * p))
    padded[p:p + h, p:p + w] = img
    out = np.zeros((h, w))
    for i in range(k):
        for j in range(k):
            out += ker[i, j] * padded[i:i + h, j:j + w]
    return out


def naive_p4convz2(x, weight, bias):
    """Eq. 2: out[b, o, r] = sum_c x[b, c] (*) rot^r(w[o, c]) + bias[o]."""
    B, C, H, W = x.shape
    O = weight.shape[0]
    out = np.zeros((B, O, 4, H, W))
    for b in range(B):
        for o in range(O):
            for r in range(4):
                for c in range(C):
                    out[b, o, r] += _correlate_same(x[b, c], np.rot90(weight[o, c], r))
                out[b, o, r] += bias[o]
    return out


def naive_p4convp4(x, weight, bias):
    """Eq. 3: out[b, o, r] = sum_{c, s} x[b, c, s] (*) rot^r(w[o, c, (s - r) mod 4]) + bias[o]."""
    B, C, _S, H, W = x.shape
    O = weight.shape[0]
    out = np.zeros((B, O, 4, H, W))
    for b in range(B):
        for o in range(O):
            for r in range(4):
                for c in range(C):
                    for s in range(4):
                        out[b, o, r] += _correlate_same(x[b, c, s], np.rot90(weight[o, c, (s - r) % 4], r))
                out[b, o, r] += bias[o]
    return out


# ---------------------------------------------------------------- group action, written out in the test
def rot_img(x, k=1):
    return torch.rot90(x, k, dims=(-2, -1))


def rot_p4(y, k=1):
    """Rotate every map by k quarter turns and roll the orientation axis (dim 2) forward by k."""
    return torch.rot90(torch.roll(y, shifts=k, dims=2), k, dims=(-2, -1))


SIZES = [(9, 9), (8, 8), (7, 10), (6, 11)]


def _layer(cls, cin, cout, k, seed=0):
    torch.manual_seed(seed)
    layer = cls(cin, cout, k).double()
    with torch.no_grad():
        layer.bias.normal_()  # non-zero bias so that its placement is tested too
    return layer


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("turns", [1, 2, 3])
def test_p4convz2_equivariance(k, hw, turns):
    layer = _layer(P4ConvZ2, 3, 4, k)
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (2, 4, 4, *hw)
    y_rot = layer(rot_img(x, turns))
    torch.testing.assert_close(y_rot, rot_p4(y, turns), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("turns", [1, 2, 3])
def test_p4convp4_equivariance(k, hw, turns):
    layer = _layer(P4ConvP4, 3, 5, k)
    x = torch.randn(2, 3, 4, *hw, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (2, 5, 4, *hw)
    torch.testing.assert_close(layer(rot_p4(x, turns)), rot_p4(y, turns), rtol=0, atol=1e-12)


def test_orientation_axis_is_not_trivially_invariant():
    """The test above could pass for a layer whose 4 orientation maps were identical up to rotation of a
    symmetric filter; check that the roll actually matters (the maps differ and rolling the other way fails)."""
    layer = _layer(P4ConvP4, 2, 3, 3)
    x = torch.randn(1, 2, 4, 8, 8, dtype=torch.float64)
    y, y_rot = layer(x), layer(rot_p4(x))
    wrong = torch.rot90(torch.roll(y, shifts=-1, dims=2), 1, dims=(-2, -1))
    assert (y_rot - wrong).abs().max() > 1e-3
    assert (y_rot - rot_img(y)).abs().max() > 1e-3  # spatial rotation alone is not enough


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("hw", [(7, 7), (6, 9)])
def test_p4convz2_matches_naive(k, hw):
    layer = _layer(P4ConvZ2, 2, 3, k, seed=1)
    x = torch.randn(2, 2, *hw, dtype=torch.float64)
    ref = naive_p4convz2(x.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy())
    np.testing.assert_allclose(layer(x).detach().numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("hw", [(7, 7), (6, 9)])
def test_p4convp4_matches_naive(k, hw):
    layer = _layer(P4ConvP4, 2, 3, k, seed=2)
    x = torch.randn(2, 2, 4, *hw, dtype=torch.float64)
    ref = naive_p4convp4(x.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy())
    np.testing.assert_allclose(layer(x).detach().numpy(), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("hw", [(9, 9), (8, 10)])
def test_orientation_pooling_invariance(mode, hw):
    z2, p4 = _layer(P4ConvZ2, 3, 4, 5), _layer(P4ConvP4, 4, 4, 3, seed=3)
    pool = OrientationPool(mode)
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    f = lambda t: pool(p4(torch.relu(z2(t))))
    y = f(x)
    assert y.shape == (2, 4, *hw)
    for turns in (1, 2, 3):
        torch.testing.assert_close(f(rot_img(x, turns)), rot_img(y, turns), rtol=0, atol=1e-12)


def test_parameter_counts_and_bias_per_regular_channel():
    z2, p4 = P4ConvZ2(3, 10, 5), P4ConvP4(10, 10, 5)
    assert sum(p.numel() for p in z2.parameters()) == 10 * 3 * 25 + 10 == 760
    assert sum(p.numel() for p in p4.parameters()) == 10 * 10 * 4 * 25 + 10 == 10010
    assert z2.bias.shape == (10,) and p4.bias.shape == (10,)


def test_even_kernel_and_bad_input_raise():
    with pytest.raises(ValueError, match="odd"):
        P4ConvP4(2, 2, 4)
    with pytest.raises(ValueError, match=r"\(B, 2, 4, H, W\)"):
        P4ConvP4(2, 2, 3)(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="P4ConvZ2"):
        P4ConvZ2(3, 2, 3)(torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError):
        OrientationPool("median")


def test_filter_bank_cache():
    layer = _layer(P4ConvP4, 2, 3, 3)
    x = torch.randn(1, 2, 4, 6, 6, dtype=torch.float64)
    layer.train()
    assert layer.filter_bank() is not layer.filter_bank()  # training: recomputed every call
    layer.eval()
    with torch.no_grad():
        bank = layer.filter_bank()
        assert layer.filter_bank() is bank  # eval + no grad: cached
        y0 = layer(x)
        layer.weight.add_(0.5)  # in-place change (as an optimizer step) invalidates the cache
        assert layer.filter_bank() is not bank
        y1 = layer(x)
    layer.train()
    y_ref = layer(x).detach()
    torch.testing.assert_close(y1, y_ref)
    assert (y0 - y1).abs().max() > 1e-3
    # state_dict loading also invalidates
    layer.eval()
    with torch.no_grad():
        layer(x)
        layer.load_state_dict({"weight": torch.zeros_like(layer.weight), "bias": torch.zeros(3, dtype=torch.float64)})
        assert layer(x).abs().max() == 0
    # device / dtype move invalidates (dtype here; a CUDA move changes data_ptr and device the same way)
    with torch.no_grad():
        layer.float()
        assert layer(x.float()).dtype == torch.float32
    # eval mode with gradients still reaches the weight (the cache is bypassed)
    layer.eval()
    layer(x.float()).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
