"""Liquid time-constant (LTC) cells and layers (Hasani et al., AAAI 2021).

Each neuron's potential v follows the ODE

    cm dv/dt = gleak (vleak - v) + sum_i w_i sigmoid(sigma_i (v_pre_i - mu_i)) (E_i - v)

summed over its synapses i (from other neurons and from the inputs): a conductance-based neuron
whose time constant depends on its inputs. By default one input step of elapsed time dt is solved
with ``ode_unfolds`` fused semi-implicit Euler steps of dt / ode_unfolds (ncps's solver); any
``torchdiffeq`` solver can be chosen instead (``solver=``, see ``liquidts.nn.ode``), with the same
parameters.

Parameters follow ``ncps`` 1.0.1: per-feature affine input and output mappings, outputs are the
first ``motor_size`` neurons, positive parameters (w, sensory_w, cm, gleak) kept positive by
softplus (``implicit_param_constraints=True``, the ``LTC`` default) or by clipping after each
optimiser step (:meth:`LTCCell.apply_weight_constraints`).

Letters: B batch, T time, I inputs, N neurons, M motor neurons.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liquidts.nn._inputs import check_state, prepare_sequence
from liquidts.nn.memory import MemoryCell
from liquidts.wirings import FullyConnected, Wiring

MAPPINGS = ("affine", "linear", None)

_INIT_RANGES = {
    "gleak": (0.001, 1.0), "vleak": (-0.2, 0.2), "cm": (0.4, 0.6),
    "w": (0.001, 1.0), "sigma": (3.0, 8.0), "mu": (0.3, 0.8),
    "sensory_w": (0.001, 1.0), "sensory_sigma": (3.0, 8.0), "sensory_mu": (0.3, 0.8),
}


class LTCCell(nn.Module):
    """The LTC neurons of one wiring; ``y, v_new = cell(x, v, ts)`` for one input step.

    Args:
        wiring: the synapses (built here for ``in_features``).
        in_features: number of input features (sensory neurons).
        input_mapping, output_mapping: ``"affine"``, ``"linear"`` or None (per-feature scale and bias).
        ode_unfolds: semi-implicit Euler steps per input step.
        epsilon: added to the denominator of the fused step.
        implicit_param_constraints: keep positive parameters positive by softplus (True) or by
            clipping them in :meth:`apply_weight_constraints` (False).
    """

    def __init__(self, wiring: Wiring, in_features: int | None = None, input_mapping="affine",
                 output_mapping="affine", ode_unfolds: int = 6, epsilon: float = 1e-8,
                 implicit_param_constraints: bool = False):
        super().__init__()
        if in_features is not None:
            wiring.build(in_features)
        if not wiring.is_built():
            raise ValueError("the wiring has no input size: pass in_features or call wiring.build(n)")
        for name, value in (("input_mapping", input_mapping), ("output_mapping", output_mapping)):
            if value not in MAPPINGS:
                raise ValueError(f"unknown {name} {value!r}; valid options are {list(MAPPINGS)}")
        if not isinstance(ode_unfolds, (int, np.integer)) or ode_unfolds < 1:
            raise ValueError(f"ode_unfolds must be a positive integer, got {ode_unfolds!r}")
        self.wiring = wiring
        self.input_mapping = input_mapping
        self.output_mapping = output_mapping
        self.ode_unfolds = int(ode_unfolds)
        self.epsilon = epsilon
        self.implicit_param_constraints = implicit_param_constraints
        n, i, m = wiring.units, wiring.input_dim, wiring.output_dim
        shapes = {"gleak": (n,), "vleak": (n,), "cm": (n,), "sigma": (n, n), "mu": (n, n), "w": (n, n),
                  "sensory_sigma": (i, n), "sensory_mu": (i, n), "sensory_w": (i, n)}
        for name, shape in shapes.items():
            low, high = _INIT_RANGES[name]
            self.register_parameter(name, nn.Parameter(torch.rand(shape) * (high - low) + low))
        self.erev = nn.Parameter(torch.from_numpy(wiring.erev_initializer()))
        self.sensory_erev = nn.Parameter(torch.from_numpy(wiring.sensory_erev_initializer()))
        self.register_buffer("sparsity_mask", torch.from_numpy(np.abs(wiring.adjacency_matrix).astype(np.float32)))
        self.register_buffer("sensory_sparsity_mask",
                             torch.from_numpy(np.abs(wiring.sensory_adjacency_matrix).astype(np.float32)))
        self.input_w = nn.Parameter(torch.ones(i)) if input_mapping in ("affine", "linear") else None
        self.input_b = nn.Parameter(torch.zeros(i)) if input_mapping == "affine" else None
        self.output_w = nn.Parameter(torch.ones(m)) if output_mapping in ("affine", "linear") else None
        self.output_b = nn.Parameter(torch.zeros(m)) if output_mapping == "affine" else None

    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def sensory_size(self) -> int:
        return self.wiring.input_dim

    @property
    def motor_size(self) -> int:
        return self.wiring.output_dim

    def _positive(self, p: torch.Tensor) -> torch.Tensor:
        return F.softplus(p) if self.implicit_param_constraints else p

    @torch.no_grad()
    def apply_weight_constraints(self):
        """Clip the positive parameters at 0 (call after each optimiser step when not implicit)."""
        if not self.implicit_param_constraints:
            for p in (self.w, self.sensory_w, self.cm, self.gleak):
                p.clamp_(min=0.0)

    def map_inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_w is not None:
            x = x * self.input_w
        if self.input_b is not None:
            x = x + self.input_b
        return x

    def map_outputs(self, v: torch.Tensor) -> torch.Tensor:
        y = v[..., : self.motor_size]
        if self.output_w is not None:
            y = y * self.output_w
        if self.output_b is not None:
            y = y + self.output_b
        return y

    def synapse_terms(self, x: torch.Tensor):
        """Input synapses' numerator and denominator contributions, (..., N) each, for mapped x (..., I)."""
        act = self._positive(self.sensory_w) * torch.sigmoid(
            (x.unsqueeze(-1) - self.sensory_mu) * self.sensory_sigma) * self.sensory_sparsity_mask  # (..., I, N)
        return (act * self.sensory_erev).sum(-2), act.sum(-2)

    def dynamics(self):
        """Positive and masked parameters of the internal dynamics, computed once per call."""
        w = self._positive(self.w) * self.sparsity_mask  # (N, N) [pre, post]
        gleak = self._positive(self.gleak)
        return {"cm": self._positive(self.cm), "gleak": gleak, "leak": gleak * self.vleak,
                "w": w, "w_erev": w * self.erev, "mu": self.mu, "sigma": self.sigma}

    def fused_steps(self, v, sensory_num, sensory_den, dt, d):
        """``ode_unfolds`` semi-implicit Euler steps of the LTC ODE over ``dt`` (B, 1).

        Multiplying ncps's update num/den by dt/unfolds keeps it finite for dt = 0 (no change).
        """
        h = dt / self.ode_unfolds  # (B, 1)
        base_num = d["leak"] + sensory_num  # (B, N)
        base_den = d["gleak"] + sensory_den + self.epsilon
        for _ in range(self.ode_unfolds):
            act = torch.sigmoid((v.unsqueeze(-1) - d["mu"]) * d["sigma"])  # (B, N, N)
            num = d["cm"] * v + h * (base_num + (act * d["w_erev"]).sum(1))
            den = d["cm"] + h * (base_den + (act * d["w"]).sum(1))
            v = num / den
        return v

    def forward(self, x: torch.Tensor, v: torch.Tensor, ts=1.0):
        x = self.map_inputs(x)
        num, den = self.synapse_terms(x)
        dt = ts.to(x.dtype).reshape(-1, 1) if isinstance(ts, torch.Tensor) else x.new_full((x.shape[0], 1), float(ts))
        v = self.fused_steps(v, num, den, dt, self.dynamics())
        return self.map_outputs(v), v


