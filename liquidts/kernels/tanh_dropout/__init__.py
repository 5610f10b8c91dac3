"""``dropout(tanh(rows + cols))`` in one pass, with masks from a counter-based generator: the
forecaster's readout activation.

The readout holds horizon segments x sequences x width activations, millions per batch at long
horizons: for each sequence's row of D values (its core state, brought to the readout's width)
and each horizon segment's D values (its position and the features known for it), the tanh of
their sum. In PyTorch operations the sum, the tanh and the dropout are nine passes over those
activations (PyTorch's tanh is not vectorised on the CPU, so ``activations.fast_tanh`` takes
four), its gradient two more to sum back to the rows and segments, and the dropout mask comes from
PyTorch's Mersenne Twister at about 10 ns per element, more than everything else together. Here
the mask is a hash of each element's index and one seed per call (splitmix64, Steele et al.
2014), the sum is never formed, and forward and backward are one pass each: ``tanh_dropout.c`` on
the CPU, :mod:`~liquidts.kernels.tanh_dropout.reference` (the same function in PyTorch
operations, the same masks bit for bit) everywhere else. The seed is drawn from PyTorch's
default generator, so ``torch.manual_seed`` (a forecaster's ``random_state``) makes the masks
reproducible.

Outside training the activation is a plain tanh: in C (``tanh_inference``) when no gradient is
needed, ``activations.fast_tanh`` of the sum otherwise.

Each element is kept with probability ``1 - p`` (to 2^-24, the resolution of a float32 uniform)
and scaled by ``1 / (1 - p)``, as ``torch.nn.functional.dropout`` does.
"""

from __future__ import annotations

import torch

from liquidts.activations import fast_tanh
from liquidts.kernels import dispatch
from liquidts.kernels.tanh_dropout import native
from liquidts.kernels.tanh_dropout.reference import (backward_reference, broadcast_sum, forward_reference,
                                                     keep_threshold, scale_of, sum_gradients)


class _TanhDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rows, cols, p: float, path: str):
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        threshold, scale = keep_threshold(p), scale_of(p, rows.dtype)
        if path == "c":
            y, keep = native.forward_native(rows.contiguous(), cols.contiguous(), seed, threshold, scale)
        else:
            y, keep = forward_reference(broadcast_sum(rows, cols), seed, threshold, scale)
        ctx.save_for_backward(y, keep)
        ctx.scale, ctx.path, ctx.groups = scale, path, cols.shape[0]
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        y, keep = ctx.saved_tensors
        if ctx.path == "c":
            d_rows, d_cols = native.backward_native(grad.contiguous(), y, keep, ctx.scale, ctx.groups)
        else:
            d_rows, d_cols = sum_gradients(backward_reference(grad, y, keep, ctx.scale), ctx.groups)
        return d_rows, d_cols, None, None


def tanh_dropout(rows: torch.Tensor, cols: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``torch.nn.functional.dropout(torch.tanh(x), p, training)`` with this module's masks, where
    x (R, M, D) = rows (R, D) + cols (G, M, D), row r reading block ``r // (R // G)`` (G divides R:
    one block for all rows, or one per group of consecutive rows)."""
    if training and not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if rows.dim() != 2 or cols.dim() != 3 or rows.shape[1] != cols.shape[2] or rows.shape[0] % cols.shape[0]:
        raise ValueError(f"tanh_dropout needs rows (R, D) and cols (G, M, D) with G dividing R, got "
                         f"{tuple(rows.shape)} and {tuple(cols.shape)}")
    path = dispatch.choose_tanh_dropout_path(
        device_type=rows.device.type, dtype=rows.dtype, training=training,
        grad=torch.is_grad_enabled() and (rows.requires_grad or cols.requires_grad), c_reason=native.unavailable_reason)
    if training:
        return _TanhDropout.apply(rows, cols, p, path)
    if path == "c":
        return native.tanh_native(rows.contiguous(), cols.contiguous())
    return fast_tanh(broadcast_sum(rows, cols))
