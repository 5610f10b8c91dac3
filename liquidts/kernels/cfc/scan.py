"""The CfC recurrence with a hand-written backward pass (PyTorch, any device).

Same function as :func:`liquidts.kernels.cfc.reference.cfc_reference` without dropout and
memory cell. It is faster than autograd through the step loop because

* the forward builds no graph and keeps only what the backward needs;
* everything the backward can compute for all steps at once is done up front: the gates'
  derivatives (the gradient of the heads is the state's gradient times a factor that depends on
  the forward values only) and the activations' derivatives, so a backward step is two small
  matrix products and three element-wise operations per cell;
* every weight gradient is one large matrix product over all T*B rows at the end.

Letters as in ``reference.py``; G heads, C the gates' derivative factors (T, B, G, H).
"""

from __future__ import annotations

import torch

from liquidts.activations import apply_into, get_activation, tanh_into
from liquidts.kernels.cfc.reference import pack, pack_grads, packed_size, unpack


def _first_shape(w, level, x_proj):
    width = w.rec_weight.shape[0] if level == 0 else w.hidden[level - 1][0].shape[0]
    return x_proj.shape[1], width


def _gate_buffers(U, mode):
    """Buffers for the gate values the backward needs: exp term (pure) or tanh heads and sigmoid."""
    steps, batch, width = U.shape
    if mode == "pure":
        return [torch.empty_like(U)]
    return [U.new_empty(steps, batch, width // 2), U.new_empty(steps, batch, width // 4)]


def _gates_forward(u, ts, mode, w, saved, out):
    """Write the new state (B, H) into ``out`` and the backward's gate values into ``saved``."""
    if mode == "pure":
        e = torch.exp(torch.mul(w.w_tau.abs() + u.abs(), -ts), out=saved[0])  # (B, H)
        return torch.sub(w.A, w.A * e * u, out=out)
    hidden = u.shape[-1] // 4
    ff = tanh_into(u[:, : 2 * hidden], saved[0])  # (B, 2H)
    s = torch.sigmoid(torch.addcmul(u[:, 3 * hidden:], u[:, 2 * hidden: 3 * hidden], ts), out=saved[1])
    ff1, ff2 = ff[:, :hidden], ff[:, hidden:]
    if mode == "no_gate":
        return torch.addcmul(ff1, s, ff2, out=out)
    return torch.lerp(ff1, ff2, s, out=out)


def _gate_factors(saved, U, ts, mode, w):
    """C (T, B, G, H) with dU = dh * C for every step: the gates are linear in the state's gradient."""
    if mode == "pure":
        return (-w.A * saved[0] * (1.0 - ts * U.abs())).unsqueeze(2)
    ff, s = saved  # (T, B, 2H), (T, B, H)
    hidden = s.shape[-1]
    ff1, ff2 = ff[..., :hidden], ff[..., hidden:]
    ds = s * (1.0 - s)
    if mode == "no_gate":
        c1, c4 = 1.0 - ff1 * ff1, ff2 * ds
    else:
        c1, c4 = (1.0 - s) * (1.0 - ff1 * ff1), (ff2 - ff1) * ds
    c2 = s * (1.0 - ff2 * ff2)
    return torch.stack([c1, c2, c4 * ts, c4], dim=2)


class _CfCScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, meta, x_proj, ts, *flat):
        mode, activation, n_hidden, has_head = meta
        n_cells = len(flat) // packed_size(n_hidden)
        h0, cells = unpack(flat, n_cells, n_hidden)
        steps = x_proj.shape[0]
        # Kept for the backward pass, per cell: pre-activations Z and activations A of each
        # backbone level, heads U, gate values, states; all written in place step by step.
        Z = [[x_proj.new_empty(steps, *_first_shape(w, k, x_proj)) for k in range(n_hidden + 1)]
             for w in cells] if has_head else None
        Acts = [[torch.empty_like(z) for z in levels] for levels in Z] if has_head else None
        U = [x_proj.new_empty(steps, x_proj.shape[1], (w.head_weight if has_head else w.rec_weight).shape[0])
             for w in cells]
        gate_saved = [_gate_buffers(u, mode) for u in U]
        hs = [x_proj.new_empty(steps, *h.shape) for h in h0]
        state = list(h0)
        rec_t = [w.rec_weight.t() for w in cells]
        in_t = [w.in_weight.t() for w in cells]
        for t in range(steps):
            inp = None
            for l, w in enumerate(cells):
                first = Z[l][0][t] if has_head else U[l][t]
                if l == 0:
                    torch.addmm(x_proj[t], state[l], rec_t[l], out=first)
                else:
                    torch.addmm(w.bias, inp, in_t[l], out=first).addmm_(state[l], rec_t[l])
                if has_head:
                    a = apply_into(activation, first, Acts[l][0][t])
                    for k, (weight, bias) in enumerate(w.hidden, start=1):
                        a = apply_into(activation, torch.addmm(bias, a, weight.t(), out=Z[l][k][t]), Acts[l][k][t])
                    torch.addmm(w.head_bias, a, w.head_weight.t(), out=U[l][t])
                state[l] = inp = _gates_forward(U[l][t], ts[t], mode, w, [b[t] for b in gate_saved[l]], hs[l][t])
        ctx.meta = meta
        ctx.n_cells = n_cells
        ctx.buffers = (Z, Acts, U, gate_saved)
        ctx.save_for_backward(x_proj, ts, *flat, *hs)
        return tuple(hs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *dhs):
        mode, activation, n_hidden, has_head = ctx.meta
        _, act_grad = get_activation(activation)
        n = ctx.n_cells
        saved = ctx.saved_tensors
        x_proj, ts = saved[0], saved[1]
        n_flat = n * packed_size(n_hidden)
        h0, cells = unpack(saved[2: 2 + n_flat], n, n_hidden)
        hs = saved[2 + n_flat:]
        Z, Acts, U, gate_saved = ctx.buffers
        steps, batch = x_proj.shape[0], x_proj.shape[1]

        # Everything that does not depend on the incoming gradient, for all steps at once.
        C = [_gate_factors(gate_saved[l], U[l], ts, mode, w) for l, w in enumerate(cells)]
        if has_head:
            D = [[act_grad(z, a) for z, a in zip(Z[l], Acts[l])] for l in range(n)]
            dZ = [[torch.empty_like(d) for d in levels] for levels in D]
        dU = [torch.empty_like(u) for u in U]
        dH = [torch.empty_like(h) for h in hs]  # the whole gradient reaching each new state
        carry = [torch.zeros_like(h) for h in h0]
        for t in reversed(range(steps)):
            from_above = None
            for l in reversed(range(n)):
                w = cells[l]
                dh = torch.add(dhs[l][t], carry[l], out=dH[l][t])  # (B, H)
                if from_above is not None:
                    dh += from_above
                du = dU[l][t]
                torch.mul(C[l][t], dh.unsqueeze(1), out=du.view(batch, -1, dh.shape[-1]))
                if has_head:
                    da = du @ w.head_weight  # (B, K)
                    for k in reversed(range(n_hidden + 1)):
                        dz = torch.mul(da, D[l][k][t], out=dZ[l][k][t])
                        if k > 0:
                            da = dz @ w.hidden[k - 1][0]
                    dfirst = dZ[l][0][t]
                else:
                    dfirst = du
                carry[l] = dfirst @ w.rec_weight
                from_above = dfirst @ w.in_weight if l > 0 else None

        def rows(t3):
            return t3.reshape(-1, t3.shape[-1])

        grads, d_x_proj = [], None
        for l, w in enumerate(cells):
            dfirst = dZ[l][0] if has_head else dU[l]  # (T, B, K)
            h_prev = torch.cat([h0[l].unsqueeze(0), hs[l][:-1]])  # (T, B, H)
            g = {"h0": carry[l], "rec_weight": rows(dfirst).t() @ rows(h_prev)}
            if l == 0:
                d_x_proj = dfirst
            else:
                g["in_weight"] = rows(dfirst).t() @ rows(hs[l - 1])
                g["bias"] = rows(dfirst).sum(0)
            if has_head:
                g["hidden"] = [(rows(dZ[l][k]).t() @ rows(Acts[l][k - 1]), rows(dZ[l][k]).sum(0))
                               for k in range(1, n_hidden + 1)]
                g["head_weight"] = rows(dU[l]).t() @ rows(Acts[l][-1])
                g["head_bias"] = rows(dU[l]).sum(0)
            if mode == "pure":
                e = gate_saved[l][0]
                g["A"] = rows(dH[l] * (1.0 - e * U[l])).sum(0)
                g["w_tau"] = rows(dH[l] * w.A * U[l] * e * ts).sum(0) * torch.sign(w.w_tau)
            grads.append(g)
        return (None, d_x_proj, None, *pack_grads(grads))


def cfc_scan(x_proj: torch.Tensor, h0: list, ts: torch.Tensor, cells: list, mode: str,
             activation: str) -> list:
    """Same contract as :func:`cfc_reference` (no dropout, no memory cell); returns the states."""
    n_hidden = len(cells[0].hidden)
    has_head = cells[0].head_weight is not None
    return list(_CfCScan.apply((mode, activation, n_hidden, has_head), x_proj, ts, *pack(h0, cells)))
