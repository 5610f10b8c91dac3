"""``dropout(tanh(x))`` in PyTorch operations: the reference the C kernel is tested against.

Element ``i`` of a call with seed ``s`` is kept when the top 24 bits of splitmix64's output for
``s + (i + 1) * golden`` are at least ``ceil(p * 2^24)``. PyTorch has no unsigned 64-bit
arithmetic; int64 multiplication wraps modulo 2^64 like unsigned, and a logical right shift is
an arithmetic one with the sign-extended bits masked off.
"""

from __future__ import annotations

import math

import torch

#: splitmix64's increment and multipliers, as the signed int64 values of their bit patterns.
GOLDEN = 0x9E3779B97F4A7C15 - 2**64
MIX_1 = 0xBF58476D1CE4E5B9 - 2**64
MIX_2 = 0x94D049BB133111EB - 2**64
UNIFORM_BITS = 24


def keep_threshold(p: float) -> int:
    """Elements whose 24-bit uniform draw is below this are dropped: probability p to 2^-24."""
    return math.ceil(p * 2**UNIFORM_BITS)


def scale_of(p: float, dtype: torch.dtype) -> float:
    """``1 / (1 - p)`` rounded as the kept elements' factor is in ``dtype``."""
    return float(torch.tensor(1.0, dtype=dtype) / torch.tensor(1.0 - p, dtype=dtype))


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def uniform_bits(n: int, seed: int, device) -> torch.Tensor:
    """The 24-bit uniform draws (int64 in [0, 2^24)) of elements 0..n-1 for ``seed``."""
    z = torch.arange(1, n + 1, dtype=torch.int64, device=device) * GOLDEN + seed
    z = (z ^ _shift_right(z, 30)) * MIX_1
    z = (z ^ _shift_right(z, 27)) * MIX_2
    z = z ^ _shift_right(z, 31)
    return _shift_right(z, 64 - UNIFORM_BITS)


def forward_reference(x: torch.Tensor, seed: int, threshold: int, scale: float):
    """(output, t = tanh(x), keep mask) for a contiguous ``x``; kept elements are ``t * scale``."""
    t = torch.tanh(x)
    keep = (uniform_bits(x.numel(), seed, x.device) >= threshold).view(x.shape)
    return torch.where(keep, t * scale, torch.zeros((), dtype=x.dtype, device=x.device)), t, keep


def backward_reference(grad: torch.Tensor, t: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """The gradient: ``grad * scale * (1 - t^2)`` where kept, 0 where dropped."""
    return torch.where(keep, grad * scale * (1.0 - t * t), torch.zeros((), dtype=grad.dtype, device=grad.device))
