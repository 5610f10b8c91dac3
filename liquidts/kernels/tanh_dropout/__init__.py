"""``dropout(tanh(x))`` in one pass, with masks from a counter-based generator: the forecaster's
readout activation.

The readout holds horizon segments x sequences x width activations, millions per batch at long
horizons. In PyTorch operations its tanh and dropout are eight passes over them (PyTorch's tanh is
not vectorised on the CPU, so ``activations.fast_tanh`` takes four), and the dropout mask comes
from PyTorch's Mersenne Twister at about 10 ns per element, more than everything else together.
Here the mask is a hash of each element's index and one seed per call (splitmix64, Steele et al.
2014), and forward and backward are one pass each: ``tanh_dropout.c`` on the CPU,
:mod:`~liquidts.kernels.tanh_dropout.reference` (the same function in PyTorch operations, the same
masks bit for bit) everywhere else. The seed is drawn from PyTorch's default generator, so
``torch.manual_seed`` (a forecaster's ``random_state``) makes the masks reproducible.

Outside training the activation is a plain tanh: in C (``tanh_inference``) when no gradient is
needed, ``activations.fast_tanh`` otherwise.

Each element is kept with probability ``1 - p`` (to 2^-24, the resolution of a float32 uniform)
and scaled by ``1 / (1 - p)``, as ``torch.nn.functional.dropout`` does.
"""

from __future__ import annotations

import torch

from liquidts.activations import fast_tanh
from liquidts.kernels import dispatch
from liquidts.kernels.tanh_dropout import native
from liquidts.kernels.tanh_dropout.reference import (backward_reference, forward_reference, keep_threshold,
                                                     scale_of)


class _TanhDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p: float, path: str):
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        threshold, scale = keep_threshold(p), scale_of(p, x.dtype)
        forward = native.forward_native if path == "c" else forward_reference
        y, t, keep = forward(x.contiguous(), seed, threshold, scale)
        ctx.save_for_backward(t, keep)
        ctx.scale, ctx.path = scale, path
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        t, keep = ctx.saved_tensors
        backward = native.backward_native if ctx.path == "c" else backward_reference
        return backward(grad.contiguous(), t, keep, ctx.scale), None, None


def tanh_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``torch.nn.functional.dropout(torch.tanh(x), p, training)``, with this module's masks."""
    if training and not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    path = dispatch.choose_tanh_dropout_path(device_type=x.device.type, dtype=x.dtype, training=training,
                                             grad=torch.is_grad_enabled() and x.requires_grad,
                                             c_reason=native.unavailable_reason)
    if training:
        return _TanhDropout.apply(x, p, path)
    return native.tanh_native(x.contiguous()) if path == "c" else fast_tanh(x)
