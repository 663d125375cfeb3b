"""Each quantizer's forward and gradient against its formula, on a grid including the edges."""

import pytest
import torch

from bnnlib import binarize

# edges of every piece-wise definition, plus interior points
GRID = torch.tensor([-3.0, -1.5, -1.0, -0.999, -0.75, -0.5, -0.25, -1e-6, 0.0, 1e-6, 0.25,
                     0.4999, 0.5, 0.5001, 0.75, 0.999, 1.0, 1.0001, 1.5, 3.0], dtype=torch.float64)


def _sign(x):
    return torch.tensor([1.0 if v >= 0 else -1.0 for v in x.tolist()], dtype=x.dtype)


def _forward_and_grad(fn, x, upstream=None):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    upstream = torch.ones_like(y) if upstream is None else upstream
    y.backward(upstream)
    return y.detach(), x.grad


def test_sign_approx_matches_eq_3_4():
    y, g = _forward_and_grad(binarize.sign_approx, GRID)
    assert torch.equal(y, _sign(GRID))

    def d_approx(v):  # Phan et al. eq. 4, written piece by piece
        if -1 <= v < 0:
            return 2 + 2 * v
        if 0 <= v < 1:
            return 2 - 2 * v
        return 0.0

    assert torch.allclose(g, torch.tensor([d_approx(v) for v in GRID.tolist()], dtype=g.dtype))
    assert g[GRID == 0.0].item() == 2.0 and g[GRID == -1.0].item() == 0.0


def test_sign_ste_is_clipped_identity():
    y, g = _forward_and_grad(binarize.sign_ste, GRID)
    assert torch.equal(y, _sign(GRID))
    expected = torch.tensor([1.0 if abs(v) <= 1 else 0.0 for v in GRID.tolist()], dtype=g.dtype)
    assert torch.equal(g, expected)


def test_sign_of_zero_is_plus_one_and_values_are_binary():
    x = torch.randn(1000)
    x[:10] = 0.0
    x[10:20] = -0.0  # negative zero is zero: +1 as well
    x[20:30] = 1e-30
    x[30:40] = -1e-30
    for fn in (binarize.sign_approx, binarize.sign_ste):
        y = fn(x)
        assert set(y.unique().tolist()) <= {-1.0, 1.0}
        assert (y[:30] == 1).all() and (y[30:40] == -1).all()
        assert torch.equal(y, torch.where(x >= 0, 1.0, -1.0))
        assert fn(x.double()).dtype == torch.float64


def test_dorefa_activation_round_clip():
    y, g = _forward_and_grad(binarize.dorefa_activation, GRID)
    expected = torch.round(torch.clamp(GRID, 0, 1))  # round half to even, as tf.round
    assert torch.equal(y, expected)
    assert y[GRID == 0.5].item() == 0.0 and y[GRID == 0.5001].item() == 1.0
    mask = torch.tensor([1.0 if 0 <= v <= 1 else 0.0 for v in GRID.tolist()], dtype=g.dtype)
    assert torch.equal(g, mask)


def test_upstream_gradient_is_multiplied():
    up = torch.linspace(-2, 2, len(GRID), dtype=GRID.dtype)
    _, g = _forward_and_grad(binarize.sign_approx, GRID, up)
    _, g1 = _forward_and_grad(binarize.sign_approx, GRID)
    assert torch.allclose(g, up * g1)


def test_xnor_weight_per_output_channel_scale_and_gradient():
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64) * 0.8
    w[0, 0, 0, 0] = 0.0
    w[1, 0, 0, 0] = 1.0
    w[2, 0, 0, 0] = -1.5
    up = torch.randn_like(w)
    y, g = _forward_and_grad(binarize.xnor_weight, w, up)
    for o in range(6):
        alpha = w[o].abs().mean()
        assert torch.allclose(y[o], alpha * _sign(w[o].flatten()).view_as(w[o]))
    assert y[0, 0, 0, 0] > 0  # sign(0) = +1
    # gradient to the real weight: upstream * 1{|w| <= 1}, scale treated as a constant
    assert torch.allclose(g, up * (w.abs() <= 1).to(w.dtype))
    assert g[2, 0, 0, 0] == 0 and g[1, 0, 0, 0] == up[1, 0, 0, 0]


def test_xnor_scale_is_the_l2_optimum():
    # alpha = ||W||_1 / n minimises ||W - alpha sign(W)||^2 (Phan et al. eq. 6)
    w = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    b = binarize.xnor_weight(w)
    alpha = b.abs().mean()
    err = lambda a: ((w - a * torch.sign(w)) ** 2).sum()  # noqa: E731
    assert err(alpha) <= err(alpha * 1.01) and err(alpha) <= err(alpha * 0.99)


def test_dorefa_weight_layer_scale_and_identity_gradient():
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64) * 1.5
    up = torch.randn_like(w)
    y, g = _forward_and_grad(binarize.dorefa_weight, w, up)
    assert torch.allclose(y, w.abs().mean() * _sign(w.flatten()).view_as(w))
    assert torch.equal(g, up)  # straight-through, no clipping


@pytest.mark.parametrize("name, fn", [("approx_sign", binarize.sign_approx),
                                      ("ste_sign", binarize.sign_ste),
                                      ("dorefa", binarize.dorefa_activation)])
