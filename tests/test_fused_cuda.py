"""On a GPU: the fused quantizer kernels (bnnlib.fused) against the eager formulas, and a binary
layer's gradients with and without them. Skipped without CUDA (the CPU runs the same kernels
through Triton's interpreter in tests/test_binarize.py)."""

import pytest
import torch

from bnnlib import binarize, fused
from bnnlib.layers import QuantConv2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _both(monkeypatch, fn, x, up):
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("BNNLIB_FUSED", flag)
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        y.backward(up)
        out[flag] = (y.detach(), xi.grad)
    return out


@pytest.mark.parametrize("name", ["approx_sign", "ste_sign", "dorefa"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_activation_quantizers_equal_eager_in_float32(monkeypatch, name, channels_last):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(8, 16, 9, 9, device="cuda", generator=g) * 1.5
    x.view(-1)[:4] = torch.tensor([0.0, -0.0, 1.0, -1.0], device="cuda")
    up = torch.randn(8, 16, 9, 9, device="cuda", generator=g)
    if channels_last:
        x, up = (t.contiguous(memory_format=torch.channels_last) for t in (x, up))
    assert fused.available(x, up), fused.disabled_reason
    out = _both(monkeypatch, binarize.activation_quantizer(name), x, up)
    assert torch.equal(out["1"][0], out["0"][0])
    assert torch.equal(out["1"][1], out["0"][1])


def test_bfloat16_backward_within_one_rounding(monkeypatch):
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(4096, device="cuda", generator=g).to(torch.bfloat16)
    up = torch.randn(4096, device="cuda", generator=g).to(torch.bfloat16)
    exact = up.float() * (2 - 2 * x.float().abs()).clamp(min=0)
    got = fused.backward(up, x, "approx")
    assert torch.equal(got, exact.to(torch.bfloat16))  # the GPU rounds to nearest, once


def test_binary_conv_gradients_with_and_without_fusion(monkeypatch):
    torch.manual_seed(0)
    conv = QuantConv2d(16, 32, 3, padding=1, input_quantizer="approx_sign",
                       kernel_quantizer="xnor").cuda()
    x = torch.randn(4, 16, 12, 12, device="cuda")
    grads = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("BNNLIB_FUSED", flag)
        conv.zero_grad()
        xi = x.clone().requires_grad_(True)
        conv(xi).square().sum().backward()
        grads[flag] = (xi.grad.clone(), conv.weight.grad.clone())
    for a, b in zip(grads["1"], grads["0"], strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


def test_the_kernels_ran():
    """No silent fallback: the fused path was not turned off during these tests."""
    assert fused.disabled_reason is None
