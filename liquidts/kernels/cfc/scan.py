"""The CfC recurrence with a hand-written backward pass (PyTorch, any device).

Same function as :func:`liquidts.kernels.cfc.reference.cfc_reference` without dropout and
memory cell. It is faster because

* the forward runs without building an autograd graph, writing into preallocated buffers;
* the backward walks the steps once and leaves every weight gradient to one large matrix product
  over all T*B rows at the end, instead of T small ones.

Letters as in ``reference.py``.
"""

from __future__ import annotations

import torch

from liquidts.activations import get_activation
from liquidts.kernels.cfc.reference import CellWeights, gates



def _pack(h0, cells):
    """Flatten states and weights into a tuple of tensors (autograd sees only top-level tensors)."""
    flat = []
    for h, w in zip(h0, cells):
        flat += [h, w.in_weight, w.rec_weight, w.bias, w.head_weight, w.head_bias, w.w_tau, w.A]
        for weight, bias in w.hidden:
            flat += [weight, bias]
    return flat


def _unpack(flat, n_cells, n_hidden):
    per = 8 + 2 * n_hidden
    h0, cells = [], []
    for i in range(n_cells):
        h, in_w, rec_w, b, head_w, head_b, w_tau, A, *hidden = flat[i * per: (i + 1) * per]
        h0.append(h)
        pairs = tuple((hidden[2 * k], hidden[2 * k + 1]) for k in range(n_hidden))
        cells.append(CellWeights(in_w, rec_w, b, pairs, head_w, head_b, w_tau, A))
    return h0, cells


def _gate_backward(dh, u, ts, mode, w_tau, A):
    """Gradient of :func:`gates` w.r.t. ``u`` (B, G*H); also the per-row pure-mode terms."""
    if mode == "pure":
        e = torch.exp(-ts * (w_tau.abs() + u.abs()))  # (B, H)
        du = dh * (-A) * e * (1.0 - ts * u.abs())
        return du, e
    hidden = u.shape[-1] // 4
    ff = torch.tanh(u[:, : 2 * hidden])
    ff1, ff2 = ff[:, :hidden], ff[:, hidden:]
    t_a = u[:, 2 * hidden: 3 * hidden]
    s = torch.sigmoid(torch.addcmul(u[:, 3 * hidden:], t_a, ts))
    du = torch.empty_like(u)
    if mode == "no_gate":
        torch.mul(dh, 1.0 - ff1 * ff1, out=du[:, :hidden])
        dpre = dh * ff2 * s * (1.0 - s)
    else:
        torch.mul(dh * (1.0 - s), 1.0 - ff1 * ff1, out=du[:, :hidden])
        dpre = dh * (ff2 - ff1) * s * (1.0 - s)
    torch.mul(dh * s, 1.0 - ff2 * ff2, out=du[:, hidden: 2 * hidden])
    torch.mul(dpre, ts, out=du[:, 2 * hidden: 3 * hidden])
    du[:, 3 * hidden:] = dpre
    return du, None