def test_a_layer_applies_the_named_activation_quantizer(name, fn):
    """A 1x1 QuantConv2d with weight 1 and real kernel outputs q(x) and passes q's gradient."""
    from bnnlib.layers import QuantConv2d

    conv = QuantConv2d(1, 1, 1, input_quantizer=name, kernel_quantizer=None).double()
    torch.nn.init.ones_(conv.weight)
    y, g = _forward_and_grad(lambda x: conv(x.view(1, 1, 1, -1)).flatten(), GRID)
    y_ref, g_ref = _forward_and_grad(fn, GRID)
    assert torch.equal(y, y_ref) and torch.equal(g, g_ref)


def test_unknown_quantizer_names_the_known_ones():
    with pytest.raises(ValueError, match="approx_sign.*dorefa"):
        binarize.activation_quantizer("tanh")
    with pytest.raises(ValueError, match="dorefa.*xnor"):
        binarize.weight_quantizer("ternary")
    assert binarize.weight_quantizer(None) is None and binarize.weight_quantizer("none") is None


_FUSED_CHECK = r"""
import os, torch
from bnnlib import binarize, fused
assert fused.available(torch.zeros(3)), "interpreter mode should allow CPU tensors"
g = torch.Generator().manual_seed(0)
for shape in [(20,), (3, 5, 7, 9), (2, 3, 4, 5)]:
    x = torch.randn(shape, generator=g) * 1.5
    x.view(-1)[:4] = torch.tensor([0.0, -0.0, 1.0, -1.0])
    if len(shape) == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    up = torch.randn(shape, generator=g).contiguous(memory_format=torch.channels_last
                                                    if len(shape) == 4 else torch.contiguous_format)
    for name in ["approx_sign", "ste_sign", "dorefa"]:
        q = binarize.activation_quantizer(name)
        outs = {}
        for flag in ("1", "0"):
            os.environ["BNNLIB_FUSED"] = flag
            xi = x.clone().requires_grad_(True)
            y = q(xi)
            y.backward(up)
            outs[flag] = (y.detach(), xi.grad)
        assert torch.equal(outs["1"][0], outs["0"][0]), (name, shape, "forward")
        assert torch.equal(outs["1"][1], outs["0"][1]), (name, shape, "backward")
    for name in ["xnor", "dorefa"]:
        q = binarize.weight_quantizer(name)
        outs = {}
        for flag in ("1", "0"):
            os.environ["BNNLIB_FUSED"] = flag
            wi = x.clone().requires_grad_(True)
            q(wi).backward(up)
            outs[flag] = wi.grad
        assert torch.equal(outs["1"], outs["0"]), (name, shape, "weight backward")
# bfloat16 input, float32 gradient (autocast's mix): surrogate in float32, product in grad's dtype
xb = torch.randn(64, generator=g).to(torch.bfloat16)
gb = torch.randn(64, generator=g).to(torch.bfloat16)
ref = gb.float() * (2 - 2 * xb.float().abs()).clamp(min=0)
# one bfloat16 rounding apart at most (Triton's interpreter truncates where a GPU rounds)
out = fused.backward(gb, xb, "approx")
assert out.dtype == torch.bfloat16
assert torch.allclose(out.float(), ref, rtol=2 ** -7, atol=0), (out, ref)
assert torch.equal(fused.forward(xb), torch.where(xb >= 0, 1.0, -1.0).to(torch.bfloat16))
try:
    fused.backward(gb, xb, "tanh")
except ValueError as e:
    assert "approx" in str(e)
else:
    raise AssertionError("unknown surrogate accepted")
assert fused.disabled_reason is None, fused.disabled_reason  # the kernels really ran
print("fused ok")
"""


def test_fused_kernels_equal_the_eager_formulas():
    """The Triton kernels (run by Triton's CPU interpreter) give exactly the eager results,
    forward and backward, for every quantizer, contiguous and channels_last."""
    pytest.importorskip("triton")
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _FUSED_CHECK], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fused ok" in out.stdout


def test_fused_path_is_off_on_cpu_without_the_interpreter(monkeypatch):
    from bnnlib import fused

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not fused.available(torch.zeros(4))


def test_scaled_sign_is_eq6_on_each_images_activations():
    """beta_n * sign(x_n) with beta_n = mean |x_n| (the optimum of eq. 6 for X = one image's
    activations); backward: beta_n times ApproxSign's derivative, beta held constant."""
    x = torch.tensor([[[-2.0, 0.5], [0.25, -0.25]], [[1.0, -1.0], [0.0, 3.0]]],
                     dtype=torch.float64).requires_grad_(True)
    y = binarize.activation_quantizer("approx_sign_scaled")(x)
    beta = torch.tensor([0.75, 1.25], dtype=torch.float64).view(2, 1, 1)
    assert torch.equal(y.detach(), beta * _sign(x.detach().flatten()).view(2, 2, 2))
    y.sum().backward()
    d = (2 - 2 * x.detach().abs()).clamp(min=0)
    assert torch.allclose(x.grad, beta * d)
    # least squares: no other scale fits one image's activations better
    for scale in (0.7, 0.8):
        assert ((x[0] - scale * y[0].sign()) ** 2).sum() > ((x[0] - y[0]) ** 2).sum()
