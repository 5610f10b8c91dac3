"""CfC inference on the C kernel of ``inference.c``: the same function as ``inference.py``.

Used for float32 CPU inference of small cells and batches (streaming a wired NCP one step at a
time), where one C call replaces dozens of PyTorch operations. Large products stay with PyTorch's
matrix library (``dispatch.C_MAX_STEP_WORK`` draws the line).

The kernel reads the cells' parameters in place. :class:`KernelCells` is the table of their
addresses; the layer rebuilds it whenever one of them moved, so nothing the kernel reads can be
older than the parameters themselves.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from liquidts.kernels import native
from liquidts.kernels.cfc.variants import ACTIVATION_IDS, MODE_IDS

_SOURCE = native.source(Path(__file__).with_name("inference.c"))
_SIGNATURES = {
    "cfc_inference": (None, [native.int64, native.int64, native.int64, native.pointer,
                             ctypes.POINTER(native.pointer), native.int32, native.int32,
                             native.pointer, native.pointer, native.pointer, native.pointer]),
}

#: Per cell, the tensors the kernel reads, in its order; each backbone layer after the first follows
#: as a weight and a bias. ``first_*`` is the matrix on ``[x, h]`` (the backbone's first layer, or
#: the heads without backbone), ``mask`` the wiring's 0/1 mask of ``first_weight``.
CELL_FIELDS = ("first_weight", "first_bias", "mask", "head_weight", "head_bias", "w_tau", "A")


def library():
    return native.load(_SOURCE, _SIGNATURES)


def unavailable_reason() -> str | None:
    """Why the C kernel cannot run here (no compiler, a failed build, opted out), or None."""
    return native.unavailable_reason(_SOURCE, _SIGNATURES)


class KernelCells:
    """The address table the C kernel reads its weights from.

    ``cells``: per cell, its tensors in :data:`CELL_FIELDS` order followed by each hidden layer's
    weight and bias; ``hidden_sizes``: per cell its units H; ``input_size``: the first cell's
    inputs; ``mode`` sets the heads per unit. Every tensor's shape is checked against these sizes
    (the kernel must never read past a tensor) and its dtype, device and layout by
    :func:`~liquidts.kernels.native.address`: ValueError/TypeError otherwise.
    """

    def __init__(self, cells: list, hidden_sizes: list, input_size: int, mode: str):
        heads = 1 if mode == "pure" else 4
        sizes, addresses = [], []
        inputs = input_size
        for l, (tensors, H) in enumerate(zip(cells, hidden_sizes)):
            first, _, _, head, *_ = tensors
            K = first.shape[0]
            n_hidden = (len(tensors) - len(CELL_FIELDS)) // 2
            pure = (H,) if mode == "pure" else None
            expected = [(K, inputs + H), (K,), None if tensors[2] is None else (K, inputs + H),
                        None if head is None else (heads * H, K), None if head is None else (heads * H,),
                        pure, pure] + [(K, K), (K,)] * n_hidden
            names = list(CELL_FIELDS) + [f"{kind}[{k}]" for k in range(n_hidden)
                                         for kind in ("hidden_weight", "hidden_bias")]
            if head is None and K != heads * H:
                raise ValueError(f"cell {l}: a cell without backbone has {heads * H} rows in its first matrix, got {K}")
            for name, t, shape in zip(names, tensors, expected):
                if (t is None) != (shape is None) or (t is not None and tuple(t.shape) != shape):
                    got = None if t is None else tuple(t.shape)
                    raise ValueError(f"cell {l} {name} has shape {got}, expected {shape}")
                addresses.append(native.address(t, f"cell {l} {name}"))
            sizes += [inputs, K, H, n_hidden if head is not None else -1]
            inputs = H
        # Kept alive while the table points into them: no other tensor can take their addresses.
        self.tensors = cells
        self.addresses = (native.pointer * len(addresses))(*addresses)
        self.sizes = torch.tensor(sizes, dtype=torch.int64)
        self.layers = len(hidden_sizes)
        self.total = sum(hidden_sizes)


def cfc_inference_native(x: torch.Tensor, h: torch.Tensor, ts, cells: KernelCells, mode: str,
                         activation: str) -> torch.Tensor:
    """All cells' states (T, B, sum H) for x (B, T, I) from states h (B, sum H); ``ts`` (B, T) or None."""
    batch, steps = x.shape[0], x.shape[1]
    # Local names keep contiguous copies alive until the kernel returns.
    x, ts, h = _contiguous(x), _contiguous(ts), _contiguous(h)
    out = x.new_empty(steps, batch, cells.total)
    # A wired CfC has no backbone and accepts any activation name: the kernel never applies it.
    act = ACTIVATION_IDS.get(activation, -1)
    a = native.address
    library().cfc_inference(batch, steps, cells.layers, a(cells.sizes, "sizes", torch.int64), cells.addresses,
                            MODE_IDS[mode], act, a(x, "input"), a(ts, "timespans"), a(h, "state"), a(out, "output"))
    return out


def _contiguous(t):
    return t if t is None or t.is_contiguous() else t.contiguous()
