"""The LTC's fused semi-implicit solver over a whole sequence, with a hand-written backward pass.

Same function as ``LTCCell.fused_steps`` step after step on the edge-list form of the synapses
(``LTCCell.dynamics`` with a sparse wiring). Each of the U unfolds of each input step is

    s  = sigmoid(v @ edge_in + edge_bias)             # (B, E) synapse activations
    g  = base_t + s @ edge_out                         # (B, 2N) drive | conductance
    v' = (cm v + h g_drive) / (cm + h g_conductance)   # h = dt / U

The backward walks the T*U unfolds once with six small operations each, and leaves the weight
gradients to a few large matrix products over all T*U*B rows.

Letters: B batch, T steps, U unfolds, N neurons, E synapses.
"""

from __future__ import annotations

import torch


class _LTCScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, unfolds, v0, base, h, cm, edge_in, edge_bias, edge_out):
        n = v0.shape[-1]
        steps = base.shape[0]
        pre, acts, dens = [], [], []  # per unfold: v before it, s, denominator
        outs = []
        v = v0
        for t in range(steps):
            for _ in range(unfolds):
                s = torch.sigmoid(torch.addmm(edge_bias, v, edge_in))  # (B, E)
                g = torch.addmm(base[t], s, edge_out)  # (B, 2N)
                den = torch.addcmul(cm, h[t], g[:, n:])
                pre.append(v)
                acts.append(s)
                dens.append(den)
                v = torch.addcmul(cm * v, h[t], g[:, :n]) / den
            outs.append(v)
        vs = torch.stack(outs)  # (T, B, N)
        ctx.unfolds = unfolds
        ctx.buffers = (pre, acts, dens)
        ctx.save_for_backward(vs, h, cm, edge_in, edge_out)
        return vs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dvs):
        vs, h, cm, edge_in, edge_out = ctx.saved_tensors
        pre, acts, dens = ctx.buffers
        unfolds = ctx.unfolds
        steps, batch, n = vs.shape
        V = torch.stack(pre)  # (T*U, B, N) potentials before each unfold
        S = torch.stack(acts)  # (T*U, B, E)
        h_rows = h.repeat_interleave(unfolds, 0)  # (T*U, B, 1)
        slope = S * (1.0 - S) * h_rows  # d s / d x, times h (the chain through g)
        after = torch.cat([V[1:], vs[-1:]])  # potential after each unfold
        out_t = edge_out.t()
        in_t = edge_in.t()
        dND = V.new_empty(steps * unfolds, batch, 2 * n)  # d num | d den per unfold
        dX = torch.empty_like(S)
        carry = torch.zeros_like(vs[0])
        for i in reversed(range(steps * unfolds)):
            if i % unfolds == unfolds - 1:
                carry = carry + dvs[i // unfolds]
            dnum = torch.div(carry, dens[i], out=dND[i, :, :n])
            torch.mul(dnum, after[i], out=dND[i, :, n:]).neg_()
            ds = dND[i] @ out_t  # (B, E), still to be multiplied by h
            dx = torch.mul(ds, slope[i], out=dX[i])
            carry = torch.addmm(cm * dnum, dx, in_t)

        def rows(t3):
            return t3.reshape(-1, t3.shape[-1])

        dG = dND * h_rows  # (T*U, B, 2N)
        d_edge_out = rows(S).t() @ rows(dG)
        d_edge_in = rows(V).t() @ rows(dX)
        d_edge_bias = rows(dX).sum(0)
        d_base = dG.view(steps, unfolds, batch, 2 * n).sum(1)
        d_cm = rows(dND[..., :n] * V + dND[..., n:]).sum(0)
        return None, carry, d_base, None, d_cm, d_edge_in, d_edge_bias, d_edge_out


def ltc_scan(v0, base, h, cm, edge_in, edge_bias, edge_out, unfolds: int) -> torch.Tensor:
    """Potentials (T, B, N) after each input step; ``base`` (T, B, 2N), ``h`` (T, B, 1) = dt / unfolds."""
    return _LTCScan.apply(unfolds, v0, base, h, cm, edge_in, edge_bias, edge_out)
