"""Quantizers with custom (surrogate) gradients, as used by the two papers.

Each quantizer is a plain function ``q(x) -> tensor`` backed by a small
``torch.autograd.Function`` whose forward and backward are written below as formulas.
Sign convention everywhere: ``sign(x) = +1 if x >= 0 else -1`` (zero maps to +1, unlike
``torch.sign``), so a binary tensor only holds the two values {-1, +1}.

Activation quantizers
    ``sign_approx``        sign forward, Bi-Real ApproxSign backward (Phan et al. eq. 3-4)
    ``sign_approx_scaled`` the same times a per-image scale (Phan et al. eq. 6 on activations)
    ``sign_ste``           sign forward, clipped straight-through backward
    ``dorefa_activation``  round(clip(x, 0, 1)) forward, straight-through on [0, 1] (Shen eq. 1)

Weight quantizers
    ``xnor_weight``        alpha * sign(W), alpha = mean |W| per output channel (Phan eq. 6)
    ``dorefa_weight``      E(|W|) * sign(W), one scale per layer (Shen eq. 1)

References
    Liu et al., "Bi-Real Net", ECCV 2018 (ApproxSign).
    Rastegari et al., "XNOR-Net", ECCV 2016 (per-channel scaling).
    Zhou et al., "DoReFa-Net", arXiv:1606.06160 (weight scale E(|w|), activation rounding).
    Phan et al., "Binarizing MobileNet via Evolution-based Searching", CVPR 2020, eq. 1-6.
    Shen et al., "Searching for Accurate Binary Neural Architectures", 2019, eq. 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import fused

Quantizer = Callable[[torch.Tensor], torch.Tensor]


def _sign(x: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1 (also for -0.0), same dtype as ``x``.

    ``sign(sign(x) + 0.5)``: three vectorised elementwise passes, about 20x faster on CPU than
    ``torch.where(x >= 0, 1, -1)`` (bench/bench_train.py, ``--profile``).
    """
    return torch.sign(x).add_(0.5).sign_()


