"""The LTC's fused solver on the C kernel of ``scan.c``: same function and gradients as ``scan.py``.

The synapses are given as a list (``Synapses``), not as gather/scatter matrices; the kernel keeps
the batch axis innermost, so tensors are transposed to that layout here, once per call.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from liquidts.kernels import native

_SOURCE = native.source(Path(__file__).with_name("scan.c"))
_I, _P = native.int64, native.pointer
_SIGNATURES = {
    # T, U, B, N, E, v0, base, h, cm, src, dst, sigma, bias, werev, w, out, V, D, work
    "ltc_forward": (None, [_I] * 5 + [_P] * 14),
    # T, U, B, N, E, h, cm, src, dst, sigma, bias, werev, w, out, V, D, dout,
    # dv0, dbase, dcm, dsigma, dbias, dwerev, dw, work, acc
    "ltc_backward": (None, [_I] * 5 + [_P] * 21),
}


class Synapses(NamedTuple):
    """The internal synapses of an LTC, one entry each: s = sigmoid(sigma v[src] + bias) adds
    ``werev * s`` to the drive and ``w * s`` to the conductance of neuron ``dst``."""

    src: torch.Tensor  # (E,) int64
    dst: torch.Tensor  # (E,) int64
    sigma: torch.Tensor  # (E,)
    bias: torch.Tensor  # (E,) = -mu * sigma
    werev: torch.Tensor  # (E,) = w * erev
    w: torch.Tensor  # (E,)


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def _c(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous()


def _addresses(named: dict) -> list:
    """Checked addresses (:func:`~liquidts.kernels.native.address`) of the named tensors, in order:
    the synapse indices are int64, the backward's accumulators float64, everything else float32."""
    dtypes = {"src": torch.int64, "dst": torch.int64, "acc": torch.float64}
    return [native.address(t, name, dtypes.get(name, torch.float32)) for name, t in named.items()]


class _LTCScanNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, unfolds, keep, v0, base, h, cm, src, dst, sigma, bias, werev, w):
        steps, batch, n2 = base.shape
        n, e = n2 // 2, src.numel()
        v0_t, base_t = _c(v0.t()), _c(base.permute(0, 2, 1))  # (N, B), (T, 2N, B)
        h_t = _c(h.reshape(steps, batch))
        cm, src, dst, sigma, bias, werev, w = (_c(t) for t in (cm, src, dst, sigma, bias, werev, w))
        out = base.new_empty(steps, n, batch)
        # What the backward reads (T*U*B*2N numbers; it recomputes the synapses' activations), only
        # when a gradient is wanted.
        V, D = ((base.new_empty(steps * unfolds, n, batch), base.new_empty(steps * unfolds, n, batch))
                if keep else (None, None))
        work = base.new_empty(4 * n * batch)
        tensors = dict(v0=v0_t, base=base_t, h=h_t, cm=cm, src=src, dst=dst, sigma=sigma, bias=bias,
                       werev=werev, w=w, out=out, V=V, D=D, work=work)
        library().ltc_forward(steps, unfolds, batch, n, e, *_addresses(tensors))
        ctx.unfolds = unfolds
        ctx.save_for_backward(h_t, cm, src, dst, sigma, bias, werev, w, out, V, D)
        return out.permute(0, 2, 1)  # (T, B, N)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        h_t, cm, src, dst, sigma, bias, werev, w, out, V, D = ctx.saved_tensors
        steps, n, batch = out.shape
        e = src.numel()
        dout_t = _c(dout.permute(0, 2, 1))  # (T, N, B)
        dv0 = out.new_empty(n, batch)
        dbase = out.new_empty(steps, 2 * n, batch)
        dcm = torch.empty_like(cm)
        dsigma, dbias, dwerev, dw = (torch.empty_like(sigma) for _ in range(4))
        work = out.new_empty(5 * n * batch)
        acc = torch.empty(4 * e, dtype=torch.float64)
        tensors = dict(h=h_t, cm=cm, src=src, dst=dst, sigma=sigma, bias=bias, werev=werev, w=w, out=out, V=V,
                       D=D, dout=dout_t, dv0=dv0, dbase=dbase, dcm=dcm, dsigma=dsigma, dbias=dbias,
                       dwerev=dwerev, dw=dw, work=work, acc=acc)
        library().ltc_backward(steps, ctx.unfolds, batch, n, e, *_addresses(tensors))
        return (None, None, dv0.t(), dbase.permute(0, 2, 1), None, dcm, None, None, dsigma, dbias, dwerev, dw)


def ltc_scan_native(v0, base, h, cm, synapses: Synapses, unfolds: int) -> torch.Tensor:
    """Potentials (T, B, N) after each input step; ``base`` (T, B, 2N) with the epsilon already in
    its conductance half, ``h`` (T, B, 1) = dt / unfolds. As :func:`~liquidts.kernels.ltc.ltc_scan`."""
    tensors = (v0, base, h, cm, *synapses)
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return _LTCScanNative.apply(unfolds, keep, *tensors)
