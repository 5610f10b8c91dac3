"""``dropout(tanh(x))`` on the C kernel of ``tanh_dropout.c``: the function of ``reference.py``
(its masks bit for bit, its values to float rounding), one pass forward and one backward."""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from liquidts.kernels import native

_SOURCE = Path(__file__).with_name("tanh_dropout.c")
_SIGNATURES = {
    "tanh_dropout_forward": (None, [native.int64, ctypes.c_uint64, native.int64, ctypes.c_float]
                             + [native.pointer] * 4),
    "tanh_dropout_backward": (None, [native.int64, ctypes.c_float] + [native.pointer] * 4),
    "tanh_inference": (None, [native.int64] + [native.pointer] * 2),
}


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def forward_native(x: torch.Tensor, seed: int, threshold: int, scale: float):
    """Same contract as :func:`~liquidts.kernels.tanh_dropout.reference.forward_reference`, for a
    contiguous float32 CPU ``x``."""
    y, t = torch.empty_like(x), torch.empty_like(x)
    keep = torch.empty(x.shape, dtype=torch.bool)
    a = native.address
    library().tanh_dropout_forward(x.numel(), seed, threshold, scale, a(x, "x"), a(y, "y"), a(t, "t"),
                                   a(keep, "keep", torch.bool))
    return y, t, keep


def backward_native(grad: torch.Tensor, t: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """Same contract as :func:`~liquidts.kernels.tanh_dropout.reference.backward_reference`."""
    out = torch.empty_like(grad)
    a = native.address
    library().tanh_dropout_backward(grad.numel(), scale, a(grad, "grad"), a(t, "t"), a(keep, "keep", torch.bool),
                                    a(out, "out"))
    return out


def tanh_native(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(x)`` of a contiguous float32 CPU ``x``, without autograd (the activation
    outside training)."""
    y = torch.empty_like(x)
    library().tanh_inference(x.numel(), native.address(x, "x"), native.address(y, "y"))
    return y