class _SignWithSurrogate(torch.autograd.Function):
    """sign(x) forward; backward multiplies by ``surrogate(x)``, the derivative of a proxy.

    On CUDA both directions are one fused kernel each (:mod:`bnnlib.fused`, named by
    ``fused_kind``); the eager formulas below are the reference and the CPU path.
    """

    fused_kind = ""

    @staticmethod
    def surrogate(x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = fused.forward(x, "sign") if fused.available(x) else None
        return y if y is not None else _sign(x)

    @classmethod
    def backward(cls, ctx, grad):
        (x,) = ctx.saved_tensors
        g = fused.backward(grad, x, cls.fused_kind) if fused.available(grad, x) else None
        return g if g is not None else grad * cls.surrogate(x).to(grad.dtype)


class _SignApprox(_SignWithSurrogate):
    fused_kind = "approx"

    @staticmethod
    def surrogate(x):
        # dA/dx = 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere  ==  max(2 - 2|x|, 0)
        return x.abs().mul_(-2.0).add_(2.0).clamp_(min=0.0)  # one allocation


class _SignSTE(_SignWithSurrogate):
    fused_kind = "clip"

    @staticmethod
    def surrogate(x):
        return x.abs().le_(1.0)  # float mask 1/0, one allocation


class _DoReFaActivation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = fused.forward(x, "dorefa") if fused.available(x) else None
        if y is not None:
            return y
        # round(clip(x, 0, 1)) with round-half-to-even (torch.round / tf.round): 0.5 -> 0
        return (x - 0.5).sign_().clamp_(min=0.0)  # x - 0.5 is exact near 0.5: 0.5 -> sign 0 -> 0

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        g = fused.backward(grad, x, "unit") if fused.available(grad, x) else None
        if g is not None:
            return g
        return grad * x.clamp(0.0, 1.0).eq_(x).to(grad.dtype)  # 1 on [0, 1], 0 outside


class _ScaledSign(torch.autograd.Function):
    """alpha * sign(W) with alpha given (no gradient through alpha), clipped identity backward."""

    @staticmethod
    def forward(ctx, w, alpha, clip):
        ctx.save_for_backward(w)
        ctx.clip = clip
        if w.is_cuda:  # one kernel instead of three plus the product
            return torch.where(w >= 0, alpha, -alpha).to(w.dtype)
        return alpha * _sign(w)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        if ctx.clip:
            g = fused.backward(grad, w, "clip") if fused.available(grad, w) else None
            if g is not None:
                return g, None, None
            grad = grad * w.abs().le_(1.0).to(grad.dtype)
        return grad, None, None


def sign_approx(x: torch.Tensor) -> torch.Tensor:
    """Sign forward, Bi-Real Net's ApproxSign gradient backward.

    Forward:   ``x_b = +1 if x >= 0 else -1``                         (Phan et al. eq. 1)
    Backward:  ``dL/dx = dL/dx_b * dA/dx`` with                          (Phan et al. eq. 3-4)
               ``dA/dx = 2 + 2x`` on [-1, 0), ``2 - 2x`` on [0, 1), ``0`` elsewhere,
               the derivative of the piece-wise polynomial A(x) = 2x + x^2 / 2x - x^2.
    """
    return _SignApprox.apply(x)


def sign_approx_scaled(x: torch.Tensor) -> torch.Tensor:
    """``beta * sign_approx(x)``: eq. 6 of Phan et al. applied to the activations as well.

    Phan et al. write eq. 6 for "X can be weights or activations" without saying how the
    activations' factor is taken; XNOR-Net averages ``|x|`` over channels per position. Ours is
    the exact optimum of eq. 6 with X = one image's whole activation tensor: one scalar per
    image, ``beta_n = mean |x_n|`` over channels and positions, treated as a constant in the
    backward pass (as ``xnor_weight``'s alpha). The MACs stay binary XNOR-popcounts; the one
    multiply per output that the factor costs is not counted (as the papers count OPs).
    Chosen by the ``groups.model.activation_scaling`` setting.
    """
    beta = x.detach().abs().mean(dim=tuple(range(1, x.dim())), keepdim=True)
    return beta * sign_approx(x)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """Sign forward, clipped straight-through estimator backward.

    Forward:   ``x_b = +1 if x >= 0 else -1``
    Backward:  ``dL/dx = dL/dx_b * 1{|x| <= 1}``   (Hubara et al., BNN 2016)
    """
    return _SignSTE.apply(x)


def dorefa_activation(x: torch.Tensor) -> torch.Tensor:
    """1-bit DoReFa activation (values in {0, 1}).

    Forward:   ``x_b = round(clip(x, 0, 1))``, round half to even, so ``x_b = 1{x > 0.5}``
                                                                       (Shen et al. eq. 1)
    Backward:  ``dL/dx = dL/dx_b * 1{0 <= x <= 1}`` (straight-through on the clip range;
               DoReFa-Net's STE of round, times the derivative of clip).
    """
    return _DoReFaActivation.apply(x)


def xnor_weight(w: torch.Tensor) -> torch.Tensor:
    """XNOR-Net binary weight with one scale per output channel.

    Forward:   ``w_b = alpha_o * sign(w)`` with ``alpha_o = mean(|w[o]|)`` over the
               input-channel and kernel dimensions of output channel ``o``   (Phan et al. eq. 6:
               the optimum of ``||W - alpha B||^2`` is ``B = sign(W)``, ``alpha = ||W||_1 / n``).
               ``alpha`` is computed on the tensor passed in, i.e. on the weight actually
               used after any group crop.
    Backward:  ``dL/dw = dL/dw_b * 1{|w| <= 1}``; alpha is treated as a constant (the
               Bi-Real Net implementation's choice: the scale's own gradient, of order 1/n,
               is dropped). The real weight ``w`` receives the gradient and is what the
               optimizer updates.
    """
    alpha = w.detach().abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)
    return _ScaledSign.apply(w, alpha, True)


def dorefa_weight(w: torch.Tensor) -> torch.Tensor:
    """1-bit DoReFa weight with one scale per layer.

    Forward:   ``w_b = sign(w) * E(|w|)``, E the mean over the whole tensor  (Shen et al. eq. 1)
    Backward:  ``dL/dw = dL/dw_b`` (straight-through identity, as DoReFa-Net's 1-bit case;
               the scale is treated as a constant).
    """
    alpha = w.detach().abs().mean()
    return _ScaledSign.apply(w, alpha, False)


ACTIVATION_QUANTIZERS: dict[str, Quantizer] = {
    "approx_sign": sign_approx,
    "approx_sign_scaled": sign_approx_scaled,
    "ste_sign": sign_ste,
    "dorefa": dorefa_activation,
}
WEIGHT_QUANTIZERS: dict[str, Quantizer] = {
    "xnor": xnor_weight,
    "dorefa": dorefa_weight,
}


def _lookup(table: dict[str, Quantizer], name: str | None, kind: str) -> Quantizer | None:
    if name is None or name == "none":
        return None
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) + ", none"
        raise ValueError(f"unknown {kind} quantizer {name!r}; known: {known}") from None


def activation_quantizer(name: str | None) -> Quantizer | None:
    """The activation quantizer called ``name`` (None or "none" for no quantization)."""
    return _lookup(ACTIVATION_QUANTIZERS, name, "activation")


def weight_quantizer(name: str | None) -> Quantizer | None:
    """The weight quantizer called ``name`` (None or "none" for no quantization)."""
    return _lookup(WEIGHT_QUANTIZERS, name, "weight")
