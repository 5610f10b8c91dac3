"""Closed-form continuous-time (CfC) cells and layers (Hasani et al., Nature Machine Intelligence 2022).

The CfC approximates the LTC's ODE solution in closed form: no solver, one step per input. The
equations and the letters used in shape comments are in ``liquidts/kernels/cfc/reference.py``.

* :class:`CfCCell`: one step of one cell (fully connected, optional backbone).
* :class:`WiredCfCCell`: one step of a wired CfC, one backbone-free cell per wiring layer, with the
  wiring's sparsity mask on the ff1/ff2 weights.
* :class:`CfC`: the sequence layer, ``y, h = cfc(x, hx=None, timespans=None)``.

The parameters and semantics follow ``ncps`` 1.0.1 (``liquidts.nn.from_ncps`` converts), with its
defects fixed: per-sample ``timespans`` work for any batch size, and ``backbone_dropout`` is applied
after every backbone layer (ncps skips the first).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liquidts.activations import ACTIVATIONS
from liquidts.kernels import dispatch
from liquidts.kernels.cfc import MODES, CellWeights, cfc_reference, cfc_scan, effective
from liquidts.kernels.cfc import native as cfc_native
from liquidts.kernels.cfc import scan_native
from liquidts.kernels.cfc.inference import cfc_inference
from liquidts.kernels.cfc.reference import cell_step
from liquidts.nn._inputs import one_step, prepare_call
from liquidts.nn._live import LiveTensors
from liquidts.nn.memory import MemoryCell
from liquidts.wirings import Wiring


def _check_choice(name, value, valid):
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid options are {list(valid)}")


class CfCCell(nn.Module):
    """One CfC step: ``h_new = cell(x, h, ts)`` with x (B, I), h (B, H), ts a number or (B,)/(B, 1).

    Args:
        input_size: features of x.
        hidden_size: units H.
        mode: ``"default"`` (gated), ``"no_gate"`` or ``"pure"`` (direct solution, no backbone heads).
        activation: backbone activation, one of ``lecun_tanh``, ``tanh``, ``relu``, ``silu``, ``gelu``.
        backbone_units, backbone_layers, backbone_dropout: the MLP that reads ``[x, h]``
            (``backbone_layers=0``: the heads read ``[x, h]`` directly).
        sparsity_mask: optional (I + H, H) 0/1 array; masks the ff1/ff2 weights (wired cells).
    """

    def __init__(self, input_size: int, hidden_size: int, mode: str = "default",
                 activation: str = "lecun_tanh", backbone_units: int = 128, backbone_layers: int = 1,
                 backbone_dropout: float = 0.0, sparsity_mask=None):
        super().__init__()
        _check_choice("mode", mode, MODES)
        _check_choice("activation", activation, ACTIVATIONS)
        if backbone_layers < 0 or (backbone_layers > 0 and backbone_units < 1):
            raise ValueError("backbone_layers must be >= 0 and backbone_units >= 1 when a backbone is used")
        if not 0.0 <= backbone_dropout < 1.0:
            raise ValueError(f"backbone_dropout must be in [0, 1), got {backbone_dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.mode = mode
        self.activation = activation
        self.backbone_layers = backbone_layers
        self.backbone_dropout = backbone_dropout
        widths = [input_size + hidden_size] + [backbone_units] * backbone_layers
        self.backbone = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        heads = 1 if mode == "pure" else 4
        # Rows: ff1, ff2, time_a, time_b (ff1 only in pure mode); one matrix so a step is one product.
        self.head = nn.Linear(widths[-1], heads * hidden_size)
        if mode == "pure":
            self.w_tau = nn.Parameter(torch.zeros(hidden_size))
            self.A = nn.Parameter(torch.ones(hidden_size))
        else:
            self.register_parameter("w_tau", None)
            self.register_parameter("A", None)
        if sparsity_mask is None:
            self.register_buffer("head_mask", None)
        elif backbone_layers:
            raise ValueError("a sparsity_mask applies to cells without backbone (backbone_layers=0)")
        else:
            mask = torch.ones(heads * hidden_size, input_size + hidden_size)
            ff_rows = min(2, heads) * hidden_size
            mask[:ff_rows] = torch.from_numpy(np.abs(np.asarray(sparsity_mask, dtype=np.float32)).T).repeat(
                min(2, heads), 1)
            self.register_buffer("head_mask", mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        for layer in self.backbone:
            nn.init.xavier_uniform_(layer.weight)
            _default_bias_init(layer)
        # Xavier per head, as if each head were its own (H, K) matrix (ncps's initialisation).
        for block in self.head.weight.data.split(self.hidden_size):
            nn.init.xavier_uniform_(block)
        bound = 1.0 / math.sqrt(self.head.in_features)
        nn.init.uniform_(self.head.bias, -bound, bound)

    @property
    def state_size(self) -> int:
        return self.hidden_size

    def weights(self, apply_mask: bool = True) -> CellWeights:
        """The weights split as the recurrence kernels take them.

        ``apply_mask``: multiply the wiring mask into the first matrix (the effective weights);
        False leaves the raw weights and passes the mask in ``CellWeights.mask``.
        """
        first = self.backbone[0] if self.backbone_layers else self.head
        masked = apply_mask and self.head_mask is not None
        weight = first.weight * self.head_mask if masked else first.weight
        head = self.head if self.backbone_layers else None
        return CellWeights(
            in_weight=weight[:, : self.input_size],
            rec_weight=weight[:, self.input_size:],
            bias=first.bias,
            hidden=tuple((layer.weight, layer.bias) for layer in self.backbone[1:]),
            head_weight=None if head is None else head.weight,
            head_bias=None if head is None else head.bias,
            w_tau=self.w_tau,
            A=self.A,
            mask=None if apply_mask else self.head_mask,
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor, ts=1.0) -> torch.Tensor:
        w = self.weights()
        ts = _step_timespans(ts, x)
        return cell_step(F.linear(x, w.in_weight, w.bias), h, ts, w, self.mode, self.activation,
                         self.backbone_dropout, self.training)


def _default_bias_init(layer: nn.Linear):
    bound = 1.0 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound)


def _step_timespans(ts, x):
    """A step's elapsed time as (B, 1)."""
    if isinstance(ts, torch.Tensor):
        return ts.to(x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
    return x.new_full((x.shape[0], 1), float(ts))


class WiredCfCCell(nn.Module):
    """One step of a CfC on a wiring: a backbone-free :class:`CfCCell` per wiring layer.

    The state is all layers' states concatenated in layer order (for an NCP: inter, command,
    motor); the output is the last layer's state (the motor neurons).
    """

    def __init__(self, input_size: int, wiring: Wiring, mode: str = "default"):
        super().__init__()
        wiring.build(input_size)
        self.wiring = wiring
        self.layers = nn.ModuleList()
        in_features = input_size
        for l in range(wiring.num_layers):
            neurons = wiring.get_neurons_of_layer(l)
            if l == 0:
                input_mask = wiring.sensory_adjacency_matrix[:, neurons]
            else:
                input_mask = wiring.adjacency_matrix[wiring.get_neurons_of_layer(l - 1)][:, neurons]
            # Each layer's own recurrent connections are dense, as in ncps.
            mask = np.concatenate([input_mask, np.ones((len(neurons), len(neurons)))], axis=0)
            self.layers.append(CfCCell(in_features, len(neurons), mode, backbone_layers=0,
                                       backbone_units=0, sparsity_mask=mask))
            in_features = len(neurons)

    @property
    def layer_sizes(self) -> list[int]:
        return self.wiring.layer_sizes

    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def output_size(self) -> int:
        return self.wiring.output_dim

    def forward(self, x: torch.Tensor, h: torch.Tensor, ts=1.0) -> torch.Tensor:
        states = h.split(self.layer_sizes, dim=-1)
        new = []
        for cell, state in zip(self.layers, states):
            x = cell(x, state, ts)
            new.append(x)
        return torch.cat(new, dim=-1)


def _kernel_tensor_names(prefix: str, cell: CfCCell) -> list:
    """Dotted names of one cell's tensors in the C kernel's order (``cfc_native.CELL_FIELDS``, then
    the hidden layers); ``cell`` gives the backbone depth, shared by all cells of a layer."""
    first = "backbone.0" if cell.backbone_layers else "head"
    head = ["head.weight", "head.bias"] if cell.backbone_layers else [None, None]
    hidden = [f"backbone.{k}.{p}" for k in range(1, cell.backbone_layers) for p in ("weight", "bias")]
    names = [f"{first}.weight", f"{first}.bias", "head_mask", *head, "w_tau", "A", *hidden]
    return [None if n is None else f"{prefix}.{n}" for n in names]


def _step_work(cell: CfCCell) -> int:
    """Multiply-adds of one step of one cell for one sample."""
    first = cell.backbone[0] if cell.backbone_layers else cell.head
    work = first.weight.numel() + sum(layer.weight.numel() for layer in cell.backbone[1:])
    return work + (cell.head.weight.numel() if cell.backbone_layers else 0)


class _KernelCache:
    """The C kernel's address table for the layer's weights, rebuilt whenever one of them moved
    (a copy or a pickle of the layer starts empty: addresses do not travel).

    The table holds the tensors it points into, so no other tensor can have one of their
    addresses: equal addresses are the same memory, whose values the kernel reads at each call.
    """

    def __init__(self):
        self._addresses, self._cells = None, None

    def get(self, tensors: list, hidden_sizes: list, input_size: int, mode: str) -> "cfc_native.KernelCells":
        addresses = [None if t is None else t.data_ptr() for t in tensors]
        if addresses != self._addresses:
            per_cell = len(tensors) // len(hidden_sizes)
            cells = [tensors[i * per_cell: (i + 1) * per_cell] for i in range(len(hidden_sizes))]
            self._cells = cfc_native.KernelCells(cells, hidden_sizes, input_size, mode)
            self._addresses = addresses
        return self._cells

    def __reduce__(self):
        return _KernelCache, ()


class CfC(nn.Module):
    """A CfC sequence layer: ``y, h = cfc(x, hx=None, timespans=None)``.

    Args:
        input_size: features I of ``x``.
        units: number of units, or a :class:`~liquidts.wirings.Wiring` (e.g. an NCP); with a wiring
            the output is the motor neurons and there is no backbone.
        proj_size: optional linear projection of the output.
        return_sequences: output every step (B, T, out) or only the last (B, out).
        batch_first: ``x`` is (B, T, I) (default) or (T, B, I).
        mixed_memory: run an LSTM-style memory cell before the CfC cell at each step; the state is
            then a tuple ``(h, c)``.
        mode: ``"default"``, ``"no_gate"`` or ``"pure"``.
        activation, backbone_units (default 128), backbone_layers (default 1), backbone_dropout
            (default 0): the backbone of an unwired CfC.
        backend: ``"auto"`` (Triton kernel for CUDA tensors when available, else PyTorch),
            ``"torch"`` or ``"triton"``.

    ``timespans`` gives each sample's elapsed time before every step, shaped like the batch and time
    axes of ``x`` (a number applies to all); default 1. ``hx`` carries the state between calls, so a
    long series fed in chunks gives the same result as fed whole.
    """

    def __init__(self, input_size: int, units, proj_size: int | None = None, return_sequences: bool = True,
                 batch_first: bool = True, mixed_memory: bool = False, mode: str = "default",
                 activation: str = "lecun_tanh", backbone_units: int | None = None,
                 backbone_layers: int | None = None, backbone_dropout: float | None = None,
                 backend: str = "auto"):
        super().__init__()
        if not isinstance(input_size, (int, np.integer)) or input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
        _check_choice("mode", mode, MODES)
        _check_choice("backend", backend, dispatch.CFC_BACKENDS)
        self.input_size = int(input_size)
        self.proj_size = proj_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.mixed_memory = mixed_memory
        self.mode = mode
        self.backend = backend
        if isinstance(units, Wiring):
            if any(v is not None for v in (backbone_units, backbone_layers, backbone_dropout)):
                raise ValueError("a wired CfC has no backbone: do not pass backbone_units/layers/dropout")
            self.wiring = units
            self.cell = WiredCfCCell(self.input_size, units, mode)
            self.state_size = units.units
            self.output_size = units.output_dim
            self.activation = activation
        elif isinstance(units, (int, np.integer)) and units >= 1:
            self.wiring = None
            self.cell = CfCCell(self.input_size, int(units), mode, activation,
                                128 if backbone_units is None else backbone_units,
                                1 if backbone_layers is None else backbone_layers,
                                0.0 if backbone_dropout is None else backbone_dropout)
            self.state_size = int(units)
            self.output_size = int(units)
            self.activation = activation
        else:
            raise TypeError(f"units must be a positive int or a Wiring, got {units!r}")
        self.memory = MemoryCell(self.input_size, self.state_size) if mixed_memory else None
        self.fc = nn.Identity() if proj_size is None else nn.Linear(self.output_size, proj_size)
        if proj_size is not None:
            self.output_size = proj_size
        # What the path decision needs about the cells; their structure is fixed once built.
        cells = self.cells
        self._hidden_sizes = [cell.hidden_size for cell in cells]
        self._has_backbone = cells[0].backbone_layers > 0
        self._n_hidden = max(cells[0].backbone_layers - 1, 0)
        backbone_units = cells[0].head.in_features if self._has_backbone else 0
        self._triton_tile = dispatch.largest_tile(self._hidden_sizes, backbone_units, self._n_hidden)
        self._triton_weights = dispatch.held_weights(self._hidden_sizes, backbone_units, self._n_hidden,
                                                     1 if self.mode == "pure" else 4)
        self._step_work = sum(_step_work(cell) for cell in cells)
        # The C kernel reads the parameters in place; their addresses are looked up at every call.
        cell_names = [f"cell.layers.{l}" for l in range(len(cells))] if self.wiring is not None else ["cell"]
        self._kernel_tensors = LiveTensors(self, [name for cell_name in cell_names
                                                   for name in _kernel_tensor_names(cell_name, cells[0])])
        self._kernel_cells = _KernelCache()

    @property
    def cells(self) -> list:
        return list(self.cell.layers) if self.wiring is not None else [self.cell]

    def forward(self, input: torch.Tensor, hx=None, timespans=None):
        live = self._kernel_tensors.get()  # live[0]: the first cell's first matrix
        x, ts, h, c, unbatched = prepare_call("CfC", input, hx, timespans, self.input_size, self.batch_first,
                                              self.state_size, self.mixed_memory, live[0])
        batch, steps = x.shape[0], x.shape[1]
        # Read at every call: backbone_dropout may be changed on a built layer (Monte Carlo dropout).
        dropout = self.cell.backbone_dropout if self._has_backbone and self.training else 0.0
        path = dispatch.choose_cfc_path(
            device_type=x.device.type, dtype=x.dtype, backend=self.backend, mode=self.mode,
            n_cells=len(self._hidden_sizes),
            n_hidden=self._n_hidden, has_backbone=self._has_backbone, activation=self.activation,
            tile=self._triton_tile, weights=self._triton_weights,
            grad=torch.is_grad_enabled(), mixed_memory=self.mixed_memory, dropout_active=dropout > 0,
            timespans_need_grad=ts is not None and ts.requires_grad, step_work=batch * self._step_work,
            triton_reason=lambda: dispatch.triton_unavailable_reason(x.device.type),
            c_reason=cfc_native.unavailable_reason, c_train_reason=scan_native.unavailable_reason)
        if path == "c":
            cells = self._kernel_cells.get(live, self._hidden_sizes, self.input_size, self.mode)
            out = cfc_native.cfc_inference_native(x, h, ts, cells, self.mode, self.activation)  # (T, B, sum H)
            return self._finish(out[..., self.state_size - self._hidden_sizes[-1]:], out[-1], None, unbatched)
        cells = self.cells
        if path == "inference":
            states = cfc_inference(x, list(h.split(self._hidden_sizes, dim=-1)), ts,
                                   [cell.weights() for cell in cells], self.mode, self.activation)
            return self._finish_cells(states, None, unbatched)
        # Raw weights and wiring masks: the Triton kernel applies the masks itself.
        weights = [cell.weights(apply_mask=False) for cell in cells]
        x_tm = x.transpose(0, 1)  # (T, B, I)
        ts_tm = (x.new_ones(steps, batch, 1) if ts is None else ts.transpose(0, 1).unsqueeze(-1))  # (T, B, 1)
        h0 = list(h.split(self._hidden_sizes, dim=-1))
        if path == "c_train":  # the kernel multiplies the inputs by their weights itself (kernels/cfc/scan.c)
            states = scan_native.cfc_scan_native(x_tm, h0, ts_tm, [effective(w) for w in weights], self.mode,
                                                 self.activation, batch_major=self.batch_first or unbatched)
            return self._finish_cells(states, c, unbatched)
        # One 2-D product on contiguous rows: on a strided 3-D view PyTorch takes a slower product and
        # sums the bias gradient over two dimensions, together about 3% of a CPU training step.
        rows = x_tm.contiguous().view(steps * batch, -1)
        x_proj = F.linear(rows, effective(weights[0]).in_weight, weights[0].bias).view(steps, batch, -1)  # (T, B, K0)
        if path == "reference":
            memory = None if self.memory is None else (self.memory, x_tm)
            states, c = cfc_reference(x_proj, h0, ts_tm, weights, self.mode, self.activation,
                                      dropout, self.training, memory, c)
        elif path == "triton":
            from liquidts.kernels.cfc.triton import cfc_triton

            states = cfc_triton(x_proj, h0, ts_tm, weights, self.mode, self.activation)
        else:
            states = cfc_scan(x_proj, h0, ts_tm, [effective(w) for w in weights], self.mode, self.activation)
        return self._finish_cells(states, c, unbatched)

    def __prepare_scriptable__(self):
        """``torch.jit.script(layer)`` compiles :class:`~liquidts.nn.scriptable.ScriptableCfC` on this layer's
        parameters (the dispatching forward does not compile; see that module)."""
        from liquidts.nn.scriptable import ScriptableCfC

        return ScriptableCfC(self)

    def step(self, x: torch.Tensor, hx=None, timespans=None):
        """One step of streaming inference from a carried state: ``y_t, h = layer.step(x_t, h, dt)``.

        ``x`` (B, I), ``hx`` the state returned by the previous call (None: zero), ``timespans`` the
        elapsed time before this step, a number or (B,). Returns the output (B, out) and the new
        state, of a fixed size whatever the number of steps taken; the outputs of successive steps
        are those of one call over the whole sequence.
        """
        return one_step(self, x, hx, timespans)

    def _finish_cells(self, states, c, unbatched):
        """:meth:`_finish` from per-cell states (T, B, H_l)."""
        return self._finish(states[-1], torch.cat([s[-1] for s in states], dim=-1), c, unbatched)

    def _finish(self, out, h_last, c, unbatched):
        """Output from the last cell's states ``out`` (T, B, H_last) (the motor layer when wired);
        state from all cells' states at the last step, ``h_last`` (B, state)."""
        if self.return_sequences:
            y = self.fc(out.transpose(0, 1) if self.batch_first or unbatched else out)
        else:
            y = self.fc(out[-1])
        state = (h_last, c) if self.mixed_memory else h_last
        if unbatched:
            y = y.squeeze(0)
            state = (h_last[0], c[0]) if self.mixed_memory else h_last[0]
        return y, state
