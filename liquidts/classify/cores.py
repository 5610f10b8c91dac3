"""Sequence cores of the classifier by name, and the two irregular-sampling baselines built here.

Every core reads the step features (B, T, F) with the elapsed times (B, T) as ``timespans`` and
returns outputs at every step, ``y, h = core(x, hx=None, timespans=None)``:

* ``cfc`` (default), ``ltc``, ``ncp`` (CfC on an AutoNCP wiring): the liquid layers, whose state
  evolves over each step's elapsed time;
* ``lstm``, ``gru``, ``mamba``, ``xlstm``: ``liquidts.baselines``; they see the elapsed times only
  as inputs (the step and since-last-seen features);
* :class:`GRUD`: GRU-D (Che et al., 2018): inputs decay towards the training median and the state
  decays towards zero with the time since each variable was last observed;
* :class:`ODERNN`: ODE-RNN (Rubanova et al., 2019): a GRU whose state follows a learned ODE
  between observations, solved by ``torchdiffeq.odeint`` (dopri5, rtol 1e-3, atol 1e-4). Each
  sample integrates over its own elapsed time: ``dh/ds = dt · f(h)`` for ``s`` in [0, 1], so one
  adaptive solve serves the whole batch. The authors' code differs: it passes these tolerances
  but steps with Euler (at least 1/50 of the record's time span per step) on the union of the
  batch's observation times, with a three-layer ODE function and MLP-gated GRU updates.

Letters: B batch, T steps, F features, V variables, H units.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchdiffeq import odeint

from liquidts.baselines import BASELINES
from liquidts.nn import LTC, CfC
from liquidts.wirings import AutoNCP

LIQUID = ("cfc", "ltc", "ncp")
IRREGULAR = ("grud", "odernn")


def available_models() -> list[str]:
    """Names ``model=`` accepts."""
    return [*LIQUID, *sorted(BASELINES), *IRREGULAR]


def build_core(model, n_features: int, n_variables: int, units: int, backbone_units: int) -> nn.Module:
    """The core named ``model`` (see the module docstring), or a private copy of a user's module."""
    if isinstance(model, nn.Module):
        return copy.deepcopy(model)
    if not isinstance(model, str):
        raise TypeError(f"model must be a name or a torch.nn.Module, got {type(model).__name__}")
    name = model.lower()
    if name == "cfc":
        return CfC(n_features, units, backbone_units=backbone_units, backbone_layers=1)
    if name == "ltc":
        return LTC(n_features, units)
    if name == "ncp":
        return CfC(n_features, AutoNCP(units, max(1, units // 4)))
    if name in BASELINES:
        return BASELINES[name](n_features, units)
    if name == "grud":
        return GRUD(n_variables, n_features, units)
    if name == "odernn":
        return ODERNN(n_features, units)
    raise ValueError(f"unknown model {model!r}; valid names: {available_models()} or a torch.nn.Module")


def output_size(core: nn.Module, n_features: int) -> int:
    size = getattr(core, "output_size", None)
    if isinstance(size, int):
        return size
    with torch.no_grad():
        y, _ = core(torch.zeros(1, 2, n_features), None, torch.ones(1, 2))
    return int(y.shape[-1])


class GRUD(nn.Module):
    """GRU-D over the classifier's step features ``[values, mask, since, step]`` (V, V, V, 1).

    ``values`` are carried forward and normalised (0 = the training median), so the decayed input
    ``m·x + (1-m)(γ·x_last + (1-γ)·median)`` is ``m·x + (1-m)·γ·x``, with ``γ = exp(-relu(w·δ + b))``
    per variable and δ the time since the variable was last seen. The state decays by
    ``exp(-relu(W δ + b))`` before each update. The GRU reads the decayed values and the rest of
    the features.
    """

    def __init__(self, n_variables: int, input_size: int, hidden_size: int):
        super().__init__()
        if input_size != 3 * n_variables + 1:
            raise ValueError(f"GRUD reads 3 * n_variables + 1 features, got {input_size} for {n_variables}")
        self.n_variables, self.input_size, self.hidden_size = n_variables, input_size, hidden_size
        self.output_size = hidden_size
        self.decay_x_weight = nn.Parameter(torch.zeros(n_variables))
        self.decay_x_bias = nn.Parameter(torch.zeros(n_variables))
        self.decay_h = nn.Linear(n_variables, hidden_size)
        self.cell = nn.GRUCell(input_size, hidden_size)

    def forward(self, x, hx=None, timespans=None):
        V = self.n_variables
        values, mask, since = x[..., :V], x[..., V: 2 * V], torch.expm1(x[..., 2 * V: 3 * V])  # (B, T, V)
        gamma_x = torch.exp(-torch.relu(self.decay_x_weight * since + self.decay_x_bias))
        decayed = mask * values + (1 - mask) * gamma_x * values
        gamma_h = torch.exp(-torch.relu(self.decay_h(since)))  # (B, T, H)
        inputs = torch.cat([decayed, x[..., V:]], dim=-1)  # (B, T, F)
        h = x.new_zeros(x.shape[0], self.hidden_size) if hx is None else hx
        out = []
        for t in range(x.shape[1]):
            h = self.cell(inputs[:, t], gamma_h[:, t] * h)
            out.append(h)
        return torch.stack(out, dim=1), h


class _Scaled(nn.Module):
    """``dh/ds = dt · f(h)``: each sample's own elapsed time mapped onto s in [0, 1]."""

    def __init__(self, func: nn.Module, dt: torch.Tensor):
        super().__init__()
        self.func, self.dt = func, dt

    def forward(self, s, h):
        return self.dt * self.func(h)


class ODERNN(nn.Module):
    """ODE-RNN (Rubanova et al., 2019): between steps the state follows ``dh/dt = f(h)`` (an MLP
    with ``ode_units`` tanh units) for the step's elapsed time; at each step a GRU cell reads the
    features. ``method``, ``rtol``, ``atol`` go to ``torchdiffeq.odeint``."""

    def __init__(self, input_size: int, hidden_size: int, ode_units: int | None = None, method: str = "dopri5",
                 rtol: float = 1e-3, atol: float = 1e-4):
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.method, self.rtol, self.atol = method, rtol, atol
        units = ode_units or hidden_size
        self.func = nn.Sequential(nn.Linear(hidden_size, units), nn.Tanh(), nn.Linear(units, hidden_size))
        self.cell = nn.GRUCell(input_size, hidden_size)
        self.nfe = 0  # function evaluations of the last forward pass

    def forward(self, x, hx=None, timespans=None):
        B, T, _ = x.shape
        h = x.new_zeros(B, self.hidden_size) if hx is None else hx
        ts = x.new_ones(B, T) if timespans is None else timespans
        span = x.new_tensor([0.0, 1.0])
        out = []
        self.nfe = 0
        for t in range(T):
            dt = ts[:, t: t + 1]  # (B, 1)
            if bool((dt > 0).any()):
                func = _Counting(_Scaled(self.func, dt), self)
                h = odeint(func, h, span, method=self.method, rtol=self.rtol, atol=self.atol)[-1]
            h = self.cell(x[:, t], h)
            out.append(h)
        return torch.stack(out, dim=1), h


class _Counting(nn.Module):
    def __init__(self, func, owner):
        super().__init__()
        self.func, self.owner = func, [owner]

    def forward(self, s, h):
        self.owner[0].nfe += 1
        return self.func(s, h)
