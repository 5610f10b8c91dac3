"""Draw a wiring: neurons coloured by type, synapses coloured by polarity, widths by strength.

All synapses of a drawing are one ``LineCollection`` (one segment per synapse, sensory synapses
first, then internal ones in ``np.nonzero`` order of the adjacency matrix), so a caller or a test
can read every edge's colour and width back from the Axes.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from liquidts.wirings import Wiring

__all__ = ["LAYOUTS", "draw_wiring", "wiring_weights", "plot_wiring_weights"]

LAYOUTS = ("layered", "shell", "circular", "spring", "kamada_kawai")
TYPE_COLOURS = {"sensory": "#8c8c8c", "inter": "#4c72b0", "command": "#dd8452", "motor": "#8172b3"}
EXCITATORY, INHIBITORY = "#2ca02c", "#d62728"
_COLUMN_ORDER = ("sensory", "inter", "command", "motor")


def _check_matrix(name, value, shape):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value, dtype=float)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the wiring's matrix), got {value.shape}")
    return value


def _positions(wiring: Wiring, nodes: list, types: dict, layout: str, seed: int) -> dict:
    if layout == "layered":
        # One column per type, left to right in the direction signals flow.
        pos = {}
        columns = [t for t in _COLUMN_ORDER if any(types[n] == t for n in nodes)]
        for col, kind in enumerate(columns):
            members = [n for n in nodes if types[n] == kind]
            ys = np.linspace(1, -1, len(members)) if len(members) > 1 else [0.0]
            for n, y in zip(members, ys):
                pos[n] = (float(col), float(y))
        return pos
    import networkx as nx

    graph = wiring.get_graph()
    if layout == "shell":
        shells = [[n for n in nodes if types[n] == t] for t in reversed(_COLUMN_ORDER)]
        return nx.shell_layout(graph, [s for s in shells if s])
    if layout == "circular":
        return nx.circular_layout(graph)
    if layout == "spring":
        return nx.spring_layout(graph, seed=seed)
    return nx.kamada_kawai_layout(graph)


def _edge_path(a, b, same_column: bool, loop_radius: float) -> np.ndarray:
    """A polyline from a to b: straight, bent sideways when both ends share a column (so
    vertical edges do not run over each other; downward edges bend right, upward left),
    or a small loop for a self-synapse."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.allclose(a, b):
        angle = np.linspace(0, 2 * np.pi, 16)
        centre = a + [loop_radius, loop_radius]
        return centre + loop_radius * np.stack([np.cos(angle + 1.25 * np.pi), np.sin(angle + 1.25 * np.pi)], 1)
    if not same_column:
        return np.stack([a, b])
    s = np.linspace(0, 1, 12)[:, None]
    side = 1.0 if b[1] < a[1] else -1.0
    bulge = side * 0.35 * abs(b[1] - a[1]) * np.sin(np.pi * s)
    return a + s * (b - a) + np.hstack([bulge, np.zeros_like(bulge)])


