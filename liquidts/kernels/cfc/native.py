"""CfC inference on the C kernel of ``inference.c``: the same function as ``inference.py``.

Used for float32 CPU inference of small cells and batches (streaming a wired NCP one step at a
time), where one C call replaces dozens of PyTorch operations. Large products stay with PyTorch's
matrix library: :func:`worth_it` draws the line.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from liquidts.kernels import native
from liquidts.kernels.cfc.reference import MODES

_SOURCE = Path(__file__).with_name("inference.c")
_ACTIVATIONS = ("lecun_tanh", "tanh", "relu", "silu", "gelu")

# Above this many multiply-adds per step, PyTorch's matrix products beat the C loops.
_MAX_STEP_WORK = 1 << 15


class NativeCells:
    """The packed cells (``inference.pack``) laid out for the C kernel, built once per weight change."""

    def __init__(self, packed: list):
        self.packed = packed
        sizes, weights = [], []
        self.keep = []  # the tensors whose pointers the kernel reads
        for c in packed:
            inputs, width = c.in_t.shape
            no_backbone = c.head is None
            sizes += [inputs, width, c.hidden_size, -1 if no_backbone else len(c.hidden)]
            fields = [c.in_t, c.rec_t, c.bias, None if no_backbone else c.head[0],
                      None if no_backbone else c.head[1], c.w_tau, c.A]
            for weight_t, bias in c.hidden:
                fields += [weight_t, bias]
            fields = [None if f is None else f.detach().contiguous() for f in fields]
            self.keep += [f for f in fields if f is not None]
            weights += [None if f is None else f.data_ptr() for f in fields]
        self.sizes = torch.tensor(sizes, dtype=torch.int64)
        self.weights = (ctypes.c_void_p * len(weights))(*weights)
        self.layers = len(packed)
        self.total = sum(c.hidden_size for c in packed)
        self.step_work = sum(c.in_t.numel() + c.rec_t.numel() + sum(w.numel() for w, _ in c.hidden)
                             + (0 if c.head is None else c.head[0].numel()) for c in packed)

    def __reduce__(self):
        # ctypes pointer arrays cannot be pickled or copied: rebuild them from the tensors.
        return NativeCells, (self.packed,)


def unavailable_reason(x: torch.Tensor, activation: str, cells: NativeCells) -> str | None:
    """Why the C kernel cannot run this input, activation and weights, or None when it can."""
    for what, t in (("input", x), ("weights", cells.keep[0])):
        if t.device.type != "cpu" or t.dtype != torch.float32:
            return f"the C kernel runs float32 CPU tensors (got {what} of {t.dtype} on {t.device.type})"
    if activation not in _ACTIVATIONS:
        return f"the C kernel has no activation {activation!r}"
    return native.unavailable_reason(_SOURCE)


def worth_it(cells: NativeCells, batch: int) -> bool:
    return batch * cells.step_work <= _MAX_STEP_WORK


def cfc_inference_native(x: torch.Tensor, h: torch.Tensor, ts, cells: NativeCells, mode: str,
                         activation: str) -> torch.Tensor:
    """All cells' states (T, B, sum H) for x (B, T, I) from states h (B, sum H); ``ts`` (B, T) or None."""
    lib = native.load(_SOURCE)
    batch, steps = x.shape[0], x.shape[1]
    x, h = x.contiguous(), h.contiguous()
    ts = None if ts is None else ts.contiguous()
    out = x.new_empty(steps, batch, cells.total)
    p = native.pointer
    lib.cfc_inference(native.int64(batch), native.int64(steps), native.int64(cells.layers), p(cells.sizes),
                      cells.weights, ctypes.c_int(MODES.index(mode)), ctypes.c_int(_ACTIVATIONS.index(activation)),
                      p(x), None if ts is None else p(ts), p(h), p(out))
    return out
