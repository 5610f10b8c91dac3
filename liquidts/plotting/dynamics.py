"""Plot neuron activity and effective time constants from a :class:`NeuronTrace`.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no display, no global
state); save it with ``fig.savefig("name.png")`` or ``.svg``.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from liquidts.plotting.trace import NeuronTrace, liquid_layer, record_states
from liquidts.plotting.wiring import plot_wiring_weights

__all__ = ["plot_neuron_activity", "plot_time_constants", "plot_policy_episode", "plot_dynamics", "encode_inputs"]

_TITLES = {"inter": "inter neurons", "command": "command neurons", "motor": "motor neurons",
           "hidden": "neurons"}


def _check_trace(trace):
    if not isinstance(trace, NeuronTrace):
        raise TypeError(f"expected a NeuronTrace from record_states, got {type(trace).__name__}")


def _panels(fig, count, sharex=True):
    axes = fig.subplots(count, 1, sharex=sharex, squeeze=False)[:, 0]
    return list(axes)


def _group_lines(axes, trace, values, ylabel, log=False):
    for ax, (kind, cols) in zip(axes, trace.groups.items()):
        for c in cols:
            ax.plot(trace.times, values[:, c], lw=1.0, label=f"{trace.neuron_ids[c]}")
        ax.set_title(f"{_TITLES[kind]} ({len(cols)})", fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        _outside_legend(ax, len(cols))
    axes[-1].set_xlabel("time")


def _outside_legend(ax, entries: int) -> None:
    """A legend right of the panel, never over the lines; a column per 10 entries."""
    ax.legend(fontsize=7, ncol=max(1, -(-entries // 10)), loc="upper left", bbox_to_anchor=(1.0, 1.0),
              frameon=False, borderaxespad=0.2)


def plot_neuron_activity(trace: NeuronTrace, fig: Figure | None = None) -> Figure:
    """One panel per neuron group (inter, command, motor; one panel for an unwired layer), one
    line per neuron: its state over the sequence. Lines are labelled with the wiring's neuron ids."""
    _check_trace(trace)
    fig = fig if fig is not None else Figure(figsize=(9, 2.2 * len(trace.groups) + 0.6), layout="constrained")
    axes = _panels(fig, len(trace.groups))
    _group_lines(axes, trace, trace.states, "state")
    fig.suptitle(f"{trace.kind.upper()} neuron activity", fontsize=10)
    return fig


def plot_time_constants(trace: NeuronTrace, fig: Figure | None = None, log: bool = True) -> Figure:
    """Effective time constant of every neuron over time, grouped like :func:`plot_neuron_activity`
    (log scale by default: liquid time constants span orders of magnitude)."""
    _check_trace(trace)
    fig = fig if fig is not None else Figure(figsize=(9, 2.2 * len(trace.groups) + 0.6), layout="constrained")
    axes = _panels(fig, len(trace.groups))
    _group_lines(axes, trace, trace.tau, "tau", log=log)
    fig.suptitle(f"effective time constants: {trace.tau_definition}", fontsize=9)
    return fig


def _as_2d(values, name, steps):
    values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, float)
    values = values.reshape(len(values), -1) if values.ndim >= 1 else values
    if values.ndim != 2 or values.shape[0] != steps:
        raise ValueError(f"{name} must have one row per step of the trace ({steps}), got shape {values.shape}")
    return values


