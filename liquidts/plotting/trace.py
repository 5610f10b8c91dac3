"""Record a liquid layer's neuron states and effective time constants over one sequence.

Effective time constants (the "liquid" part: they change with the input and the state):

* LTC: each neuron obeys ``cm dv/dt = drive - v * conductance`` (``LTCCell.currents``), a leaky
  integrator whose time constant is ``tau = cm / conductance``. The trace gives, at step t, the
  value at the step's input x_t and the potentials v_t reached at the end of the step.
* CfC, modes ``default`` and ``no_gate``: the gate ``s = sigmoid(t_a * dt + t_b)`` is the closed
  form's ``sigmoid(f * t)`` term (Hasani et al., 2022), where the head output ``f = t_a`` plays
  the role of 1/tau: the gate moves by its sigmoid slope at rate ``|t_a|`` per unit of elapsed
  time. So ``tau = 1 / |t_a|``, with t_a computed from the step's input and the previous state.
* CfC, mode ``pure``: ``h' = -A exp(-dt (|w_tau| + |f|)) f + A`` decays at rate
  ``|w_tau| + |f|``, so ``tau = 1 / (|w_tau| + |f|)``.

Time constants are in the units of ``timespans`` (steps when no timespans are given). A rate of
exactly 0 gives ``tau = inf``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liquidts.activations import get_activation
from liquidts.nn import LTC, CfC

__all__ = ["NeuronTrace", "record_states", "liquid_layer", "neuron_order", "neuron_types"]

TYPE_ORDER = ("inter", "command", "motor", "hidden")

TAU_DEFINITIONS = {
    "ltc": "tau = cm / conductance (LTC membrane time constant at v_t, x_t)",
    "cfc": "tau = 1 / |t_a| (CfC time-gate rate from the step's input and previous state)",
    "cfc-pure": "tau = 1 / (|w_tau| + |ff1|) (CfC pure-mode decay rate)",
}


@dataclass
class NeuronTrace:
    """Per-step neuron activity of one sequence.

    Columns of ``states`` and ``tau`` are neurons in the layer's state order; ``neuron_ids`` are
    the wiring's neuron numbers of those columns and ``neuron_types`` their types (``inter``,
    ``command``, ``motor``; ``hidden`` for an unwired CfC).
    """

    states: np.ndarray  # (T, N) state after each step
    tau: np.ndarray  # (T, N) effective time constant
    times: np.ndarray  # (T,) cumulative elapsed time at each step
    inputs: np.ndarray  # (T, I) what the layer read
    outputs: np.ndarray  # (T, O) the layer's output y
    neuron_ids: list[int]
    neuron_types: list[str]
    kind: str  # "cfc" or "ltc"
    tau_definition: str = ""

    @property
    def groups(self) -> dict[str, list[int]]:
        """Column indices per neuron type, in the order inter, command, motor, hidden."""
        out = {}
        for kind in TYPE_ORDER:
            cols = [k for k, t in enumerate(self.neuron_types) if t == kind]
            if cols:
                out[kind] = cols
        return out


def liquid_layer(model) -> nn.Module:
    """The CfC/LTC layer inside ``model``: a layer itself, a fitted ``LiquidForecaster``
    (``net_.core``), a control policy or driver (``core``)."""
    if isinstance(model, (CfC, LTC)):
        return model
    net = getattr(model, "net_", None)
    if net is not None and isinstance(getattr(net, "core", None), (CfC, LTC)):
        return net.core
    if hasattr(model, "get_params") and hasattr(model, "model") and net is None:
        raise ValueError(f"{type(model).__name__} is not fitted: call fit before plotting its dynamics")
    core = getattr(model, "core", None)
    if isinstance(core, (CfC, LTC)):
        return core
    inner = core if core is not None else (net.core if net is not None else None)
    what = type(model).__name__ if inner is None else f"{type(model).__name__} with a {type(inner).__name__} core"
    raise TypeError(f"expected a liquidts CfC or LTC layer, a fitted LiquidForecaster or a policy with a "
                    f"CfC/LTC core; got {what}")


def neuron_order(layer) -> list[int]:
    """Wiring neuron ids of the state's columns."""
    if isinstance(layer, CfC) and layer.wiring is not None:
        w = layer.wiring
        return [n for l in range(w.num_layers) for n in w.get_neurons_of_layer(l)]
    return list(range(layer.state_size))


def neuron_types(layer) -> list[str]:
    if isinstance(layer, CfC) and layer.wiring is None:
        return ["hidden"] * layer.state_size
    w = layer.wiring
    return [w.get_type_of_neuron(n) for n in neuron_order(layer)]


def _as_tensor(value, name, dtype):
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(value).__name__}")
    return value.to(dtype)


def _check_inputs(layer, x, timespans, sample):
    x = _as_tensor(x, "x", torch.float32)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise ValueError(f"x must be (T, F) or (B, T, F), got shape {tuple(x.shape)}")
    if x.shape[-1] != layer.input_size:
        raise ValueError(f"the layer reads {layer.input_size} features, x has {x.shape[-1]}")
    if not 0 <= sample < x.shape[0]:
        raise ValueError(f"sample={sample} is outside the batch of {x.shape[0]}")
    steps = x.shape[1]
    if timespans is None:
        ts = torch.ones(steps)
    elif isinstance(timespans, numbers.Real):
        ts = torch.full((steps,), float(timespans))
    else:
        ts = _as_tensor(timespans, "timespans", torch.float32)
        if ts.dim() == 2 and ts.shape[0] == x.shape[0]:
            ts = ts[sample]
        if tuple(ts.shape) != (steps,):
            raise ValueError(f"timespans must be a number, (T,) or (B, T) = {(x.shape[0], steps)}, "
                             f"got shape {tuple(ts.shape)}")
        if bool((ts < 0).any()):
            raise ValueError("timespans must be >= 0 (elapsed time between steps)")
    return x[sample: sample + 1], ts.reshape(1, steps)


