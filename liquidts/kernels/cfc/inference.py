"""The CfC recurrence for inference: no graph, the fewest operations per step.

Streaming calls one step at a time, where the cost is the number of operations dispatched, not
arithmetic; this path is ``cfc_reference`` without dropout, memory cell or autograd, each input
step's products done where they are needed. It reads the weights it is given at every call
(nothing is kept between calls that could go stale).
"""

from __future__ import annotations

import torch

from liquidts.activations import get_activation
from liquidts.kernels.cfc.reference import effective, gates


def cfc_inference(x: torch.Tensor, h0: list, ts, cells: list, mode: str, activation: str) -> list:
    """States per cell (T, B, H_l) for x (B, T, I), states h0 [per cell (B, H_l)], ``ts`` (B, T) or
    None (= 1), and per cell its :class:`~liquidts.kernels.cfc.reference.CellWeights`."""
    act, _ = get_activation(activation)
    cells = [effective(w) for w in cells]
    in_t = [w.in_weight.t() for w in cells]  # views: addmm reads them transposed
    rec_t = [w.rec_weight.t() for w in cells]
    ones = x.new_ones(x.shape[0], 1) if ts is None else None
    states = list(h0)
    outputs = [[] for _ in cells]
    for t in range(x.shape[1]):
        inp = x[:, t]
        dt = ones if ts is None else ts[:, t: t + 1]
        for l, w in enumerate(cells):
            u = torch.addmm(w.bias, inp, in_t[l]).addmm_(states[l], rec_t[l])  # (B, K)
            if w.head_weight is not None:
                a = act(u)
                for weight, bias in w.hidden:
                    a = act(torch.addmm(bias, a, weight.t()))
                u = torch.addmm(w.head_bias, a, w.head_weight.t())  # (B, G*H)
            states[l] = inp = gates(u, dt, mode, w.w_tau, w.A)
            outputs[l].append(inp)
    return [torch.stack(o) for o in outputs]