def plot_policy_episode(observations, actions, trace: NeuronTrace, obs_names=None, action_names=None,
                        fig: Figure | None = None, max_observations: int = 12) -> Figure:
    """Observations, actions and the command neurons' activity of one episode on one time axis.

    ``observations`` (T, F) (image observations: pass the features the policy's encoder made, or
    any per-step summary), ``actions`` (T,) or (T, A). Without command neurons (an unwired core)
    the last panel shows every neuron. At most ``max_observations`` observation features are drawn.
    """
    _check_trace(trace)
    steps = len(trace.times)
    obs = _as_2d(observations, "observations", steps)[:, :max_observations]
    act = _as_2d(actions, "actions", steps)
    fig = fig if fig is not None else Figure(figsize=(9, 7), layout="constrained")
    ax_obs, ax_act, ax_neu = _panels(fig, 3)
    t = trace.times
    for k in range(obs.shape[1]):
        ax_obs.plot(t, obs[:, k], lw=1.0, label=obs_names[k] if obs_names else f"obs {k}")
    for k in range(act.shape[1]):
        ax_act.step(t, act[:, k], where="post", lw=1.2, label=action_names[k] if action_names else f"action {k}")
    cols = trace.groups.get("command", list(range(len(trace.neuron_ids))))
    for c in cols:
        ax_neu.plot(t, trace.states[:, c], lw=1.0, label=f"{trace.neuron_ids[c]}")
    for ax, title in ((ax_obs, "observations"), (ax_act, "actions"),
                      (ax_neu, "command neurons" if "command" in trace.groups else "neurons")):
        ax.set_title(title, fontsize=9, loc="left")
        _outside_legend(ax, len(ax.get_lines()))
    ax_neu.set_xlabel("time")
    return fig


def encode_inputs(model, x, timespans=None):
    """``(inputs, timespans)`` the liquid layer of ``model`` reads for raw inputs ``x``.

    * a policy or driver (has an ``encoder``): observations go through its normalisation or conv
      head; a policy's ``config.dt`` is the default timespan;
    * a fitted ``LiquidForecaster`` given a DataFrame (the format ``fit`` takes) or None (its
      training history): the embedded segments its core reads for the forecast from the end of
      each series, one sequence per series and target (``sample`` picks one), with each
      segment's elapsed time as its timespan (:meth:`LiquidForecaster.core_inputs`);
    * anything else: unchanged.
    """
    if getattr(model, "net_", None) is not None:
        import pandas as pd

        if x is None or isinstance(x, pd.DataFrame):
            inputs, spans = model.core_inputs(x)
            return inputs, (spans if timespans is None else timespans)
        return x, timespans
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return x, timespans
    config = getattr(model, "config", None)
    if timespans is None and getattr(config, "dt", None) is not None:
        timespans = float(config.dt)
    with torch.no_grad():
        param = next(model.parameters())
        x = torch.as_tensor(x).to(param.device)
        return encoder(x if x.is_floating_point() or x.dtype == torch.uint8 else x.float()), timespans


def plot_dynamics(model, x, timespans=None, sample: int = 0, fig: Figure | None = None,
                  wiring: bool = True, sensory_names=None) -> Figure:
    """One figure: neuron activity (left) and effective time constants (right) per neuron group,
    and, for a wired layer, its wiring with learned strengths underneath.

    ``model``: a CfC/LTC layer, a fitted ``LiquidForecaster`` (its core; ``x`` a DataFrame
    like the one it was fitted on, None for its training history, or the core's inputs) or a control policy/driver
    with a CfC/LTC ``core`` (``x`` raw observations); see :func:`encode_inputs`.
    ``sensory_names``: names of the layer's input features, written on the wiring's sensory nodes.
    """
    layer = liquid_layer(model)
    inputs, timespans = encode_inputs(model, x, timespans)
    trace = record_states(layer, inputs, timespans, sample)
    groups = len(trace.groups)
    draw = wiring and layer.wiring is not None
    fig = fig if fig is not None else Figure(figsize=(13, 2.2 * groups + (4.5 if draw else 0.6)),
                                             layout="constrained")
    top, bottom = (fig.subfigures(2, 1, height_ratios=[2.2 * groups, 4.5]) if draw else (fig, None))
    left, right = top.subfigures(1, 2)
    plot_neuron_activity(trace, left)
    plot_time_constants(trace, right)
    if bottom is not None:
        plot_wiring_weights(layer, ax=bottom.add_subplot(), labels=True, sensory_names=sensory_names)
    return fig