def _step_through(layer, x, ts):
    """Call the layer one step at a time, carrying its state: (states (T, N), outputs (T, O),
    memory-cell states (T, N) or None). Works for every solver and backend the layer has."""
    hx, states, outputs, cells = None, [], [], []
    for t in range(x.shape[1]):
        y, hx = layer(x[:, t: t + 1], hx, ts[:, t: t + 1])
        y = y.reshape(1, -1)  # (1, O) for any return_sequences / batch_first
        h, c = hx if isinstance(hx, tuple) else (hx, None)
        states.append(h[0])
        outputs.append(y[0])
        if c is not None:
            cells.append(c[0])
    return torch.stack(states), torch.stack(outputs), (torch.stack(cells) if cells else None)


def _cfc_rates(cell, inp, h) -> torch.Tensor:
    """Time-constant rate (B, H) of one CfC cell at input ``inp`` and previous state ``h``."""
    w = cell.weights()
    z = F.linear(inp, w.in_weight, w.bias) + h @ w.rec_weight.t()  # (B, K)
    if w.head_weight is None:
        u = z
    else:
        act, _ = get_activation(cell.activation)
        a = act(z)
        for weight, bias in w.hidden:
            a = act(F.linear(a, weight, bias))
        u = F.linear(a, w.head_weight, w.head_bias)  # (B, G*H)
    hidden = cell.hidden_size
    if cell.mode == "pure":
        return w.w_tau.abs() + u.abs()
    return u[:, 2 * hidden: 3 * hidden].abs()  # t_a


def _cfc_tau(layer, x, states, cells):
    """tau (T, N) of a CfC from its heads, re-evaluated on the recorded states."""
    sizes = [c.hidden_size for c in layer.cells]
    prev = torch.cat([states.new_zeros(1, states.shape[1]), states[:-1]])  # (T, N) state before each step
    if layer.memory is not None:
        prev_c = torch.cat([cells.new_zeros(1, cells.shape[1]), cells[:-1]])
        prev, _ = layer.memory(x[0], (prev, prev_c))  # the cells read the memory-updated state
    rates, inp = [], x[0]  # (T, I)
    for cell, h_prev, h_new in zip(layer.cells, prev.split(sizes, -1), states.split(sizes, -1)):
        rates.append(_cfc_rates(cell, inp, h_prev))
        inp = h_new  # the next layer reads this layer's new state within the same step
    return 1.0 / torch.cat(rates, -1)


def _ltc_tau(layer, x, states):
    """tau (T, N) = cm / conductance of an LTC at the recorded potentials and the step's input."""
    cell = layer.cell
    d = cell.dynamics()
    base = d["leak"] + cell.input_terms(cell.map_inputs(x[0]))  # (T, 2N)
    conductance = cell.currents(states, base, d)[:, cell.state_size:]  # (T, N)
    return d["cm"] / conductance


@torch.no_grad()
def record_states(layer, x, timespans=None, sample: int = 0) -> NeuronTrace:
    """Run ``layer`` (or the liquid layer inside a forecaster/policy, see :func:`liquid_layer`)
    over one sequence and record every neuron's state and effective time constant per step.

    ``x``: (T, F) or (B, T, F) inputs of the layer (for a policy, the encoded observations;
    :func:`liquidts.plotting.plot_dynamics` encodes them for you); ``sample`` picks the sequence
    of a batch. ``timespans``: None, a number, (T,) or (B, T) elapsed times. For a fitted
    ``LiquidForecaster``, ``x`` may also be a DataFrame in the format ``fit`` takes, or None for
    its training history: the core's inputs are then taken from it (``core_inputs``), with each
    segment's elapsed time as the default timespan.
    """
    if getattr(layer, "net_", None) is not None and (x is None or type(x).__name__ == "DataFrame"):
        x, spans = layer.core_inputs(x)
        timespans = spans if timespans is None else timespans
    layer = liquid_layer(layer)
    x, ts = _check_inputs(layer, x, timespans, sample)
    param = next(layer.parameters())
    x, ts = x.to(param), ts.to(param)
    states, outputs, cells = _step_through(layer, x, ts)
    if isinstance(layer, CfC):
        tau = _cfc_tau(layer, x, states, cells)
        kind, definition = "cfc", TAU_DEFINITIONS["cfc-pure" if layer.mode == "pure" else "cfc"]
    else:
        tau = _ltc_tau(layer, x, states)
        kind, definition = "ltc", TAU_DEFINITIONS["ltc"]
    numpy = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return NeuronTrace(
        states=numpy(states), tau=numpy(tau), times=np.cumsum(numpy(ts[0])), inputs=numpy(x[0]),
        outputs=numpy(outputs), neuron_ids=neuron_order(layer), neuron_types=neuron_types(layer),
        kind=kind, tau_definition=definition,
    )
