"""Plots of liquid networks: neuron activity, effective (liquid) time constants, wirings.

* :func:`record_states` runs a CfC/LTC layer over one sequence and returns a :class:`NeuronTrace`
  (per-step states and time constants of every neuron, grouped by NCP layer).
* :func:`plot_neuron_activity`, :func:`plot_time_constants`, :func:`plot_policy_episode` draw a trace.
* :func:`draw_wiring` draws a wiring; :func:`plot_wiring_weights` draws a
  layer's wiring with its learned synaptic strengths.
* :func:`plot_dynamics` does it all for a layer, a fitted ``LiquidForecaster`` or a control policy.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot: nothing is displayed and
no global state is touched; save them with ``fig.savefig(path)`` (PNG, SVG, PDF).
"""

from liquidts.plotting.dynamics import (encode_inputs, plot_dynamics, plot_neuron_activity,
                                        plot_policy_episode, plot_time_constants)
from liquidts.plotting.trace import NeuronTrace, liquid_layer, record_states
from liquidts.plotting.wiring import LAYOUTS, draw_wiring, plot_wiring_weights, wiring_weights

__all__ = [
    "LAYOUTS", "NeuronTrace", "draw_wiring", "encode_inputs", "liquid_layer", "plot_dynamics",
    "plot_neuron_activity", "plot_policy_episode", "plot_time_constants", "plot_wiring_weights",
    "record_states", "wiring_weights",
]