def draw_wiring(wiring: Wiring, ax=None, layout: str = "layered", weights=None, sensory_weights=None,
                labels: bool = False, polarity=None, sensory_polarity=None, seed: int = 0,
                sensory_names=None):
    """Draw ``wiring`` on ``ax`` (a new headless Figure's when None); returns the Axes.

    Args:
        layout: ``"layered"`` (columns sensory, inter, command, motor), or a networkx layout:
            ``"shell"`` (rings by type), ``"circular"``, ``"spring"`` (seeded by ``seed``),
            ``"kamada_kawai"``.
        weights, sensory_weights: (units, units) and (input_dim, units) synaptic strengths; an
            edge's width grows with |weight| (scaled by the largest drawn |weight|).
        labels: write the neuron ids on the nodes.
        polarity, sensory_polarity: optional +-1 matrices overriding the wiring's polarities
            (e.g. the signs a model learned); excitatory synapses are green, inhibitory red.
        sensory_names: one name per input feature, written beside its sensory node (with
            ``labels=True`` or not), so a reader sees which input drives which neurons.
    """
    if not isinstance(wiring, Wiring):
        raise TypeError(f"expected a liquidts Wiring, got {type(wiring).__name__}")
    if not wiring.is_built():
        raise ValueError("the wiring is not built yet: call build(input_dim) or use it in a layer first")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid layouts are {list(LAYOUTS)}")
    n, i = wiring.units, wiring.input_dim
    weights = _check_matrix("weights", weights, (n, n))
    sensory_weights = _check_matrix("sensory_weights", sensory_weights, (i, n))
    pol = wiring.adjacency_matrix if polarity is None else _check_matrix("polarity", polarity, (n, n))
    spol = (wiring.sensory_adjacency_matrix if sensory_polarity is None
            else _check_matrix("sensory_polarity", sensory_polarity, (i, n)))
    if sensory_names is not None:
        sensory_names = [str(name) for name in sensory_names]
        if len(sensory_names) != i:
            raise ValueError(f"sensory_names has {len(sensory_names)} names but the wiring has {i} inputs")
    if ax is None:
        ax = Figure(figsize=(8, 6), layout="constrained").add_subplot()

    nodes = [f"sensory_{k}" for k in range(i)] + [f"neuron_{k}" for k in range(n)]
    types = {f"sensory_{k}": "sensory" for k in range(i)}
    types.update({f"neuron_{k}": wiring.get_type_of_neuron(k) for k in range(n)})
    pos = _positions(wiring, nodes, types, layout, seed)
    span = np.ptp(np.array(list(pos.values())), axis=0).max() or 1.0

    segments, colours, strengths = [], [], []
    for prefix, matrix, signs, strength in (("sensory", wiring.sensory_adjacency_matrix, spol, sensory_weights),
                                            ("neuron", wiring.adjacency_matrix, pol, weights)):
        for src, dest in zip(*np.nonzero(matrix)):
            a, b = pos[f"{prefix}_{src}"], pos[f"neuron_{dest}"]
            same = layout == "layered" and prefix == "neuron" and a[0] == b[0]
            segments.append(_edge_path(a, b, same, 0.03 * span))
            colours.append(EXCITATORY if signs[src, dest] >= 0 else INHIBITORY)
            strengths.append(np.nan if strength is None else abs(strength[src, dest]))
    strengths = np.asarray(strengths, float)
    if weights is None and sensory_weights is None:
        widths = np.ones(len(segments))
    else:
        top = np.nanmax(strengths) if np.isfinite(strengths).any() else 1.0
        scaled = np.nan_to_num(strengths / (top or 1.0), nan=0.5)  # undrawn strengths: mid width
        widths = 0.3 + 3.2 * scaled
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=widths, alpha=0.7, zorder=1))

    # Markers shrink when a column is crowded (a conv head's 32 sensory inputs) so they do not overlap.
    tallest = max(sum(types[m] == kind for m in nodes) for kind in _COLUMN_ORDER)
    size = min(180.0, 3500.0 / tallest)
    for kind in _COLUMN_ORDER:
        members = [m for m in nodes if types[m] == kind]
        if members:
            xy = np.array([pos[m] for m in members])
            ax.scatter(xy[:, 0], xy[:, 1], s=size, c=TYPE_COLOURS[kind], edgecolors="k", linewidths=0.6,
                       zorder=2, label=kind)
    for m in nodes:
        kind, number = m.split("_")
        if kind == "sensory" and sensory_names is not None:
            # Names sit left of the node, outside the graph, where long names cover nothing.
            ax.annotate(sensory_names[int(number)], pos[m], xytext=(-8, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=7, zorder=3)
        elif labels:
            ax.annotate(("s" if kind == "sensory" else "") + number, pos[m], ha="center", va="center",
                        fontsize=7, zorder=3)
    handles = ax.get_legend_handles_labels()[0] + [
        Line2D([], [], color=EXCITATORY, label="excitatory"), Line2D([], [], color=INHIBITORY, label="inhibitory")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.autoscale_view()
    ax.margins(0.08)
    ax.set_axis_off()
    return ax


def wiring_weights(layer) -> tuple:
    """The learned synaptic strengths of a liquid layer, matrices shaped like its wiring's.

    Returns ``(weights (units, units), sensory_weights (input_dim, units), polarity,
    sensory_polarity)``; polarities are None where the wiring's own apply.

    * LTC: ``softplus(w) * mask`` and ``softplus(sensory_w) * sensory_mask`` (the raw values when
      the cell clips instead of using softplus); polarity is the sign of the learned reversal
      potential ``erev`` (an LTC synapse excites when its E_rev is above the potential).
    * Wired CfC: per synapse, the mean of |ff1| and |ff2| weights from the source neuron to the
      target neuron (within a layer, the recurrent part). A CfC's mask keeps no sign, so the
      wiring's polarities are shown.
    """
    from liquidts.nn import LTC, CfC
    from liquidts.plotting.trace import liquid_layer

    layer = liquid_layer(layer)
    wiring = layer.wiring
    if isinstance(layer, LTC):
        cell = layer.cell
        with torch.no_grad():
            w = (cell._positive(cell.w) * cell.sparsity_mask).cpu().numpy()
            sw = (cell._positive(cell.sensory_w) * cell.sensory_sparsity_mask).cpu().numpy()
            pol = np.sign(cell.erev.cpu().numpy()) * np.abs(wiring.adjacency_matrix)
            spol = np.sign(cell.sensory_erev.cpu().numpy()) * np.abs(wiring.sensory_adjacency_matrix)
        return w, sw, pol, spol
    if not isinstance(layer, CfC) or wiring is None:
        raise ValueError("an unwired CfC has no synapses to draw (its weights are a dense backbone); "
                         "use a CfC on a Wiring or an LTC")
    n = wiring.units
    weights, sensory = np.zeros((n, n)), np.zeros((wiring.input_dim, n))
    with torch.no_grad():
        for l, cell in enumerate(layer.cells):
            w = cell.weights()
            size = cell.hidden_size
            ff = 0.5 * (w.in_weight[:size].abs() + w.in_weight[size: 2 * size].abs()).cpu().numpy()  # (H_l, I_l)
            rec = 0.5 * (w.rec_weight[:size].abs() + w.rec_weight[size: 2 * size].abs()).cpu().numpy()  # (H_l, H_l)
            dest = wiring.get_neurons_of_layer(l)
            if l == 0:
                sensory[:, dest] = ff.T
            else:
                weights[np.ix_(wiring.get_neurons_of_layer(l - 1), dest)] = ff.T
            weights[np.ix_(dest, dest)] = rec.T
    return weights, sensory, None, None


def plot_wiring_weights(layer, ax=None, layout: str = "layered", labels: bool = False, sensory_names=None):
    """Draw the wiring of a wired liquid layer with its learned synaptic strengths; returns the Axes.
    ``sensory_names``: the input features' names, written beside the sensory nodes."""
    weights, sensory, pol, spol = wiring_weights(layer)
    from liquidts.plotting.trace import liquid_layer

    ax = draw_wiring(liquid_layer(layer).wiring, ax=ax, layout=layout, weights=weights,
                     sensory_weights=sensory, labels=labels, polarity=pol, sensory_polarity=spol,
                     sensory_names=sensory_names)
    ax.set_title("synapses: width = |learned weight|", fontsize=9)
    return ax

