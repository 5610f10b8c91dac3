"""CfC training on the C kernel of ``scan.c``: the same function and gradients as ``scan.py``.

Taken for float32 CPU training of one unwired cell with a one-layer backbone (the CfC layer's
default) in the modes and activations of ``variants.TRAIN_MODES`` / ``TRAIN_ACTIVATIONS``;
``liquidts.kernels.dispatch`` sends everything else to ``scan.py``.

The kernel does the step loop, forward and backward, multiplies the inputs by the backbone's input
weights inside each step's product with the state, and sums the weight gradients of
:data:`CHUNK_ROWS` rows at a time while they are in cache. Its matrix products call PyTorch's own
BLAS through the ``sgemm_`` symbol that ``libtorch_cpu`` exports: where this PyTorch build has
none the kernel is unavailable and :func:`unavailable_reason` says so. Where that BLAS is MKL
(x86 builds), the forward also takes MKL's packed-matrix functions (:func:`_mkl_pack_addresses`).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

from liquidts.kernels import native
from liquidts.kernels.cfc.variants import ACTIVATION_IDS, MODE_IDS

_SOURCE = native.source(Path(__file__).with_name("scan.c"))
_i64, _i32, _ptr = native.int64, native.int32, native.pointer
_SIGNATURES = {
    "cfc_train_forward": (None, [_i64] * 6 + [_i32, _i32] + [_ptr] * 13 + [_i64, _i64, _ptr]),
    "cfc_train_backward": (None, [_i64] * 7 + [_i32, _i32] + [_ptr] * 2 + [_i64, _i64] + [_ptr] * 15),
}

#: Rows (steps x samples) of the heads' and the backbone pre-activation's gradients the backward
#: keeps before summing them into the weight gradients: 1.3-1.6 MB for 64 units on a 128-unit
#: backbone (three or four heads), so they are summed while still in cache.
CHUNK_ROWS = 1024


def _blas_address(symbol: str) -> int | None:
    """The address of ``symbol`` in PyTorch's ``libtorch_cpu`` (None where this build exports none)."""
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=None)
def _sgemm_address() -> int | None:
    """The address of PyTorch's BLAS ``sgemm_`` (None where this build exports none)."""
    return _blas_address("sgemm_")


