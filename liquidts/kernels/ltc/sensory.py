"""The LTC's input (sensory) synapses: their drive and conductance for every step at once.

Input ``i`` reaches neuron ``n`` through ``a = w sigmoid(sigma (x_i - mu))``, which adds ``a erev``
to the neuron's drive and ``a`` to its conductance (``w`` already positive and masked by the
wiring). :func:`sensory_reference` is the formula in PyTorch operations; ``sensory.c`` computes the
same in one pass per step, forward and backward (float32 on the CPU, where a C compiler is found):
in PyTorch each operation materialises a (steps, I, N) tensor, tens of millions of values for a
fully connected LTC reading a hundred inputs. :func:`sensory_terms` takes the path that
``liquidts.kernels.dispatch`` chooses.

Letters: R rows (steps of all sequences), I inputs, N neurons.
"""

from __future__ import annotations

from pathlib import Path

import torch

from liquidts.kernels import dispatch, native

_SOURCE = native.source(Path(__file__).with_name("sensory.c"))
_I, _P = native.int64, native.pointer
_SIGNATURES = {
    # R, I, N, x, w, sigma, mu, erev, out
    "ltc_sensory_forward": (None, [_I] * 3 + [_P] * 6),
    # R, I, N, x, w, sigma, mu, erev, g, dx, dw, dsigma, dmu, derev, work, acc
    "ltc_sensory_backward": (None, [_I] * 3 + [_P] * 13),
}


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def sensory_reference(x: torch.Tensor, w: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor,
                      erev: torch.Tensor) -> torch.Tensor:
    """Drive and conductance (..., 2N) of inputs ``x`` (..., I); parameters (I, N)."""
    act = w * torch.sigmoid((x.unsqueeze(-1) - mu) * sigma)  # (..., I, N)
    return torch.cat([(act * erev).sum(-2), act.sum(-2)], dim=-1)


class _SensoryC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, sigma, mu, erev):
        rows, inputs = x.shape
        neurons = w.shape[1]
        out = x.new_empty(rows, 2 * neurons)
        a = native.address
        library().ltc_sensory_forward(rows, inputs, neurons, a(x, "x"), a(w, "w"), a(sigma, "sigma"), a(mu, "mu"),
                                      a(erev, "erev"), a(out, "out"))
        ctx.save_for_backward(x, w, sigma, mu, erev)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, w, sigma, mu, erev = ctx.saved_tensors
        rows, inputs = x.shape
        neurons = w.shape[1]
        g = g.contiguous()
        dx = torch.empty_like(x)
        dw, dsigma, dmu, derev = (torch.empty_like(w) for _ in range(4))
        work = w.new_empty(4 * inputs * neurons)
        acc = torch.empty(4 * inputs * neurons, dtype=torch.float64)
        a = native.address
        library().ltc_sensory_backward(rows, inputs, neurons, a(x, "x"), a(w, "w"), a(sigma, "sigma"), a(mu, "mu"),
                                       a(erev, "erev"), a(g, "gradient"), a(dx, "dx"), a(dw, "dw"),
                                       a(dsigma, "dsigma"), a(dmu, "dmu"), a(derev, "derev"), a(work, "work"),
                                       a(acc, "acc", torch.float64))
        return dx, dw, dsigma, dmu, derev


def sensory_terms(x: torch.Tensor, w: torch.Tensor, sigma: torch.Tensor, mu: torch.Tensor,
                  erev: torch.Tensor) -> torch.Tensor:
    """:func:`sensory_reference` on the path ``dispatch.choose_ltc_sensory_path`` chooses."""
    path = dispatch.choose_ltc_sensory_path(device_type=x.device.type, dtype=x.dtype, c_reason=unavailable_reason)
    if path == "reference":
        return sensory_reference(x, w, sigma, mu, erev)
    lead = x.shape[:-1]
    params = (t.contiguous() for t in (w, sigma, mu, erev))
    out = _SensoryC.apply(x.reshape(-1, x.shape[-1]).contiguous(), *params)
    return out.view(*lead, out.shape[-1])