class _CfCScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, meta, x_proj, ts, *flat):
        mode, activation, n_hidden, has_head = meta
        act, _ = get_activation(activation)
        n_cells = len(flat) // (8 + 2 * n_hidden)
        h0, cells = _unpack(flat, n_cells, n_hidden)
        steps, batch = x_proj.shape[0], x_proj.shape[1]
        levels = n_hidden + 1 if has_head else 0
        # Buffers kept for the backward pass: pre-activations Z and activations A of every
        # backbone level, heads U, and the states.
        Z = [[x_proj.new_empty(steps, batch, w.rec_weight.shape[0] if k == 0 else w.hidden[k - 1][0].shape[0])
              for k in range(levels)] for w in cells]
        Acts = [[torch.empty_like(z) for z in zs] for zs in Z]
        U = [x_proj.new_empty(steps, batch, w.head_weight.shape[0] if has_head else w.rec_weight.shape[0])
             for w in cells]
        hs = [x_proj.new_empty(steps, batch, h.shape[-1]) for h in h0]
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
                    torch.addmm(w.bias, inp, in_t[l], out=first)
                    first.addmm_(state[l], rec_t[l])
                if has_head:
                    a = Acts[l][0][t]
                    a.copy_(act(first))
                    for k, (weight, bias) in enumerate(w.hidden, start=1):
                        torch.addmm(bias, a, weight.t(), out=Z[l][k][t])
                        a = Acts[l][k][t]
                        a.copy_(act(Z[l][k][t]))
                    torch.addmm(w.head_bias, a, w.head_weight.t(), out=U[l][t])
                hs[l][t] = gates(U[l][t], ts[t], mode, w.w_tau, w.A)
                state[l] = hs[l][t]
                inp = state[l]
        ctx.meta = meta
        ctx.buffers = (Z, Acts, U)
        ctx.save_for_backward(x_proj, ts, *flat, *hs)
        ctx.n_cells = n_cells
        return tuple(hs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *dhs):
        mode, activation, n_hidden, has_head = ctx.meta
        _, act_grad = get_activation(activation)
        saved = ctx.saved_tensors
        n = ctx.n_cells
        x_proj, ts = saved[0], saved[1]
        n_flat = n * (8 + 2 * n_hidden)
        h0, cells = _unpack(saved[2: 2 + n_flat], n, n_hidden)
        hs = saved[2 + n_flat:]
        Z, Acts, U = ctx.buffers
        steps = x_proj.shape[0]

        dZ = [[torch.empty_like(z) for z in zs] for zs in Z]
        dU = [torch.empty_like(u) for u in U]
        dH = [torch.empty_like(h) for h in hs]  # total gradient reaching each new state
        carry = [torch.zeros_like(h) for h in h0]
        for t in reversed(range(steps)):
            from_above = None
            for l in reversed(range(n)):
                w = cells[l]
                dh = dH[l][t]
                torch.add(dhs[l][t], carry[l], out=dh)
                if from_above is not None:
                    dh += from_above
                du, _ = _gate_backward(dh, U[l][t], ts[t], mode, w.w_tau, w.A)
                dU[l][t] = du
                if has_head:
                    da = du @ w.head_weight  # (B, K)
                    for k in reversed(range(n_hidden + 1)):
                        torch.mul(da, act_grad(Z[l][k][t], Acts[l][k][t]), out=dZ[l][k][t])
                        if k > 0:
                            da = dZ[l][k][t] @ w.hidden[k - 1][0]
                    dfirst = dZ[l][0][t]
                else:
                    dfirst = dU[l][t]
                carry[l] = dfirst @ w.rec_weight
                from_above = dfirst @ w.in_weight if l > 0 else None

        def rows(t3):
            return t3.reshape(-1, t3.shape[-1])

        grads = []
        d_x_proj = None
        for l, w in enumerate(cells):
            dfirst = dZ[l][0] if has_head else dU[l]
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
                u = U[l]
                e = torch.exp(-ts * (w.w_tau.abs() + u.abs()))
                g["A"] = rows(dH[l] * (1.0 - e * u)).sum(0)
                g["w_tau"] = rows(dH[l] * w.A * u * e * ts).sum(0) * torch.sign(w.w_tau)
            grads.append(g)

        out = []
        for g in grads:
            out += [g["h0"], g.get("in_weight"), g["rec_weight"], g.get("bias"), g.get("head_weight"),
                    g.get("head_bias"), g.get("w_tau"), g.get("A")]
            for dweight, dbias in g.get("hidden", []):
                out += [dweight, dbias]
        return (None, d_x_proj, None, *out)


def cfc_scan(x_proj: torch.Tensor, h0: list, ts: torch.Tensor, cells: list, mode: str,
             activation: str) -> list:
    """Same contract as :func:`cfc_reference` (no dropout, no memory cell); returns the states."""
    n_hidden = len(cells[0].hidden)
    has_head = cells[0].head_weight is not None
    return list(_CfCScan.apply((mode, activation, n_hidden, has_head), x_proj, ts, *_pack(h0, cells)))
