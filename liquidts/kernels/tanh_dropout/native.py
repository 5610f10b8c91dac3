"""``dropout(tanh(rows + cols))`` on the C kernel of ``tanh_dropout.c``: the function of
``reference.py`` (its masks bit for bit, its values to float rounding), one pass forward and one
backward, the broadcast sum never formed."""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from liquidts.kernels import native

_SOURCE = native.source(Path(__file__).with_name("tanh_dropout.c"))
_SIGNATURES = {
    "tanh_dropout_forward": (None, [native.int64] * 4 + [ctypes.c_uint64, native.int64, ctypes.c_float]
                             + [native.pointer] * 4),
    "tanh_dropout_backward": (None, [native.int64] * 4 + [ctypes.c_float] + [native.pointer] * 6),
    "tanh_inference": (None, [native.int64] * 4 + [native.pointer] * 3),
}


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def _sizes(rows: torch.Tensor, cols: torch.Tensor) -> tuple[int, int, int, int]:
    """R, M, D and the rows per block P of contiguous rows (R, D) and cols (R / P, M, D)."""
    groups, segments, width = cols.shape
    return rows.shape[0], segments, width, rows.shape[0] // groups


def forward_native(rows: torch.Tensor, cols: torch.Tensor, seed: int, threshold: int, scale: float):
    """:func:`~liquidts.kernels.tanh_dropout.reference.forward_reference` of
    ``broadcast_sum(rows, cols)``, for contiguous float32 CPU tensors, without forming the sum."""
    R, M, D, P = _sizes(rows, cols)
    y = rows.new_empty(R, M, D)
    keep = torch.empty((R, M, D), dtype=torch.bool)
    a = native.address
    library().tanh_dropout_forward(R, M, D, P, seed, threshold, scale, a(rows, "rows"), a(cols, "cols"), a(y, "y"),
                                   a(keep, "keep", torch.bool))
    return y, keep


def backward_native(grad: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, scale: float, groups: int):
    """The gradients of the rows (R, D) and of the ``groups`` blocks (groups, M, D) from the
    output's contiguous ``grad`` (R, M, D): :func:`~liquidts.kernels.tanh_dropout.reference.sum_gradients`
    of :func:`~liquidts.kernels.tanh_dropout.reference.backward_reference`."""
    R, M, D = grad.shape
    d_rows = grad.new_empty(R, D)
    d_cols = torch.zeros(groups, M, D, dtype=torch.float64)
    scratch = torch.empty(D, dtype=torch.float64)
    a = native.address
    library().tanh_dropout_backward(R, M, D, R // groups, scale, a(grad, "grad"), a(y, "y"),
                                    a(keep, "keep", torch.bool), a(d_rows, "d_rows"),
                                    a(d_cols, "d_cols", torch.float64), a(scratch, "scratch", torch.float64))
    return d_rows, d_cols.to(grad.dtype)


def tanh_native(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(broadcast_sum(rows, cols))`` of contiguous float32 CPU tensors, without
    autograd (the activation outside training)."""
    R, M, D, P = _sizes(rows, cols)
    y = rows.new_empty(R, M, D)
    library().tanh_inference(R, M, D, P, native.address(rows, "rows"), native.address(cols, "cols"),
                             native.address(y, "y"))
    return y