@functools.lru_cache(maxsize=None)
def _mkl_pack_addresses() -> tuple:
    """MKL's ``sgemm_pack_get_size``, ``sgemm_pack`` and ``sgemm_compute``, with which the forward
    packs its weights once for all steps; three Nones where PyTorch's BLAS is not MKL."""
    found = tuple(_blas_address(name) for name in ("sgemm_pack_get_size", "sgemm_pack", "sgemm_compute"))
    return found if all(found) else (None, None, None)


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C training kernel cannot run here (no compiler, opted out, no BLAS symbol), or None."""
    if _sgemm_address() is None:
        return "this PyTorch build's libtorch_cpu exports no sgemm_ for the C training kernel"
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


def _rows_address(tensor: torch.Tensor, name: str) -> tuple[int, int, int]:
    """Address and (step, sample) strides of a (T, B, H) tensor stored time- or batch-major."""
    stored = tensor if tensor.is_contiguous() else tensor.transpose(0, 1)
    return native.address(stored, name), tensor.stride(0), tensor.stride(1)


class _CfCScanC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mode, activation, batch_major, x, backbone, bias, ts, h0, head_weight, head_bias):
        steps, batch, inputs = x.shape
        width, hidden = backbone.shape[0], h0.shape[-1]
        heads = head_weight.shape[0] // hidden  # 3: time heads folded (ts None)
        ts = None if ts is None else ts.reshape(steps, batch).contiguous()
        backbone, bias, head, head_bias = (t.contiguous() for t in (backbone, bias, head_weight, head_bias))
        # What the backward reads (rows [x_t | h_{t-1}], activations, gates) in one allocation: with
        # three, a training step faulted in more fresh pages (a process's allocator hands freed
        # blocks of this size back to the system), and its median was 2-3% slower.
        shapes = [(steps, batch, inputs + hidden), (steps, batch, width), (steps, batch, 3 * hidden)]
        sizes = [a * b * c for a, b, c in shapes]
        xh, acts, gates = (t.view(shape) for t, shape in zip(x.new_empty(sum(sizes)).split(sizes), shapes))
        xh[..., :inputs] = x  # each step's rows [x_t | h_{t-1}]: the kernel writes the states after the first
        xh[0, :, inputs:] = h0
        # The states handed out, in the layout the caller reads them in.
        out = x.new_empty(batch, steps, hidden).transpose(0, 1) if batch_major else x.new_empty(steps, batch, hidden)
        scratch = x.new_zeros(batch * heads * hidden + hidden)  # the heads, then a zero row
        a = native.address
        library().cfc_train_forward(
            batch, steps, inputs, hidden, width, heads, MODE_IDS[mode], ACTIVATION_IDS[activation], _sgemm_address(),
            *_mkl_pack_addresses(), a(xh, "xh"), a(bias, "bias"), a(ts, "timespans"), a(backbone, "backbone weight"),
            a(head, "head_weight"), a(head_bias, "head_bias"), a(acts, "acts"), a(gates, "gates"),
            *_rows_address(out, "out"), a(scratch, "scratch"))
        ctx.meta = (mode, activation, inputs, hidden)
        ctx.save_for_backward(ts, xh, backbone, head, acts, gates)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dhs):
        mode, activation, inputs, hidden = ctx.meta
        ts, xh, backbone, head, acts, gates = ctx.saved_tensors
        steps, batch, width = acts.shape
        heads = head.shape[0] // hidden
        if not (dhs.is_contiguous() or dhs.transpose(0, 1).is_contiguous()):
            dhs = dhs.contiguous()
        # The gradients of about CHUNK_ROWS rows (steps x samples) are kept at a time.
        chunk = max(1, min(steps, CHUNK_ROWS // batch))
        du = acts.new_empty(chunk, batch, heads * hidden)
        dz = acts.new_empty(chunk, batch, width)
        dx = acts.new_empty(steps, batch, inputs) if ctx.needs_input_grad[3] else None
        dh0, d_head_bias = acts.new_empty(batch, hidden), acts.new_empty(heads * hidden)
        d_bias, d_backbone, d_head = acts.new_empty(width), torch.empty_like(backbone), torch.empty_like(head)
        scratch = acts.new_empty(batch * width + 2 * hidden)
        a = native.address
        library().cfc_train_backward(
            batch, steps, inputs, hidden, width, heads, chunk, MODE_IDS[mode], ACTIVATION_IDS[activation],
            _sgemm_address(), *_rows_address(dhs, "state gradients"), a(ts, "timespans"), a(xh, "xh"),
            a(backbone, "backbone weight"), a(head, "head_weight"), a(acts, "acts"), a(gates, "gates"), a(du, "du"),
            a(dz, "dz"), a(dx, "dx"), a(d_bias, "d_bias"), a(d_backbone, "d_backbone"), a(d_head, "d_head"),
            a(d_head_bias, "d_head_bias"), a(dh0, "dh0"), a(scratch, "scratch"))
        return None, None, None, dx, d_backbone, d_bias, None, dh0, d_head, d_head_bias


def cfc_scan_native(x: torch.Tensor, h0: list, ts: torch.Tensor, cells: list, mode: str, activation: str,
                    batch_major: bool = False) -> list:
    """:func:`~liquidts.kernels.cfc.scan.cfc_scan` for the one cell the kernel takes (see the
    module docstring), except that it takes the inputs ``x`` (T, B, I) themselves, not their
    product with the backbone's input weights: the kernel multiplies them by those weights inside
    each step's product with the state (see ``scan.c``). Returns the states (T, B, H) as a
    one-element list; with ``batch_major`` they are stored as (B, T, H), so that their transpose,
    which a batch-first caller reads, is contiguous.

    Where every timespan is one number dt (no timespans given, or a regularly sampled series), the
    time gate's heads t_a dt + t_b are one head, (dt W_a + W_b) a + dt b_a + b_b: folded here
    (autograd hands the fold's gradient to both heads) so that the kernel multiplies by three heads
    instead of four.
    """
    (w,) = cells
    head, head_bias = w.head_weight, w.head_bias
    span = ts.reshape(-1)[:1]
    if span.numel() and bool((ts == span).all()):
        dt, hidden = span.item(), h0[0].shape[-1]
        head, head_bias = (_fold_time_heads(t, hidden, dt) for t in (head, head_bias))
        ts = None
    backbone = torch.cat([w.in_weight, w.rec_weight], dim=1)  # (K, I + H); autograd splits its gradient
    return [_CfCScanC.apply(mode, activation, batch_major, x, backbone, w.bias, ts, h0[0], head, head_bias)]


def _fold_time_heads(rows: torch.Tensor, hidden: int, dt: float) -> torch.Tensor:
    """``[ff1 | ff2 | t_a | t_b]`` rows (of the head's weight or bias) as ``[ff1 | ff2 | dt t_a + t_b]``."""
    return torch.cat([rows[:2 * hidden], rows[2 * hidden:3 * hidden] * dt + rows[3 * hidden:]])
