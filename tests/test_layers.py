"""The quantized conv equals a float conv fed the quantized input and the scaled sign weight."""

import pytest
import torch
import torch.nn.functional as F

from bnnlib.layers import QuantConv2d


def _sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


CASES = [  # (cin, cout, k, stride, padding, groups)
    (8, 16, 3, 1, 1, 1),
    (8, 16, 3, 2, 1, 4),   # grouped, strided
    (12, 12, 3, 1, 1, 12),  # depthwise
    (12, 24, 1, 1, 0, 3),  # grouped 1x1
    (6, 6, 3, 2, 0, 2),
]


@pytest.mark.parametrize("cin,cout,k,stride,padding,groups", CASES)
def test_xnor_conv_equals_float_conv_on_binarized_operands(cin, cout, k, stride, padding, groups):
    conv = QuantConv2d(cin, cout, k, stride, padding, groups, input_quantizer="approx_sign",
                       kernel_quantizer="xnor")
    x = torch.randn(2, cin, 9, 9)
    w = conv.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = F.conv2d(_sign(x), alpha * _sign(w), stride=stride, padding=padding, groups=groups)
    assert torch.allclose(conv(x), expected, atol=1e-5)
    assert conv.is_binary and conv.binary_weights


@pytest.mark.parametrize("cin,cout,k,stride,padding,groups", CASES)
def test_dorefa_conv_equals_float_conv_on_quantized_operands(cin, cout, k, stride, padding, groups):
    conv = QuantConv2d(cin, cout, k, stride, padding, groups, input_quantizer="dorefa",
                       kernel_quantizer="dorefa")
    x = torch.randn(2, cin, 9, 9)
    w = conv.weight.detach()
    expected = F.conv2d((x > 0.5).float(), w.abs().mean() * _sign(w), stride=stride,
                        padding=padding, groups=groups)
    assert torch.allclose(conv(x), expected, atol=1e-5)


def test_real_twin_is_relu_then_real_conv():
    conv = QuantConv2d(4, 8, 3, 1, 1, 2, input_quantizer="relu", kernel_quantizer=None)
    x = torch.randn(2, 4, 7, 7)
    assert torch.allclose(conv(x), F.conv2d(F.relu(x), conv.weight, padding=1, groups=2), atol=1e-6)
    assert not conv.is_binary and not conv.binary_weights


def test_binary_weights_with_real_activations_are_not_binary_macs():
    conv = QuantConv2d(4, 8, 3, input_quantizer=None, kernel_quantizer="xnor")
    assert conv.binary_weights and not conv.is_binary


def test_input_gradient_is_chain_rule_through_approx_sign():
    conv = QuantConv2d(4, 8, 3, 1, 1, 2)
    x = (torch.rand(2, 4, 5, 5) * 3 - 1.5).requires_grad_(True)
    conv(x).sum().backward()
    # reference: gradient w.r.t. the binary input of a float conv, times dA/dx = max(2 - 2|x|, 0)
    xb = _sign(x.detach()).requires_grad_(True)
    w = conv.weight.detach()
    F.conv2d(xb, w.abs().mean(dim=(1, 2, 3), keepdim=True) * _sign(w), padding=1, groups=2).sum().backward()
    expected = xb.grad * (2 - 2 * x.detach().abs()).clamp(min=0)
    assert torch.allclose(x.grad, expected, atol=1e-5)
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_unknown_input_quantizer():
    with pytest.raises(ValueError, match="relu"):
        QuantConv2d(4, 4, 3, input_quantizer="sigmoid")
