"""The LTC's fused solver on the C kernel of ``scan.c``: same function and gradients as ``scan.py``.

The synapses are given as a list (``Synapses``), not as gather/scatter matrices; the kernel keeps
the batch axis innermost, so tensors are transposed to that layout here, once per call.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from liquidts.kernels import native

_SOURCE = Path(__file__).with_name("scan.c")


class Synapses(NamedTuple):
    """The internal synapses of an LTC, one entry each: s = sigmoid(sigma v[src] + bias) adds
    ``werev * s`` to the drive and ``w * s`` to the conductance of neuron ``dst``."""

    src: torch.Tensor  # (E,) int64
    dst: torch.Tensor  # (E,) int64
    sigma: torch.Tensor  # (E,)
    bias: torch.Tensor  # (E,) = -mu * sigma
    werev: torch.Tensor  # (E,) = w * erev
    w: torch.Tensor  # (E,)


def unavailable_reason(*tensors: torch.Tensor) -> str | None:
    """Why the C kernel cannot run on these tensors' devices and dtypes, or None when it can."""
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != torch.float32:
            return f"the C kernel runs float32 CPU tensors (got {t.dtype} on {t.device.type})"
    return native.unavailable_reason(_SOURCE)


def _c(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous()


class _LTCScanNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, unfolds, keep, v0, base, h, cm, src, dst, sigma, bias, werev, w):
        lib = native.load(_SOURCE)
        steps, batch, n2 = base.shape
        n, e = n2 // 2, src.numel()
        p = native.pointer
        v0_t, base_t = _c(v0.t()), _c(base.permute(0, 2, 1))  # (N, B), (T, 2N, B)
        h_t = _c(h.reshape(steps, batch))
        weights = [_c(t) for t in (cm, src, dst, sigma, bias, werev, w)]
        out = base.new_empty(steps, n, batch)
        # What the backward reads (T*U*B*(2N+E) numbers), only when a gradient is wanted.
        V, S, D = ((base.new_empty(steps * unfolds, n, batch), base.new_empty(steps * unfolds, e, batch),
                    base.new_empty(steps * unfolds, n, batch)) if keep else (None, None, None))
        work = base.new_empty((4 * n + 1) * batch)
        lib.ltc_forward(*(native.int64(v) for v in (steps, unfolds, batch, n, e)),
                        p(v0_t), p(base_t), p(h_t), *(p(t) for t in weights),
                        p(out), *(None if t is None else p(t) for t in (V, S, D)), p(work))
        ctx.unfolds = unfolds
        cm, src, dst, sigma, _, werev, w = weights  # the bias does not enter the backward
        ctx.save_for_backward(h_t, cm, src, dst, sigma, werev, w, out, V, S, D)
        return out.permute(0, 2, 1)  # (T, B, N)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        lib = native.load(_SOURCE)
        h_t, cm, src, dst, sigma, werev, w, out, V, S, D = ctx.saved_tensors
        steps, n, batch = out.shape
        e = src.numel()
        p = native.pointer
        dout_t = _c(dout.permute(0, 2, 1))  # (T, N, B)
        dv0 = out.new_empty(n, batch)
        dbase = out.new_empty(steps, 2 * n, batch)
        dcm = torch.empty_like(cm)
        dsyn = [torch.empty_like(sigma) for _ in range(4)]  # sigma, bias, werev, w
        work = out.new_empty((5 * n + 4 * e) * batch)
        lib.ltc_backward(*(native.int64(v) for v in (steps, ctx.unfolds, batch, n, e)),
                         p(h_t), p(cm), p(src), p(dst), p(sigma), p(werev), p(w),
                         p(out), p(V), p(S), p(D), p(dout_t),
                         p(dv0), p(dbase), p(dcm), *(p(t) for t in dsyn), p(work))
        return (None, None, dv0.t(), dbase.permute(0, 2, 1), None, dcm, None, None, *dsyn)


def ltc_scan_native(v0, base, h, cm, synapses: Synapses, unfolds: int) -> torch.Tensor:
    """Potentials (T, B, N) after each input step; ``base`` (T, B, 2N) with the epsilon already in
    its conductance half, ``h`` (T, B, 1) = dt / unfolds. As :func:`~liquidts.kernels.ltc.ltc_scan`."""
    tensors = (v0, base, h, cm, *synapses)
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return _LTCScanNative.apply(unfolds, keep, *tensors)
