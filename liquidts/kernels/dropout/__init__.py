"""Dropout whose masks come from a counter-based generator, cheap enough for large activations.

PyTorch's CPU dropout draws every mask element from its Mersenne Twister, about 10 ns per
element: on a forecaster's readout (horizon segments x sequences x width, millions of elements
per batch) drawing the mask costs more than the rest of the readout's forward and backward
together. Here the mask is a hash of each element's index and one seed per call (splitmix64,
Steele et al. 2014), so it takes one vectorised pass: ``kernels/dropout/dropout.c`` on the CPU,
:mod:`~liquidts.kernels.dropout.reference` (the same masks bit for bit, in PyTorch operations)
everywhere else. The seed is drawn from PyTorch's default generator, so ``torch.manual_seed``
(a forecaster's ``random_state``) makes the masks reproducible.

Each element is kept with probability ``1 - p`` (to 2^-24, the resolution of a float32 uniform)
and scaled by ``1 / (1 - p)``, as ``torch.nn.functional.dropout`` does.
"""

from __future__ import annotations

import torch

from liquidts.kernels import dispatch
from liquidts.kernels.dropout import native
from liquidts.kernels.dropout.reference import apply_reference, backward_reference, keep_threshold, scale_of


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p: float):
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        threshold, scale = keep_threshold(p), scale_of(p, x.dtype)
        path = dispatch.choose_dropout_path(device_type=x.device.type, dtype=x.dtype,
                                            c_reason=native.unavailable_reason)
        apply = native.apply_native if path == "c" else apply_reference
        y, keep = apply(x.contiguous(), seed, threshold, scale)
        ctx.save_for_backward(keep)
        ctx.scale, ctx.path = scale, path
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        if ctx.path == "c":
            return native.backward_native(grad, keep, ctx.scale), None
        return backward_reference(grad, keep, ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``torch.nn.functional.dropout(x, p, training)`` with the masks of this module's generator."""
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return _Dropout.apply(x, p)
