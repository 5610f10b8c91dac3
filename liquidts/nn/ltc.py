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

from liquidts.kernels import dispatch
from liquidts.kernels.ltc import Synapses, ltc_scan, ltc_scan_native, native_unavailable_reason, sensory_terms
from liquidts.nn._inputs import one_step, prepare_call
from liquidts.nn.memory import MemoryCell
from liquidts.nn.ode import ADAPTIVE, check_solver, ltc_ode_step
from liquidts.wirings import FullyConnected, Wiring

MAPPINGS = ("affine", "linear", None)

_EDGE_PATH_BUDGET = 2 ** 21

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
        src, dst = np.nonzero(wiring.adjacency_matrix)
        # Buffers, so that .to(device) moves them with the parameters.
        self.register_buffer("edge_src", torch.from_numpy(src), persistent=False)
        self.register_buffer("edge_dst", torch.from_numpy(dst), persistent=False)
        # Edge-list products cost B*E*N, the dense broadcast B*N*N per op: pick the cheaper.
        self._sparse = len(src) * n <= _EDGE_PATH_BUDGET
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

    def input_terms(self, x: torch.Tensor) -> torch.Tensor:
        """Input synapses' contributions to drive and conductance, (..., 2N), for mapped x (..., I).

        Inputs are known in advance, so a layer computes this for all steps at once
        (``kernels/ltc/sensory.py``).
        """
        w = self._positive(self.sensory_w) * self.sensory_sparsity_mask  # (I, N)
        return sensory_terms(x, w, self.sensory_sigma, self.sensory_mu, self.sensory_erev)

    def dynamics(self, edges: bool = True) -> dict:
        """The internal synapses' parameters in the form :meth:`currents` uses, once per call.

        Sparse wirings (an NCP has a few synapses per neuron) go through an edge list: the
        presynaptic potentials are gathered by one matrix product (B, N) @ (N, E) and the synaptic
        currents scattered to their targets by another, (B, E) @ (E, 2N). Dense wirings keep the
        (B, N, N) broadcast, which is cheaper there. ``edges=False`` skips building the edge
        matrices (the C kernel reads :meth:`synapses` instead; building them costs more than a
        streaming step).
        """
        w = self._positive(self.w)
        gleak = self._positive(self.gleak)
        d = {"cm": self._positive(self.cm), "leak": torch.cat([gleak * self.vleak, gleak])}
        if self._sparse and edges:
            syn = self.synapses()
            src, dst, n, e = syn.src, syn.dst, self.state_size, syn.src.numel()
            gather = torch.zeros(n, e, dtype=w.dtype, device=w.device)
            gather[src, torch.arange(e, device=w.device)] = 1.0
            scatter = gather.new_zeros(e, 2 * n)
            scatter[torch.arange(e, device=w.device), dst] = 1.0
            scatter[torch.arange(e, device=w.device), dst + n] = 1.0
            d["edge_in"] = gather * syn.sigma  # (N, E)
            d["edge_bias"] = syn.bias
            d["edge_out"] = scatter * torch.stack([syn.werev, syn.w], 1).repeat_interleave(n, 1)
        elif not self._sparse:
            w = w * self.sparsity_mask  # (N, N) [pre, post]
            d.update(w=w, w_erev=w * self.erev, mu=self.mu, sigma=self.sigma)
        return d

    def synapses(self) -> Synapses:
        """The internal synapses as a list, one entry per synapse of the wiring."""
        src, dst = self.edge_src, self.edge_dst
        sigma = self.sigma[src, dst]
        weight = self._positive(self.w)[src, dst]
        return Synapses(src, dst, sigma, -self.mu[src, dst] * sigma, weight * self.erev[src, dst], weight)

    def currents(self, v: torch.Tensor, base: torch.Tensor, d: dict) -> torch.Tensor:
        """Drive and conductance (B, 2N) of every neuron at potentials v (B, N).

        cm dv/dt = drive - v * conductance; ``base`` (B, 2N) holds the leak and input terms.
        """
        if self._sparse:
            act = torch.sigmoid(torch.addmm(d["edge_bias"], v, d["edge_in"]))  # (B, E)
            return torch.addmm(base, act, d["edge_out"])
        act = torch.sigmoid((v.unsqueeze(-1) - d["mu"]) * d["sigma"])  # (B, N, N)
        return base + torch.cat([(act * d["w_erev"]).sum(1), (act * d["w"]).sum(1)], dim=-1)

    def with_epsilon(self, base: torch.Tensor) -> torch.Tensor:
        """``base`` (..., 2N) with the fused step's epsilon added to the conductance half."""
        n = self.state_size
        return base + torch.cat([base.new_zeros(n), base.new_full((n,), self.epsilon)])

    def fused_steps(self, v, base, dt, d):
        """``ode_unfolds`` semi-implicit Euler steps of the LTC ODE over ``dt`` (B, 1).

        ncps's update v' = (cm/h v + drive) / (cm/h + conductance + eps), h = dt / unfolds,
        multiplied through by h so that dt = 0 leaves v unchanged instead of giving 0/0.
        """
        h = dt / self.ode_unfolds  # (B, 1)
        n = self.state_size
        base = self.with_epsilon(base)
        cm = d["cm"]
        for _ in range(self.ode_unfolds):
            g = self.currents(v, base, d)  # (B, 2N)
            v = torch.addcmul(cm * v, h, g[:, :n]) / torch.addcmul(cm, h, g[:, n:])
        return v

    def forward(self, x: torch.Tensor, v: torch.Tensor, ts=1.0):
        d = self.dynamics()
        base = d["leak"] + self.input_terms(self.map_inputs(x))
        dt = ts.to(x.dtype).reshape(-1, 1) if isinstance(ts, torch.Tensor) else x.new_full((x.shape[0], 1), float(ts))
        v = self.fused_steps(v, base, dt, d)
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
        cell = self.cell
        x, ts, v, c, unbatched = prepare_call("LTC", input, hx, timespans, self.input_size, self.batch_first,
                                              self.state_size, self.mixed_memory, cell.cm)
        batch, steps = x.shape[0], x.shape[1]
        path = dispatch.choose_ltc_path(
            device_type=x.device.type, dtype=x.dtype, solver=self.solver, mixed_memory=self.mixed_memory,
            timespans_need_grad=ts is not None and ts.requires_grad, sparse=cell._sparse,
            c_reason=native_unavailable_reason)
        if path == "ode" and x.dtype is torch.float16 and self.solver in ADAPTIVE:
            raise TypeError(f"LTC: the adaptive solver {self.solver!r} cannot step in float16 (its step size "
                            "underflows); use float32, bfloat16 or a fixed-step solver")
        mapped = cell.map_inputs(x)  # (B, T, I)
        d = cell.dynamics(edges=path != "c")
        base = d["leak"] + cell.input_terms(mapped)  # (B, T, 2N), all steps at once
        dt = x.new_ones(batch, steps) if ts is None else ts  # (B, T)
        if path in ("c", "scan"):
            scan_args = (v, cell.with_epsilon(base).transpose(0, 1), (dt / cell.ode_unfolds).t().unsqueeze(-1), d["cm"])
            if path == "c":
                v_all = ltc_scan_native(*scan_args, cell.synapses(), cell.ode_unfolds)
            else:
                v_all = ltc_scan(*scan_args, d["edge_in"], d["edge_bias"], d["edge_out"], cell.ode_unfolds)
            v_all = v_all.transpose(0, 1)
            v = v_all[:, -1]
        else:
            states = []
            for t in range(steps):
                if self.memory is not None:
                    v, c = self.memory(x[:, t], (v, c))
                if path == "loop":
                    v = cell.fused_steps(v, base[:, t], dt[:, t: t + 1], d)
                else:
                    v = ltc_ode_step(self, v, base[:, t], dt[:, t: t + 1], d)
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

    def __prepare_scriptable__(self):
        """``torch.jit.script(layer)`` compiles :class:`~liquidts.nn.scriptable.ScriptableLTC` on this layer's
        parameters (the dispatching forward does not compile; see that module)."""
        from liquidts.nn.scriptable import ScriptableLTC

        return ScriptableLTC(self)

    def step(self, x: torch.Tensor, hx=None, timespans=None):
        """One step of streaming inference from a carried state: ``y_t, h = layer.step(x_t, h, dt)``.

        ``x`` (B, I), ``hx`` the state returned by the previous call (None: zero), ``timespans`` the
        elapsed time before this step, a number or (B,). Returns the output (B, out) and the new
        state, of a fixed size whatever the number of steps taken; the outputs of successive steps
        are those of one call over the whole sequence.
        """
        return one_step(self, x, hx, timespans)
