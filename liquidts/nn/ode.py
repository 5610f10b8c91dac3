"""The LTC ODE through ``torchdiffeq``: adaptive solvers (dopri5, ...) and the adjoint method.

Over one input step of elapsed time dt the inputs are held constant and each neuron follows

    cm dv/dt = (gleak vleak + S_num + sum_i a_i w_i E_i) - v (gleak + S_den + sum_i a_i w_i),
    a_i = sigmoid(sigma_i (v_pre_i - mu_i)),

(S_num, S_den: the input synapses' terms; ``LTCCell.currents`` computes both sums). Samples of a batch may have different dt, but
``odeint`` integrates one time grid, so time is rescaled: with s = t / dt in [0, 1],
dv/ds = dt * f(v). Fixed-step methods then take ``ode_unfolds`` steps of 1/ode_unfolds.
"""

from __future__ import annotations

import torch
from torch import nn

FUSED = "semi_implicit"
# torchdiffeq's methods, by kind. Its own table is private (torchdiffeq._impl); a test checks these
# names against it, so a torchdiffeq release that changes them is noticed there.
FIXED_GRID = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams", "fixed_adams")
ADAPTIVE = ("dopri8", "dopri5", "bosh3", "fehlberg2", "adaptive_heun")
SOLVERS = (FUSED, *ADAPTIVE, *FIXED_GRID)


def check_solver(name: str) -> None:
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid options are {list(SOLVERS)}")


class _RescaledLTC(nn.Module):
    """dv/ds = dt * f(v) for one input step; the tensors it closes over are the adjoint's parameters."""

    def __init__(self, cell, d: dict, base, dt):
        super().__init__()
        self.currents = cell.currents
        self.d, self.base, self.dt = d, base, dt

    def tensors(self) -> tuple:
        return (*self.d.values(), self.base, self.dt)

    def forward(self, s, v):
        g = self.currents(v, self.base, self.d)  # (B, 2N): drive, conductance
        n = v.shape[-1]
        return self.dt * (g[:, :n] - v * g[:, n:]) / self.d["cm"]


def ltc_ode_step(layer, v, base, dt, d):
    """Integrate the layer's LTC ODE over one input step with ``layer.solver``; returns v (B, N)."""
    if layer.adjoint:
        # The adjoint differentiates f w.r.t. each listed tensor through the whole graph, so a listed
        # tensor derived from another listed one (base from the leak, w * erev from w) would pass its
        # gradient twice; a fresh view of each is a separate node and cuts those paths.
        d = {name: t.view_as(t) for name, t in d.items()}
    func = _RescaledLTC(layer.cell, d, base, dt)
    grid = torch.tensor([0.0, 1.0], dtype=v.dtype, device=v.device)
    options = {"step_size": 1.0 / layer.cell.ode_unfolds} if layer.solver in FIXED_GRID else None
    kwargs = dict(rtol=layer.rtol, atol=layer.atol, method=layer.solver, options=options)
    if layer.adjoint:
        params = tuple(t for t in func.tensors() if t.requires_grad)
        from torchdiffeq import odeint_adjoint

        return odeint_adjoint(func, v, grid, adjoint_params=params, **kwargs)[-1]
    # Imported here: torchdiffeq loads scipy (about a second), needed only with a torchdiffeq solver.
    from torchdiffeq import odeint

    return odeint(func, v, grid, **kwargs)[-1]
