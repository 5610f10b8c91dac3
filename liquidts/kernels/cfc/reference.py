"""The CfC recurrence in plain PyTorch, step by step, differentiated by autograd.

This is the definition every fast path (``scan.py``, ``triton.py``) is tested against.

Letters: B batch, T time, I inputs, H units of one cell, K width of the cell's first matrix
(backbone units, or G*H without backbone), G heads (4: ff1, ff2, time_a, time_b; 1 in ``pure``).

One CfC cell (Hasani et al., 2022), on the step input x and the previous state h::

    z0 = W_in x + W_rec h + b                    # first matrix, split into input and recurrent parts
    a  = act(z0); a = act(W_k a + b_k) ...       # backbone (absent when backbone_layers == 0)
    u  = W_head a + b_head  (or u = z0 without backbone)  ->  ff1, ff2, t_a, t_b
    default:  h' = tanh(ff1) * (1 - s) + s * tanh(ff2),  s = sigmoid(t_a * dt + t_b)
    no_gate:  h' = tanh(ff1) + s * tanh(ff2)
    pure:     h' = -A * exp(-dt * (|w_tau| + |ff1|)) * ff1 + A

A wired CfC (an NCP) is a cascade of such cells without backbone, one per layer; inside one time
step, layer l reads layer l-1's new state as its input.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from liquidts.activations import get_activation


class CellWeights(NamedTuple):
    """Weights of one CfC cell.

    ``mask`` is the wiring's 0/1 sparsity mask of the first matrix ``[in_weight | rec_weight]``
    (K, I + H), not yet multiplied in; None when the weights are already the effective ones. The
    PyTorch paths multiply it in once with :func:`effective` (autograd then masks the gradient);
    the Triton kernel applies it itself.
    """

    in_weight: torch.Tensor  # (K, I)
    rec_weight: torch.Tensor  # (K, H)
    bias: torch.Tensor  # (K,)
    hidden: tuple  # ((W (K, K), b (K,)), ...) backbone layers after the first
    head_weight: Optional[torch.Tensor]  # (G*H, K), None without backbone
    head_bias: Optional[torch.Tensor]  # (G*H,)
    w_tau: Optional[torch.Tensor]  # (H,), pure mode
    A: Optional[torch.Tensor]  # (H,), pure mode
    mask: Optional[torch.Tensor] = None  # (K, I + H) 0/1, not yet applied


#: The tensor fields of CellWeights in the order :func:`pack` flattens them (``hidden`` follows).
PACKED_FIELDS = ("in_weight", "rec_weight", "bias", "head_weight", "head_bias", "w_tau", "A", "mask")


def pack(h0: list, cells: list) -> list:
    """States and weights as one flat list (an autograd.Function sees only top-level tensors):
    per cell its state, the :data:`PACKED_FIELDS`, then each hidden layer's weight and bias."""
    flat = []
    for h, w in zip(h0, cells):
        flat += [h] + [getattr(w, f) for f in PACKED_FIELDS]
        for weight, bias in w.hidden:
            flat += [weight, bias]
    return flat


def packed_size(n_hidden: int) -> int:
    """Entries per cell in :func:`pack`'s list."""
    return 1 + len(PACKED_FIELDS) + 2 * n_hidden


def unpack(flat, n_cells: int, n_hidden: int) -> tuple:
    """Inverse of :func:`pack`: ``(h0, cells)``."""
    per = packed_size(n_hidden)
    h0, cells = [], []
    for i in range(n_cells):
        h, *fields = flat[i * per: (i + 1) * per]
        named = dict(zip(PACKED_FIELDS, fields))
        rest = fields[len(PACKED_FIELDS):]
        named["hidden"] = tuple((rest[2 * k], rest[2 * k + 1]) for k in range(n_hidden))
        h0.append(h)
        cells.append(CellWeights(**named))
    return h0, cells


