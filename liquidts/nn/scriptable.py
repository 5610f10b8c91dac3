"""TorchScript forms of the CfC and LTC layers: the same function in plain PyTorch, for
``torch.jit.script`` and the ONNX export (``liquidts.export``).

The layers themselves choose a path per call (C kernels, Triton, a hand-written backward; see
``liquidts.kernels.dispatch``) and accept loose inputs (numbers for timespans, unbatched inputs,
pairs of states). None of that compiles under TorchScript, and a compiled graph does not need it.
So ``torch.jit.script(layer)`` compiles these modules instead: the layers' ``__prepare_scriptable__``
returns one, built on the layer's own parameters (shared, not copied: training the layer changes
the scripted module too). They compute the layer's inference function step by step, in a loop whose
trip count is the input's length, so a compiled or exported graph takes any batch and any length.

What they cover: every CfC mode, activation and backbone depth, wired CfCs (NCPs), the output
projection; LTCs with the fused fixed-step solver (``solver="semi_implicit"``), dense or wired.
What they refuse (ValueError at scripting time): ``mixed_memory`` (its state is a pair) and LTCs
with a torchdiffeq solver (the solvers are Python libraries; adaptive ones have data-dependent step
counts). Inputs must be 3-D, timespans a tensor (B, T) or None; dropout is off (inference).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

def _refuse_memory(layer) -> None:
    if layer.mixed_memory:
        raise ValueError(f"a {type(layer).__name__} with mixed_memory=True cannot be scripted or exported: its "
                         "state is a pair (h, c); build the layer without the memory cell")


class ScriptCfCCell(nn.Module):
    """One :class:`~liquidts.nn.CfCCell` step, on the cell's own parameters."""

    def __init__(self, cell):
        super().__init__()
        self.mode: str = cell.mode
        self.activation: str = cell.activation
        self.hidden_size: int = cell.hidden_size
        self.has_backbone: bool = cell.backbone_layers > 0
        self.backbone = cell.backbone  # the same Linear modules
        self.head = cell.head
        self.has_mask: bool = cell.head_mask is not None
        self.register_buffer("mask", cell.head_mask if self.has_mask else torch.zeros(0), persistent=False)
        self.w_tau = cell.w_tau if cell.w_tau is not None else nn.Parameter(torch.zeros(0), requires_grad=False)
        self.A = cell.A if cell.A is not None else nn.Parameter(torch.zeros(0), requires_grad=False)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "lecun_tanh":
            return 1.7159 * torch.tanh(0.666 * z)  # liquidts.activations.lecun_tanh (no globals in TorchScript)
        if self.activation == "tanh":
            return torch.tanh(z)
        if self.activation == "relu":
            return F.relu(z)
        if self.activation == "silu":
            return F.silu(z)
        return F.gelu(z)

    def forward(self, x: torch.Tensor, h: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        """x (B, I), h (B, H), ts (B, 1) -> the new state (B, H)."""
        z = torch.cat([x, h], dim=-1)
        if self.has_backbone:
            for layer in self.backbone:
                z = self.act(layer(z))
            u = self.head(z)
        else:
            weight = self.head.weight * self.mask if self.has_mask else self.head.weight
            u = F.linear(z, weight, self.head.bias)
        if self.mode == "pure":
            return -self.A * torch.exp(-ts * (self.w_tau.abs() + u.abs())) * u + self.A
        H = self.hidden_size
        ff1, ff2 = torch.tanh(u[:, :H]), torch.tanh(u[:, H: 2 * H])
        s = torch.sigmoid(u[:, 2 * H: 3 * H] * ts + u[:, 3 * H:])
        if self.mode == "no_gate":
            return ff1 + s * ff2
        return ff1 * (1.0 - s) + s * ff2


class ScriptableCfC(nn.Module):
    """:class:`~liquidts.nn.CfC` for TorchScript: ``y, h = m(x, hx=None, timespans=None)``."""

    def __init__(self, layer):
        super().__init__()
        _refuse_memory(layer)
        self.cells = nn.ModuleList(ScriptCfCCell(cell) for cell in layer.cells)
        sizes = [cell.hidden_size for cell in layer.cells]
        self.starts: List[int] = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes: List[int] = sizes
        self.state_size: int = sum(sizes)
        self.batch_first: bool = layer.batch_first
        self.return_sequences: bool = layer.return_sequences
        self.fc = layer.fc

    def forward(self, x: torch.Tensor, hx: Optional[torch.Tensor] = None,
                timespans: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        if not self.batch_first:
            x = x.transpose(0, 1)
            if timespans is not None:
                timespans = timespans.transpose(0, 1)
        B, T = x.shape[0], x.shape[1]
        h = torch.zeros(B, self.state_size, dtype=x.dtype, device=x.device) if hx is None else hx
        ts = torch.ones(B, T, dtype=x.dtype, device=x.device) if timespans is None else timespans.expand(B, T)
        outputs: List[torch.Tensor] = []
        last = h[:, self.state_size - self.sizes[-1]:]
        for t in range(T):
            inp = x[:, t]
            dt = ts[:, t: t + 1]
            parts: List[torch.Tensor] = []
            for i, cell in enumerate(self.cells):  # a wired CfC: each layer reads the previous one's new state
                inp = cell(inp, h[:, self.starts[i]: self.starts[i] + self.sizes[i]], dt)
                parts.append(inp)
            h = torch.cat(parts, dim=-1)
            last = inp
            outputs.append(inp)
        if self.return_sequences:
            y = self.fc(torch.stack(outputs, dim=1))
            if not self.batch_first:
                y = y.transpose(0, 1)
        else:
            y = self.fc(last)
        return y, h


class ScriptableLTC(nn.Module):
    """:class:`~liquidts.nn.LTC` (fused fixed-step solver) for TorchScript: ``y, h = m(x, hx, timespans)``.

    The synapses are summed densely through the wiring's masks (the layer's edge list and C kernel
    compute the same sums in another order)."""

    def __init__(self, layer):
        super().__init__()
        _refuse_memory(layer)
        if layer.solver != "semi_implicit":
            raise ValueError(f"an LTC with solver={layer.solver!r} cannot be scripted or exported; the fused "
                             "fixed-step solver (solver='semi_implicit') can")
        cell = layer.cell
        for name in ("gleak", "vleak", "cm", "sigma", "mu", "w", "erev", "sensory_sigma", "sensory_mu",
                     "sensory_w", "sensory_erev"):
            setattr(self, name, getattr(cell, name))  # the same Parameters
        for name in ("input_w", "input_b", "output_w", "output_b"):
            p = getattr(cell, name)
            setattr(self, name, p if p is not None else nn.Parameter(torch.zeros(0), requires_grad=False))
        self.register_buffer("mask", cell.sparsity_mask, persistent=False)
        self.register_buffer("sensory_mask", cell.sensory_sparsity_mask, persistent=False)
        self.softplus: bool = cell.implicit_param_constraints
        self.unfolds: int = cell.ode_unfolds
        self.epsilon: float = cell.epsilon
        self.units: int = cell.state_size
        self.motor: int = cell.motor_size
        self.batch_first: bool = layer.batch_first
        self.return_sequences: bool = layer.return_sequences

    def positive(self, p: torch.Tensor) -> torch.Tensor:
        return F.softplus(p) if self.softplus else p

    def forward(self, x: torch.Tensor, hx: Optional[torch.Tensor] = None,
                timespans: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        if not self.batch_first:
            x = x.transpose(0, 1)
            if timespans is not None:
                timespans = timespans.transpose(0, 1)
        B, T, N = x.shape[0], x.shape[1], self.units
        v = torch.zeros(B, N, dtype=x.dtype, device=x.device) if hx is None else hx
        ts = torch.ones(B, T, dtype=x.dtype, device=x.device) if timespans is None else timespans.expand(B, T)
        if self.input_w.numel() > 0:
            x = x * self.input_w
        if self.input_b.numel() > 0:
            x = x + self.input_b
        # input synapses, all steps at once: drive and conductance (B, T, 2N), leak and epsilon added
        act = self.positive(self.sensory_w) * torch.sigmoid(
            (x.unsqueeze(-1) - self.sensory_mu) * self.sensory_sigma) * self.sensory_mask  # (B, T, I, N)
        gleak = self.positive(self.gleak)
        drive_in = (act * self.sensory_erev).sum(-2) + gleak * self.vleak  # (B, T, N)
        cond_in = act.sum(-2) + gleak + self.epsilon
        w = self.positive(self.w) * self.mask  # (N, N) [pre, post]
        w_erev = w * self.erev
        cm = self.positive(self.cm)
        states: List[torch.Tensor] = []
        for t in range(T):
            h = ts[:, t: t + 1] / self.unfolds  # (B, 1)
            for _ in range(self.unfolds):  # semi-implicit Euler, as LTCCell.fused_steps
                syn = torch.sigmoid((v.unsqueeze(-1) - self.mu) * self.sigma)  # (B, N, N)
                drive = drive_in[:, t] + (syn * w_erev).sum(1)
                cond = cond_in[:, t] + (syn * w).sum(1)
                v = (cm * v + h * drive) / (cm + h * cond)
            states.append(v)
        out = torch.stack(states, dim=1) if self.return_sequences else v  # (B, T, N) or (B, N)
        y = out[..., : self.motor]
        if self.output_w.numel() > 0:
            y = y * self.output_w
        if self.output_b.numel() > 0:
            y = y + self.output_b
        if self.return_sequences and not self.batch_first:
            y = y.transpose(0, 1)
        return y, v
