"""Which implementation runs a call of a liquid layer: one decision per layer, made here only.

CfC paths:

* ``"reference"``: the autograd step loop of ``kernels/cfc/reference.py``, the definition. The only
  path with the memory cell (``mixed_memory``), backbone dropout in training and timespans that
  need a gradient, so those always take it, with or without ``torch.no_grad()``.
* ``"triton"``: the fused Triton kernels (CUDA, or the interpreter with ``TRITON_INTERPRET=1``).
* ``"c"``: the C inference kernel (no gradient, float32 on the CPU, small cells and batches).
* ``"inference"``: the PyTorch inference loop (no gradient).
* ``"c_train"``: the C training kernel (forward and backward; float32 on the CPU, one unwired cell
  with a one-layer backbone, the modes and activations of ``variants.TRAIN_MODES`` /
  ``TRAIN_ACTIVATIONS``).
* ``"scan"``: PyTorch with the hand-written backward (training, every other call).

LTC paths: ``"c"`` (the fused solver in C, float32 on the CPU), ``"scan"`` (the same in PyTorch,
sparse wirings), ``"loop"`` (the fused solver step by step, autograd: memory cell, timespans that
need a gradient, dense wirings), ``"ode"`` (a torchdiffeq solver step by step).

Paths of the readout's ``dropout(tanh(x))`` (``liquidts.kernels.tanh_dropout``) and of the LTC's
input synapses (``liquidts.kernels.ltc.sensory``): ``"c"`` (float32 on the CPU) and ``"reference"``
(PyTorch operations, every other call); the dropout paths draw the same masks.

Every path computes the same function; a path is taken only for calls it computes exactly. The
decisions are pure functions of what the call is (device type, dtype, cell shapes, mode,
activation, training/dropout, gradient) and of two facts about the machine passed in as
functions, asked only when they matter (can the Triton / C kernel run here?), so what
``backend="auto"`` does on a GPU is tested without one. The layers check beforehand that the
input, the state, the timespans and the parameters share one dtype and device, and the C
kernels check every tensor they are handed (``native.address``).
"""

from __future__ import annotations

import os
from typing import Callable

import torch

from liquidts.kernels.cfc.variants import ACTIVATION_IDS, TRAIN_ACTIVATIONS, TRAIN_MODES

CFC_BACKENDS = ("auto", "torch", "triton")
CFC_PATHS = ("reference", "triton", "c", "inference", "c_train", "scan")
LTC_PATHS = ("c", "scan", "loop", "ode")
TANH_DROPOUT_PATHS = ("c", "reference")
LTC_SENSORY_PATHS = ("c", "reference")

#: Cascaded cells (wiring layers) and backbone layers after the first the Triton kernels hold.
TRITON_MAX_CELLS = 3
TRITON_MAX_HIDDEN = 2
TRITON_DTYPES = (torch.float32, torch.bfloat16)
#: What ``backend="auto"`` runs through the Triton kernels on a GPU, from the H200 figures in
#: benchmarks/results/cfc_gpu.md. Training: only cells whose weights the kernels hold on chip for
#: the whole sequence (padded elements, :func:`held_weights`): a 3-layer NCP of 32 units (5,120)
#: trained 28-54x faster than the PyTorch path; a 32-unit cell on a 128-unit backbone (20,480),
#: its weights re-read every step, 0.8-2.5x, and wider cells 0.3-0.9x. Inference: largest tile
#: up to 128 x 128 (2.4-11x faster than the PyTorch loop; 256 x 128: 0.6-0.7x).
TRITON_AUTO_TRAIN_WEIGHTS = 8192
TRITON_AUTO_INFER_TILE = 16384
#: Padded elements of the largest weight tile the Triton kernels take. Where a cell's weights do not
#: all fit in shared memory, the kernels stage one tile at a time there, 4 bytes an element: 128 KB
#: at this size, within the 227 KB an sm_90 (H100/H200) block may use; the next size up is not.
TRITON_MAX_TILE = 32768

#: Above this many multiply-adds per step (batch x weights), PyTorch's matrix products beat the C loops.
C_MAX_STEP_WORK = 1 << 15

Reason = Callable[[], "str | None"]


