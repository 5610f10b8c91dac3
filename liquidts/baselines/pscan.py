"""Scans for the first-order linear recurrence of a selective state space model.

    h_t = a_t * h_{t-1} + b_t,    t = 0 .. T-1, elementwise, h_{-1} = h0

`scan_loop` walks the sequence one step at a time (T small ops; fastest on a CPU, where each op is
cheap and the parallel form's extra work is paid in full). `scan_parallel` is the associative
(Hillis-Steele doubling) scan: ceil(log2 T) rounds, each a few full-tensor ops, the shape of work a
GPU does well. Both return every state h_0 .. h_{T-1}; the last one is the state to carry on.

The pair (a, b) composes associatively: applying (a1, b1) then (a2, b2) is (a2 a1, a2 b1 + b2).
Round k replaces each position t >= 2^k by its composition with position t - 2^k, so after the
rounds every position holds the composition of the whole prefix. The parallel scan keeps the
products of a in log space (sums of log a <= 0): a long product then lands on exactly 0 through
exp instead of crawling through subnormal floats, which are very slow on CPUs.

Shapes: a (or log_a), b (B, T, ...) with time on dim 1; h0 shaped like b[:, 0] or None (zeros).
"""

import torch


def scan_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Sequential scan; returns h of shape (B, T, ...)."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0  # (B, ...)
    hs = []
    # unbind gives views whose backward is one cheap stack, unlike indexing a[:, t] in the loop
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t
        hs.append(h)
    return torch.stack(hs, dim=1)  # (B, T, ...)


def scan_parallel(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Associative (Hillis-Steele) scan in ceil(log2 T) rounds, from log a; returns h (B, T, ...)."""
    if h0 is not None:
        # fold the initial state into the first input so the scan starts from zero
        b = torch.cat([torch.exp(log_a[:, :1]) * h0.unsqueeze(1) + b[:, :1], b[:, 1:]], dim=1)  # (B, T, ...)
    T = b.shape[1]
    k = 1
    while k < T:
        b = torch.cat([b[:, :k], torch.exp(log_a[:, k:]) * b[:, :-k] + b[:, k:]], dim=1)  # (B, T, ...)
        if 2 * k < T:
            log_a = torch.cat([log_a[:, :k], log_a[:, k:] + log_a[:, :-k]], dim=1)  # (B, T, ...)
        k *= 2
    return b
