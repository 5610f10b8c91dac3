"""The CfC recurrence for inference: no graph, weights pre-transposed, fewest operations per step.

Streaming calls one step at a time, where the cost is the number of operations dispatched, not
arithmetic; this path is ``cfc_reference`` with everything that does not change between calls
moved into :func:`pack` (which the layer caches while its parameters are unchanged).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from liquidts.activations import get_activation


class PackedCell(NamedTuple):
    in_t: torch.Tensor  # (I, K)
    rec_t: torch.Tensor  # (H, K)
    bias: torch.Tensor  # (K,)
    hidden: tuple  # ((W^T, b), ...)
    head: Optional[tuple]  # (W^T (K, G*H), b) or None
    w_tau: Optional[torch.Tensor]
    A: Optional[torch.Tensor]
    hidden_size: int


def pack(cells) -> list:
    """Detached, transposed, contiguous copies of the cells' effective weights."""
    packed = []
    for w in cells:
        packed.append(PackedCell(
            w.in_weight.detach().t().contiguous(), w.rec_weight.detach().t().contiguous(), w.bias.detach(),
            tuple((W.detach().t().contiguous(), b.detach()) for W, b in w.hidden),
            None if w.head_weight is None else (w.head_weight.detach().t().contiguous(), w.head_bias.detach()),
            None if w.w_tau is None else w.w_tau.detach(), None if w.A is None else w.A.detach(),
            w.rec_weight.shape[1]))
    return packed


def cfc_inference(x: torch.Tensor, h0: list, ts, packed: list, mode: str, activation: str) -> list:
    """States per cell (T, B, H_l) for x (B, T, I); ``ts`` (B, T) or None (= 1)."""
    act, _ = get_activation(activation)
    states = list(h0)
    outputs = [[] for _ in packed]
    for t in range(x.shape[1]):
        inp = x[:, t]
        dt = None if ts is None else ts[:, t: t + 1]
        for l, c in enumerate(packed):
            u = torch.addmm(c.bias, inp, c.in_t).addmm_(states[l], c.rec_t)  # (B, K)
            if c.head is not None:
                a = act(u)
                for weight_t, bias in c.hidden:
                    a = act(torch.addmm(bias, a, weight_t))
                u = torch.addmm(c.head[1], a, c.head[0])  # (B, G*H)
            states[l] = inp = _gates(u, dt, mode, c)
            outputs[l].append(inp)
    return [torch.stack(o) for o in outputs]


def _gates(u, dt, mode, c):
    if mode == "pure":
        rate = c.w_tau.abs() + u.abs()
        return c.A - c.A * torch.exp(-rate if dt is None else -dt * rate) * u
    ff1, ff2, t_a, t_b = u.view(u.shape[0], 4, c.hidden_size).unbind(1)
    s = torch.sigmoid(t_a + t_b if dt is None else torch.addcmul(t_b, t_a, dt))
    ff1, ff2 = torch.tanh(ff1), torch.tanh(ff2)
    return torch.addcmul(ff1, s, ff2) if mode == "no_gate" else torch.lerp(ff1, ff2, s)
