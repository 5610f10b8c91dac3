"""The LTC ODE through ``torchdiffeq``: adaptive solvers (dopri5, ...) and the adjoint method.

Over one input step of elapsed time dt the inputs are held constant and each neuron follows

    cm dv/dt = (gleak vleak + S_num + sum_i a_i w_i E_i) - v (gleak + S_den + sum_i a_i w_i),
    a_i = sigmoid(sigma_i (v_pre_i - mu_i)),

(S_num, S_den: the input synapses' terms). Samples of a batch may have different dt, but
``odeint`` integrates one time grid, so time is rescaled: with s = t / dt in [0, 1],
dv/ds = dt * f(v). Fixed-step methods then take ``ode_unfolds`` steps of 1/ode_unfolds.
"""

from __future__ import annotations

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.solvers import FixedGridODESolver

FUSED = "semi_implicit"
FIXED_GRID = tuple(name for name, cls in SOLVERS.items() if issubclass(cls, FixedGridODESolver))


def check_solver(name: str) -> None:
    valid = [FUSED] + [n for n in SOLVERS if n != "scipy_solver"]
    if name not in valid:
        raise ValueError(f"unknown solver {name!r}; valid options are {valid}")


class _RescaledLTC(nn.Module):
    """dv/ds = dt * f(v) for one input step; the tensors it closes over are the adjoint's parameters."""

    def __init__(self, d: dict, sensory_num, sensory_den, dt):
        super().__init__()
        self.cm, self.gleak, self.leak = d["cm"], d["gleak"], d["leak"]
        self.w, self.w_erev, self.mu, self.sigma = d["w"], d["w_erev"], d["mu"], d["sigma"]
        self.sensory_num, self.sensory_den, self.dt = sensory_num, sensory_den, dt

    def tensors(self) -> tuple:
        return (self.cm, self.gleak, self.leak, self.w, self.w_erev, self.mu, self.sigma,
                self.sensory_num, self.sensory_den, self.dt)

    def forward(self, s, v):
        act = torch.sigmoid((v.unsqueeze(-1) - self.mu) * self.sigma)  # (B, N, N)
        drive = self.leak + self.sensory_num + (act * self.w_erev).sum(1)  # (B, N)
        conductance = self.gleak + self.sensory_den + (act * self.w).sum(1)
        return self.dt * (drive - v * conductance) / self.cm


def ltc_ode_step(layer, v, sensory_num, sensory_den, dt, d):
    """Integrate the layer's LTC ODE over one input step with ``layer.solver``; returns v (B, N)."""
    func = _RescaledLTC(d, sensory_num, sensory_den, dt)
    grid = torch.tensor([0.0, 1.0], dtype=v.dtype, device=v.device)
    options = {"step_size": 1.0 / layer.cell.ode_unfolds} if layer.solver in FIXED_GRID else None
    kwargs = dict(rtol=layer.rtol, atol=layer.atol, method=layer.solver, options=options)
    if layer.adjoint:
        params = tuple(t for t in func.tensors() if t.requires_grad)
        return odeint_adjoint(func, v, grid, adjoint_params=params, **kwargs)[-1]
    return odeint(func, v, grid, **kwargs)[-1]
