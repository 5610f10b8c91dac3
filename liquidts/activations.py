"""Backbone activations by name, each with its derivative for the hand-written backward pass."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LECUN_A, _LECUN_B = 1.7159, 0.666


def lecun_tanh(z: torch.Tensor) -> torch.Tensor:
    """LeCun's scaled tanh, 1.7159 * tanh(0.666 z) (the CfC paper's backbone activation)."""
    return _LECUN_A * torch.tanh(_LECUN_B * z)


def _lecun_grad(z, a):
    t = a / _LECUN_A
    return _LECUN_A * _LECUN_B * (1.0 - t * t)


def _tanh_grad(z, a):
    return 1.0 - a * a


def _relu_grad(z, a):
    return (z > 0).to(z.dtype)


def _silu_grad(z, a):
    s = torch.sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def _gelu_grad(z, a):
    # torch.nn.GELU's default (erf) form.
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf + z * pdf


#: name -> (activation, derivative(z, activation(z)))
ACTIVATIONS = {
    "lecun_tanh": (lecun_tanh, _lecun_grad),
    "tanh": (torch.tanh, _tanh_grad),
    "relu": (F.relu, _relu_grad),
    "silu": (F.silu, _silu_grad),
    "gelu": (F.gelu, _gelu_grad),
}


def get_activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid options are {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def tanh_into(z: torch.Tensor, out: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
    """``out[:] = tanh(scale * z)`` as 2 sigmoid(2 scale z) - 1: the same values to float
    rounding, and about twice as fast as ``torch.tanh`` on the CPU, whose tanh is not vectorised.
    Without ``out`` it allocates its result and uses no ``out=`` argument, which the ONNX
    exporter cannot trace."""
    if out is None:
        return torch.sigmoid(z * (2.0 * scale)).mul_(2.0).sub_(1.0)
    torch.mul(z, 2.0 * scale, out=out)
    return torch.sigmoid(out, out=out).mul_(2.0).sub_(1.0)


class _FastTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = tanh_into(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.addcmul(grad, grad * y, y, value=-1.0)  # grad (1 - y^2)


def fast_tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(x)`` with autograd, computed as 2 sigmoid(2x) - 1 and differentiated from its
    output: the same values to float rounding, about 2.5x faster forward and backward on the CPU
    for large tensors (a forecaster's readout over 720 steps), where torch.tanh is not vectorised."""
    return _FastTanh.apply(x)


def apply_into(name: str, z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out[:] = activation(z)`` without a temporary where the activation allows it."""
    if name == "lecun_tanh":
        return tanh_into(z, out, _LECUN_B).mul_(_LECUN_A)
    if name == "tanh":
        return tanh_into(z, out)
    if name == "relu":
        return torch.clamp(z, min=0.0, out=out)
    return out.copy_(ACTIVATIONS[name][0](z))
