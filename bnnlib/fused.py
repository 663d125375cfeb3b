"""One-pass GPU kernels for the quantizers' elementwise work (Triton), used by :mod:`bnnlib.binarize`.

At the study's small GPU sizes (28x28 images, batch 256-1024) a binary training step is bound by
kernel launches, not arithmetic: in eager PyTorch the ApproxSign backward ``grad * max(2 - 2|x|,
0)`` is five kernels (abs, mul, add, clamp, mul) and the sign forward three. Here each is one
Triton kernel that reads its inputs once and writes its output once:

- ``forward(x, kind)``: ``sign(x)`` with sign(0) = +1 (``kind="sign"``), or the DoReFa 1-bit
  activation ``1{x > 0.5}`` (``kind="dorefa"``);
- ``backward(grad, x, kind)``: ``grad * surrogate(x)`` for ``kind`` in ``SURROGATES``:
  ``approx`` (Bi-Real ApproxSign, ``max(2 - 2|x|, 0)``), ``clip`` (``1{|x| <= 1}``, clipped
  straight-through) and ``unit`` (``1{0 <= x <= 1}``, DoReFa's straight-through on [0, 1]).
  The surrogate is computed in float32 and the product cast to ``grad``'s dtype.

:func:`available` says whether a tensor can take the fused path: a CUDA tensor (or any tensor
when Triton's interpreter is on, ``TRITON_INTERPRET=1``: how the CPU tests run these kernels),
Triton importable, and ``BNNLIB_FUSED`` not set to ``0`` (the benchmarks' switch to time the
eager path). Inputs must be dense with equal strides (contiguous or channels_last); callers fall
back to eager PyTorch otherwise, and when a kernel fails to compile or launch (then the fused
path is off for the process: :data:`disabled_reason`). The results equal the eager formulas
exactly in float32.
"""

from __future__ import annotations

import functools
import os

import torch

SURROGATES = ("approx", "clip", "unit")
FORWARDS = ("sign", "dorefa")
_BLOCK = 1024


@functools.lru_cache(maxsize=1)
def _kernels():
    """The compiled kernels, or None when Triton cannot be imported."""
    try:
        import triton
        import triton.language as tl
    except Exception:  # noqa: BLE001 -- no Triton (CPU wheels, other platforms): eager path
        return None

    @triton.jit
    def fwd(x_ptr, y_ptr, n, KIND: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
        if KIND == 0:
            y = tl.where(x >= 0.0, 1.0, -1.0)
        else:
            y = tl.where(x > 0.5, 1.0, 0.0)
        tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def bwd(g_ptr, x_ptr, out_ptr, n, KIND: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
        g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
        a = tl.abs(x)
        if KIND == 0:
            s = tl.maximum(2.0 - 2.0 * a, 0.0)
        elif KIND == 1:
            s = tl.where(a <= 1.0, 1.0, 0.0)
        else:
            s = tl.where((x >= 0.0) & (x <= 1.0), 1.0, 0.0)
        tl.store(out_ptr + offs, (g * s).to(out_ptr.dtype.element_ty), mask=mask)

    return fwd, bwd


#: why the kernels were turned off for this process (a failed compile or launch), or None
disabled_reason: str | None = None


def _launch(kernel, n: int, *args, **meta) -> bool:
    """Run ``kernel`` over ``n`` elements; on any error (a GPU or Triton the kernels do not
    support) turn the fused path off for the process, say why once, and return False."""
    global disabled_reason
    try:
        kernel[((n + _BLOCK - 1) // _BLOCK,)](*args, n, **meta, BLOCK=_BLOCK)
        return True
    except Exception as exc:  # noqa: BLE001 -- fall back to the eager formulas
        disabled_reason = f"{type(exc).__name__}: {exc}"
        print(f"bnnlib.fused: Triton kernels turned off, eager quantizers used ({disabled_reason})",
              flush=True)
        return False


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def enabled() -> bool:
    """Fused kernels allowed by the environment (``BNNLIB_FUSED=0`` turns them off)."""
    return (os.environ.get("BNNLIB_FUSED", "1") != "0" and disabled_reason is None
            and _kernels() is not None)


def _dense(t: torch.Tensor) -> bool:
    if t.dim() == 4:
        return t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)
    return t.is_contiguous()


def available(*tensors: torch.Tensor) -> bool:
    """True when these tensors can go through the fused kernels (see the module docstring)."""
    first = tensors[0]
    if not (first.is_cuda or _interpreting()) or not enabled():
        return False
    if first.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        return False
    return all(_dense(t) and t.stride() == first.stride() and t.shape == first.shape
               and t.device == first.device for t in tensors)


def forward(x: torch.Tensor, kind: str = "sign") -> torch.Tensor | None:
    """``sign(x)`` (sign(0) = +1) or ``1{x > 0.5}``, in ``x``'s dtype, memory format kept;
    None when the kernel cannot run here (the caller uses the eager formula)."""
    if kind not in FORWARDS:
        raise ValueError(f"unknown fused forward {kind!r}; known: {FORWARDS}")
    y = torch.empty_like(x)
    n = x.numel()
    if n and not _launch(_kernels()[0], n, x, y, KIND=FORWARDS.index(kind)):
        return None
    return y


def backward(grad: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor | None:
    """``grad * surrogate(x)`` for ``kind`` in :data:`SURROGATES`, in ``grad``'s dtype; None
    when the kernel cannot run here."""
    if kind not in SURROGATES:
        raise ValueError(f"unknown surrogate {kind!r}; known: {SURROGATES}")
    out = torch.empty_like(grad)
    n = grad.numel()
    if n and not _launch(_kernels()[1], n, grad, x, out, KIND=SURROGATES.index(kind)):
        return None
    return out