def pack_grads(grads: list) -> list:
    """Per-cell gradient dicts (keys: ``h0``, field names, ``hidden`` pairs) in :func:`pack`'s order."""
    flat = []
    for g in grads:
        flat += [g["h0"]] + [g.get(f) for f in PACKED_FIELDS]
        for dweight, dbias in g.get("hidden", []):
            flat += [dweight, dbias]
    return flat


def effective(w: CellWeights) -> CellWeights:
    """``w`` with its wiring mask multiplied into the first matrix (and ``mask`` set to None)."""
    if w.mask is None:
        return w
    inputs = w.in_weight.shape[1]
    return w._replace(in_weight=w.in_weight * w.mask[:, :inputs],
                      rec_weight=w.rec_weight * w.mask[:, inputs:], mask=None)


def gates(u: torch.Tensor, ts: torch.Tensor, mode: str, w_tau=None, A=None) -> torch.Tensor:
    """New state from the heads ``u`` (B, G*H) and the elapsed time ``ts`` (B, 1)."""
    if mode == "pure":
        return -A * torch.exp(-ts * (w_tau.abs() + u.abs())) * u + A
    hidden = u.shape[-1] // 4
    ff = torch.tanh(u[:, : 2 * hidden])  # (B, 2H)
    ff1, ff2 = ff[:, :hidden], ff[:, hidden:]
    s = torch.sigmoid(torch.addcmul(u[:, 3 * hidden:], u[:, 2 * hidden: 3 * hidden], ts))  # (B, H)
    if mode == "no_gate":
        return torch.addcmul(ff1, s, ff2)
    return torch.lerp(ff1, ff2, s)


def cell_step(z_in: torch.Tensor, h: torch.Tensor, ts: torch.Tensor, w: CellWeights, mode: str,
              activation: str, dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """One step of one cell; ``z_in`` = W_in x + b is the input part of the first matrix."""
    act, _ = get_activation(activation)
    w = effective(w)
    z = torch.addmm(z_in, h, w.rec_weight.t())  # (B, K)
    if w.head_weight is None:
        u = z
    else:
        a = F.dropout(act(z), dropout, training)
        for weight, bias in w.hidden:
            a = F.dropout(act(F.linear(a, weight, bias)), dropout, training)
        u = F.linear(a, w.head_weight, w.head_bias)  # (B, G*H)
    return gates(u, ts, mode, w.w_tau, w.A)


def cfc_reference(x_proj: torch.Tensor, h0: list, ts: torch.Tensor, cells: list, mode: str,
                  activation: str, dropout: float = 0.0, training: bool = False,
                  memory=None, c0=None) -> tuple:
    """Run cascaded cells over time.

    Args:
        x_proj: (T, B, K0) input part of the first cell's first matrix, for all steps.
        h0: per cell, (B, H_l) initial states.
        ts: (T, B, 1) elapsed times.
        cells: per cell, its :class:`CellWeights`.
        memory, c0: optional ``(cell, inputs (T, B, I))``: an LSTM-style memory cell
            (``mixed_memory``) updating the whole state before the CfC cells at every step,
            and its initial cell state (B, sum H_l).

    Returns:
        per cell, the states (T, B, H_l), and the final memory cell state (or None).
    """
    cells = [effective(w) for w in cells]
    states = list(h0)
    sizes = [h.shape[-1] for h in h0]
    outputs = [[] for _ in cells]
    c = c0
    for t in range(x_proj.shape[0]):
        if memory is not None:
            # The memory cell sees the whole state, all cells concatenated (as in ncps).
            cell, inputs = memory
            h_all, c = cell(inputs[t], (torch.cat(states, -1), c))
            states = list(h_all.split(sizes, -1))
        inp = None
        for l, w in enumerate(cells):
            z_in = x_proj[t] if l == 0 else F.linear(inp, w.in_weight, w.bias)
            states[l] = cell_step(z_in, states[l], ts[t], w, mode, activation, dropout, training)
            outputs[l].append(states[l])
            inp = states[l]
    return [torch.stack(o) for o in outputs], c