def triton_unavailable_reason(device_type: str) -> str | None:
    """Why the Triton kernel cannot run on ``device_type`` tensors here, or None when it can."""
    try:
        import triton  # noqa: F401
    except ImportError as err:
        return f"triton is not importable ({err}); install it with `pip install triton` on Linux"
    if device_type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return (f"the Triton kernel runs on CUDA tensors (got a {device_type} tensor); "
                "set TRITON_INTERPRET=1 to run it on the CPU through Triton's interpreter")
    try:
        from liquidts.kernels.cfc import triton as _  # noqa: F401
    except ImportError as err:
        return f"the Triton CfC kernel is not available in this build ({err})"
    return None


def padded(n: int) -> int:
    """``n`` rounded up to a power of two, at least 16: a side of the Triton kernels' tiles."""
    return max(16, 1 << (int(n) - 1).bit_length())


def largest_tile(hidden_sizes: list, backbone_units: int, n_hidden: int) -> int:
    """Padded elements of the largest weight tile of a CfC's cells in the Triton kernels.

    ``backbone_units``: the backbone's width (0: backbone-free cells, the cascade kernels; the
    first cell's input matrix is applied outside them).
    """
    if backbone_units:
        units = padded(backbone_units)
        return max(padded(hidden_sizes[0]) * units, units * units if n_hidden else 0)
    tiles = [padded(h) * padded(h) for h in hidden_sizes]
    tiles += [padded(h) * padded(below) for below, h in zip(hidden_sizes, hidden_sizes[1:])]
    return max(tiles)


def held_weights(hidden_sizes: list, backbone_units: int, n_hidden: int, gates: int) -> int:
    """Padded weight elements the Triton forward kernel keeps for the whole sequence (the backward twice).

    ``gates``: head blocks per cell (4; 1 in pure mode); other arguments as :func:`largest_tile`.
    """
    if backbone_units:
        units = padded(backbone_units)
        return units * padded(hidden_sizes[0]) * (1 + gates) + n_hidden * units * units
    total, below = 0, hidden_sizes[0]
    for layer, h in enumerate(hidden_sizes):
        total += gates * padded(h) * (padded(h) + (padded(below) if layer else 0))
        below = h
    return total


def triton_refusal(dtype: torch.dtype, n_cells: int, n_hidden: int, has_backbone: bool,
                   activation: str, tile: int) -> Exception | None:
    """The error naming what the Triton kernels do not cover in a call, or None when they cover it.

    ``n_cells``: cascaded cells (wiring layers; 1 unwired); ``n_hidden``: backbone layers after the
    first; ``has_backbone``: the cells have a backbone (``backbone_layers >= 1``); ``tile``: the
    cells' :func:`largest_tile`.
    """
    if dtype not in TRITON_DTYPES:
        return TypeError(f"the Triton CfC kernel takes float32 or bfloat16 inputs, got {dtype} (use backend='torch')")
    if not 1 <= n_cells <= TRITON_MAX_CELLS:
        return ValueError(f"the Triton CfC kernel runs 1 to {TRITON_MAX_CELLS} cascaded cells (wiring layers), "
                          f"got {n_cells} (use backend='torch')")
    if has_backbone:
        if n_cells > 1:
            return ValueError("the Triton CfC kernel runs a backbone only for a single (unwired) cell")
        if n_hidden > TRITON_MAX_HIDDEN:
            return ValueError(f"the Triton CfC kernel supports backbone_layers <= {TRITON_MAX_HIDDEN + 1}, got "
                              f"{n_hidden + 1} (use backend='torch')")
        if activation not in ACTIVATION_IDS:
            return ValueError(f"the Triton CfC kernel does not implement activation {activation!r}; "
                              f"supported: {sorted(ACTIVATION_IDS)} (use backend='torch')")
    if tile > TRITON_MAX_TILE:
        return ValueError(f"the Triton CfC kernel takes weight tiles of up to {TRITON_MAX_TILE} elements (units "
                          f"and backbone width padded to powers of two); this layer's largest has {tile} "
                          "(use backend='torch')")
    return None


