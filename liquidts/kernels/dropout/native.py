"""Dropout on the C kernel of ``dropout.c``: the masks of ``reference.py``, in one pass."""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from liquidts.kernels import native

_SOURCE = Path(__file__).with_name("dropout.c")
_SIGNATURES = {
    "dropout_forward": (None, [native.int64, ctypes.c_uint64, native.int64, ctypes.c_float, native.pointer,
                               native.pointer, native.pointer]),
    "dropout_backward": (None, [native.int64, ctypes.c_float, native.pointer, native.pointer, native.pointer]),
}


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def apply_native(x: torch.Tensor, seed: int, threshold: int, scale: float):
    """Same contract as :func:`~liquidts.kernels.dropout.reference.apply_reference`, for a
    contiguous float32 CPU ``x``."""
    y = torch.empty_like(x)
    keep = torch.empty(x.shape, dtype=torch.bool)
    library().dropout_forward(
        x.numel(), seed, threshold, scale, native.address(x, "x"), native.address(y, "y"),
        native.address(keep, "keep", torch.bool))
    return y, keep


def backward_native(grad: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """Same contract as :func:`~liquidts.kernels.dropout.reference.backward_reference`."""
    grad = grad.contiguous()
    out = torch.empty_like(grad)
    library().dropout_backward(
        grad.numel(), scale, native.address(grad, "grad"), native.address(keep, "keep", torch.bool),
        native.address(out, "out"))
    return out
