"""``dropout(tanh(x))`` in PyTorch operations, x the broadcast sum of rows and blocks: the
reference the C kernel is tested against.

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
    """(output, keep mask) for a contiguous ``x``: kept elements are ``tanh(x) * scale``, the rest 0."""
    keep = (uniform_bits(x.numel(), seed, x.device) >= threshold).view(x.shape)
    return torch.where(keep, torch.tanh(x) * scale, torch.zeros((), dtype=x.dtype, device=x.device)), keep


def backward_reference(grad: torch.Tensor, y: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """The gradient from the output ``y``: with ``t = y / scale`` (the tanh where kept),
    ``grad * scale * (1 - t^2)`` where kept, 0 where dropped."""
    t = y * (1.0 / scale)
    return torch.where(keep, grad * scale * (1.0 - t * t), torch.zeros((), dtype=grad.dtype, device=grad.device))


def broadcast_sum(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x (R, M, D) = rows (R, D) + cols (G, M, D), row r reading block ``r // (R // G)``."""
    (R, D), (G, M, _) = rows.shape, cols.shape
    return (rows.reshape(G, R // G, 1, D) + cols.reshape(G, 1, M, D)).view(R, M, D)


def sum_gradients(grad: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients of :func:`broadcast_sum`'s rows (R, D) and ``groups`` blocks (groups, M, D)
    from its output's ``grad`` (R, M, D)."""
    R, M, D = grad.shape
    return grad.sum(1), grad.view(groups, R // groups, M, D).sum(1)