class LTC(nn.Module):
    """An LTC sequence layer: ``y, h = ltc(x, hx=None, timespans=None)``.

    Args:
        input_size: features I of ``x``.
        units: number of neurons (fully connected), or a :class:`~liquidts.wirings.Wiring`.
        return_sequences, batch_first, mixed_memory: as in :class:`~liquidts.nn.CfC`.
        input_mapping, output_mapping, ode_unfolds, epsilon, implicit_param_constraints: see
            :class:`LTCCell` (the layer's default keeps parameters positive by softplus).
        solver: ``"semi_implicit"`` (default, the fused fixed-step solver) or a ``torchdiffeq``
            method (``"dopri5"``, ``"rk4"``, ``"euler"``, ...); fixed-step methods take
            ``ode_unfolds`` steps per input step.
        rtol, atol: tolerances of adaptive solvers.
        adjoint: differentiate through ``torchdiffeq.odeint_adjoint`` (memory independent of the
            number of solver steps).

    The output is the first ``motor_size`` neurons after the output mapping; the state is all
    neurons' potentials.
    """

    def __init__(self, input_size: int, units, return_sequences: bool = True, batch_first: bool = True,
                 mixed_memory: bool = False, input_mapping="affine", output_mapping="affine",
                 ode_unfolds: int = 6, epsilon: float = 1e-8, implicit_param_constraints: bool = True,
                 solver: str = "semi_implicit", rtol: float = 1e-5, atol: float = 1e-6, adjoint: bool = False):
        super().__init__()
        from liquidts.nn.ode import check_solver

        if not isinstance(input_size, (int, np.integer)) or input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
        check_solver(solver)
        if isinstance(units, Wiring):
            wiring = units
        elif isinstance(units, (int, np.integer)) and units >= 1:
            wiring = FullyConnected(int(units))
        else:
            raise TypeError(f"units must be a positive int or a Wiring, got {units!r}")
        self.input_size = int(input_size)
        self.wiring = wiring
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.mixed_memory = mixed_memory
        self.solver = solver
        self.rtol, self.atol, self.adjoint = rtol, atol, adjoint
        self.cell = LTCCell(wiring, self.input_size, input_mapping, output_mapping, ode_unfolds, epsilon,
                            implicit_param_constraints)
        self.memory = MemoryCell(self.input_size, wiring.units) if mixed_memory else None

    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def output_size(self) -> int:
        return self.wiring.output_dim

    @property
    def motor_size(self) -> int:
        return self.wiring.output_dim

    def forward(self, input: torch.Tensor, hx=None, timespans=None):
        from liquidts.nn.ode import ltc_ode_step

        x, ts, unbatched = prepare_sequence("LTC", input, timespans, self.input_size, self.batch_first)
        batch, steps = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError("LTC: the input sequence is empty (0 time steps)")
        if hx is None:
            v = x.new_zeros(batch, self.state_size)
            c = x.new_zeros(batch, self.state_size) if self.mixed_memory else None
        else:
            v, c = check_state("LTC", hx, batch, self.state_size, unbatched, self.mixed_memory)
        cell = self.cell
        mapped = cell.map_inputs(x)  # (B, T, I)
        sensory_num, sensory_den = cell.synapse_terms(mapped)  # (B, T, N) each, all steps at once
        dt = x.new_ones(batch, steps) if ts is None else ts  # (B, T)
        d = cell.dynamics()
        states = []
        for t in range(steps):
            if self.memory is not None:
                v, c = self.memory(x[:, t], (v, c))
            if self.solver == "semi_implicit":
                v = cell.fused_steps(v, sensory_num[:, t], sensory_den[:, t], dt[:, t: t + 1], d)
            else:
                v = ltc_ode_step(self, v, sensory_num[:, t], sensory_den[:, t], dt[:, t: t + 1], d)
            states.append(v)
        v_all = torch.stack(states, dim=1)  # (B, T, N)
        y = cell.map_outputs(v_all if self.return_sequences else v)
        if self.return_sequences and not self.batch_first and not unbatched:
            y = y.transpose(0, 1)
        state = (v, c) if self.mixed_memory else v
        if unbatched:
            y = y.squeeze(0)
            state = (v[0], c[0]) if self.mixed_memory else v[0]
        return y, state