def choose_cfc_path(*, device_type: str, dtype: torch.dtype, backend: str, mode: str, n_cells: int, n_hidden: int,
                    has_backbone: bool, activation: str, tile: int, weights: int, grad: bool,
                    mixed_memory: bool, dropout_active: bool, timespans_need_grad: bool, step_work: int,
                    triton_reason: Reason, c_reason: Reason, c_train_reason: Reason) -> str:
    """The CfC path (one of :data:`CFC_PATHS`) for a call.

    ``tile`` / ``weights``: the cells' :func:`largest_tile` / :func:`held_weights`; ``grad``:
    autograd records this call (``torch.is_grad_enabled()``); ``dropout_active``: the layer is
    training with ``backbone_dropout > 0``; ``step_work``: batch x weights of one step.
    ``triton_reason`` / ``c_reason`` / ``c_train_reason``: why the Triton kernel / the C inference
    kernel / the C training kernel cannot run here (None: it can).

    ``backend="triton"`` raises (RuntimeError for the machine, ValueError/TypeError for the call)
    where the kernel cannot run the call. ``"auto"`` takes it on CUDA where it can run the call and
    was measured faster (:data:`TRITON_AUTO_TRAIN_WEIGHTS`, :data:`TRITON_AUTO_INFER_TILE`), else a
    PyTorch path.
    """
    if backend not in CFC_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid options are {list(CFC_BACKENDS)}")
    if mixed_memory or dropout_active or timespans_need_grad:
        return "reference"
    if backend == "triton":
        refusal = triton_refusal(dtype, n_cells, n_hidden, has_backbone, activation, tile)
        if refusal is not None:
            raise type(refusal)(f"backend='triton' cannot run this call: {refusal}")
        reason = triton_reason()
        if reason is not None:
            raise RuntimeError(f"backend='triton' cannot run: {reason}")
        return "triton"
    if backend == "auto" and device_type == "cuda":
        faster = weights <= TRITON_AUTO_TRAIN_WEIGHTS if grad else tile <= TRITON_AUTO_INFER_TILE
        if (faster and triton_refusal(dtype, n_cells, n_hidden, has_backbone, activation, tile) is None
                and triton_reason() is None):
            return "triton"
    if grad:
        if (n_cells == 1 and has_backbone and n_hidden == 0 and mode in TRAIN_MODES
                and activation in TRAIN_ACTIVATIONS and _c_runs(device_type, dtype, c_train_reason)):
            return "c_train"
        return "scan"
    if ((not has_backbone or activation in ACTIVATION_IDS) and step_work <= C_MAX_STEP_WORK
            and _c_runs(device_type, dtype, c_reason)):
        return "c"
    return "inference"


def choose_ltc_path(*, device_type: str, dtype: torch.dtype, solver: str, mixed_memory: bool,
                    timespans_need_grad: bool, sparse: bool, c_reason: Reason) -> str:
    """The LTC path (one of :data:`LTC_PATHS`) for a call.

    ``solver``: ``"semi_implicit"`` (the fused solver) or a torchdiffeq method; ``sparse``: the
    wiring is sparse enough for the edge-list scan; ``c_reason``: why the C kernel cannot run here.
    """
    if solver != "semi_implicit":
        return "ode"
    if mixed_memory or timespans_need_grad:
        return "loop"
    if _c_runs(device_type, dtype, c_reason):
        return "c"
    return "scan" if sparse else "loop"


def choose_tanh_dropout_path(*, device_type: str, dtype: torch.dtype, training: bool, grad: bool,
                             c_reason: Reason) -> str:
    """The ``dropout(tanh(x))`` path (one of :data:`TANH_DROPOUT_PATHS`) for a call; ``grad``: the
    input needs a gradient; ``c_reason``: why the C kernel cannot run here. Outside training the C
    path is a plain tanh without a backward, so a call that needs a gradient takes PyTorch's."""
    if not training and grad:
        return "reference"
    return "c" if _c_runs(device_type, dtype, c_reason) else "reference"


def choose_ltc_sensory_path(*, device_type: str, dtype: torch.dtype, c_reason: Reason) -> str:
    """The path of the LTC's input synapses (one of :data:`LTC_SENSORY_PATHS`) for a call;
    ``c_reason``: why the C kernel cannot run here."""
    return "c" if _c_runs(device_type, dtype, c_reason) else "reference"


def _c_runs(device_type: str, dtype: torch.dtype, c_reason: Reason) -> bool:
    """Whether a C kernel takes a call: every C kernel computes in float32 on the CPU; the
    machine is asked (``c_reason``) only then. Never under ``torch.jit.trace`` (and so ONNX
    export): a trace records PyTorch operations only, and a kernel's ctypes call would vanish from
    it, leaving its output tensor unwritten."""
    return (device_type == "cpu" and dtype is torch.float32 and not torch.jit.is_tracing()
            and c_reason() is None)
