"""liquidts.plotting: recorded traces against the model and the equations, artists per plot, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from liquidts import wirings
from liquidts.nn import LTC, CfC
from liquidts.plotting import (LAYOUTS, NeuronTrace, draw_wiring, plot_dynamics, plot_neuron_activity,
                               plot_policy_episode, plot_time_constants, plot_wiring_weights, record_states,
                               wiring_weights)
from liquidts.plotting.wiring import EXCITATORY, INHIBITORY


def _seq(steps=12, features=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, steps, features, generator=g), torch.rand(2, steps, generator=g) + 0.2


def _ncp(inputs=4):
    w = wirings.NCP(inter_neurons=4, command_neurons=3, motor_neurons=2, sensory_fanout=2, inter_fanout=2,
                    recurrent_command_synapses=2, motor_fanin=2, seed=1)
    w.build(inputs)
    return w


def _edges(ax) -> LineCollection:
    collections = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(collections) == 1
    return collections[0]


LAYERS = {
    "cfc-ncp": lambda: CfC(4, _ncp()),
    "cfc-ncp-no_gate": lambda: CfC(4, _ncp(), mode="no_gate"),
    "cfc-ncp-pure": lambda: CfC(4, _ncp(), mode="pure"),
    "cfc-dense": lambda: CfC(4, 5, backbone_units=6),
    "cfc-mixed-memory": lambda: CfC(4, 5, backbone_units=6, mixed_memory=True, proj_size=2),
    "ltc-ncp": lambda: LTC(4, _ncp()),
    "ltc-dense-rk4": lambda: LTC(4, 3, solver="rk4", ode_unfolds=2),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_record_states_matches_the_layer(name):
    layer = LAYERS[name]()
    x, ts = _seq()
    trace = record_states(layer, x, ts, sample=1)
    with torch.no_grad():
        y, h = layer(x, None, ts)
    h = h[0] if isinstance(h, tuple) else h
    n = layer.state_size
    assert trace.states.shape == trace.tau.shape == (12, n)
    assert trace.outputs.shape == (12, layer.output_size)
    assert trace.inputs.shape == (12, 4)
    np.testing.assert_allclose(trace.states[-1], h[1].numpy(), atol=1e-5)
    np.testing.assert_allclose(trace.outputs, y[1].numpy(), atol=1e-5)
    np.testing.assert_allclose(trace.times, np.cumsum(ts[1].numpy()), rtol=1e-6)
    assert np.all(trace.tau > 0)
    assert len(trace.neuron_ids) == len(trace.neuron_types) == n


def test_wired_trace_is_in_layer_order_with_types():
    w = _ncp()
    trace = record_states(CfC(4, w), _seq()[0][0])
    assert list(trace.groups) == ["inter", "command", "motor"]
    assert trace.neuron_ids == w.inter_neurons + w.command_neurons + w.motor_neurons
    assert [len(c) for c in trace.groups.values()] == [4, 3, 2]
    assert list(record_states(CfC(4, 5), _seq()[0][0]).groups) == ["hidden"]


def test_ltc_tau_is_cm_over_conductance():
    torch.manual_seed(3)
    layer = LTC(1, wirings.FullyConnected(2, erev_init_seed=5))
    x, ts = torch.randn(6, 1), torch.rand(6) + 0.5
    trace = record_states(layer, x, ts)
    c = layer.cell
    sp = lambda p: F.softplus(p).detach().double().numpy()  # noqa: E731
    w, sw, cm, gleak = sp(c.w), sp(c.sensory_w), sp(c.cm), sp(c.gleak)
    mask, smask = np.abs(layer.wiring.adjacency_matrix), np.abs(layer.wiring.sensory_adjacency_matrix)
    mu, sigma = c.mu.detach().double().numpy(), c.sigma.detach().double().numpy()
    smu, ssigma = c.sensory_mu.detach().double().numpy(), c.sensory_sigma.detach().double().numpy()
    xin = x.double().numpy()[:, 0] * c.input_w.item() + c.input_b.item()
    for t in range(6):
        for j in range(2):
            g = gleak[j] + sw[0, j] * smask[0, j] / (1 + np.exp(-ssigma[0, j] * (xin[t] - smu[0, j])))
            for i in range(2):
                g += w[i, j] * mask[i, j] / (1 + np.exp(-sigma[i, j] * (trace.states[t, i] - mu[i, j])))
            assert trace.tau[t, j] == pytest.approx(cm[j] / g, rel=1e-5)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_cfc_tau_is_the_inverse_time_head_rate(mode):
    layer = CfC(3, 2, backbone_layers=0, mode=mode)
    x, ts = torch.randn(5, 3), torch.rand(5) + 0.5
    trace = record_states(layer, x, ts)
    weight, bias = layer.cell.head.weight.detach().double().numpy(), layer.cell.head.bias.detach().double().numpy()
    h = np.zeros(2)
    for t in range(5):
        u = weight @ np.concatenate([x[t].double().numpy(), h]) + bias
        dt = float(ts[t])
        if mode == "pure":
            w_tau, a = layer.cell.w_tau.detach().double().numpy(), layer.cell.A.detach().double().numpy()
            rate = np.abs(w_tau) + np.abs(u)
            h = -a * np.exp(-dt * rate) * u + a
        else:
            ff1, ff2, t_a, t_b = np.tanh(u[:2]), np.tanh(u[2:4]), u[4:6], u[6:]
            rate = np.abs(t_a)
            s = 1 / (1 + np.exp(-(t_a * dt + t_b)))
            h = ff1 + s * ff2 if mode == "no_gate" else ff1 * (1 - s) + s * ff2
        np.testing.assert_allclose(trace.states[t], h, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(trace.tau[t], 1 / rate, rtol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_draw_wiring_one_segment_per_synapse_coloured_by_polarity(layout):
    w = _ncp()
    ax = draw_wiring(w, layout=layout, labels=True)
    edges = _edges(ax)
    assert len(edges.get_segments()) == w.synapse_count + w.sensory_synapse_count
    colours = [to_hex(c) for c in edges.get_colors()]
    polarities = np.concatenate([w.sensory_adjacency_matrix[np.nonzero(w.sensory_adjacency_matrix)],
                                 w.adjacency_matrix[np.nonzero(w.adjacency_matrix)]])
    assert colours == [EXCITATORY if p > 0 else INHIBITORY for p in polarities]
    assert {EXCITATORY, INHIBITORY} <= set(colours)
    assert len(ax.texts) == w.units + w.input_dim
    assert sum(len(c.get_offsets()) for c in ax.collections if c is not edges) == w.units + w.input_dim


def test_draw_wiring_widths_follow_weights_and_reuse_given_axes():
    w = _ncp()
    weights = np.abs(np.random.default_rng(0).normal(size=(w.units, w.units)))
    ax = Figure().add_subplot()
    assert draw_wiring(w, ax=ax, weights=weights) is ax
    widths = _edges(ax).get_linewidths()[w.sensory_synapse_count:]  # internal edges follow sensory ones
    drawn = weights[np.nonzero(w.adjacency_matrix)]
    assert np.argmax(widths) == np.argmax(drawn) and np.argmin(widths) == np.argmin(drawn)
    assert len(set(np.round(_edges(draw_wiring(w)).get_linewidths(), 6))) == 1


def test_sensory_nodes_carry_the_feature_names():
    w = _ncp()
    names = ["speed", "angle", "distance left", "distance right"]
    ax = draw_wiring(w, sensory_names=names)
    assert sorted(t.get_text() for t in ax.texts) == sorted(names)
    labelled = draw_wiring(w, labels=True, sensory_names=names)
    texts = [t.get_text() for t in labelled.texts]
    assert set(names) <= set(texts) and not any(t.startswith("s") and t[1:].isdigit() for t in texts)
    with pytest.raises(ValueError, match="sensory_names has 2 names but the wiring has 4 inputs"):
        draw_wiring(w, sensory_names=["a", "b"])


def test_legends_sit_outside_the_panels_for_any_neuron_count():
    layer = CfC(4, 20)  # 20 unwired neurons: one panel of 20 lines
    x, ts = _seq()
    trace = record_states(layer, x, ts)
    fig = plot_neuron_activity(trace)
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None and len(legend.get_texts()) == len(ax.get_lines())
        anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        assert anchor.x0 >= 1.0 - 1e-9  # right of the axes, over no data


def test_wiring_weights_of_ltc_and_wired_cfc():
    ltc = LTC(4, _ncp())
    weights, sensory, pol, _ = wiring_weights(ltc)
    expected = (F.softplus(ltc.cell.w) * ltc.cell.sparsity_mask).detach().numpy()
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert sensory.shape == (4, 9) and np.all(sensory[ltc.wiring.sensory_adjacency_matrix == 0] == 0)
    np.testing.assert_array_equal(pol, ltc.wiring.adjacency_matrix)  # erev starts at the wiring's signs

    cfc = CfC(4, _ncp())
    weights, sensory, _, _ = wiring_weights(cfc)
    first = cfc.cells[0].head.weight.detach().numpy()  # (4H, I + H), rows ff1, ff2, t_a, t_b
    w = cfc.wiring
    src = int(np.nonzero(w.sensory_adjacency_matrix[:, w.inter_neurons[0]])[0][0])
    assert sensory[src, w.inter_neurons[0]] == pytest.approx(0.5 * (abs(first[0, src]) + abs(first[4, src])))
    ax = plot_wiring_weights(cfc)
    assert len(_edges(ax).get_segments()) == w.synapse_count + w.sensory_synapse_count
    with pytest.raises(ValueError, match="unwired CfC"):
        wiring_weights(CfC(4, 5))


def test_activity_and_time_constant_panels():
    trace = record_states(CfC(4, _ncp()), _seq()[0][0])
    for fig in (plot_neuron_activity(trace), plot_time_constants(trace)):
        assert isinstance(fig, Figure)
        assert [len(ax.lines) for ax in fig.axes] == [4, 3, 2]
    assert all(ax.get_yscale() == "log" for ax in plot_time_constants(trace).axes)
    single = record_states(CfC(4, 5), _seq()[0][0])
    assert [len(ax.lines) for ax in plot_neuron_activity(single).axes] == [5]


def test_policy_episode_and_dynamics_of_a_policy():
    from liquidts.control import PolicyConfig, RecurrentPolicy

    policy = RecurrentPolicy(PolicyConfig((3,), "continuous", 1, [-2.0], [2.0], core="ncp", units=8, dt=0.05))
    obs = np.random.default_rng(0).normal(size=(15, 3)).astype(np.float32)
    fig = plot_dynamics(policy, obs)
    assert len(fig.axes) == 2 * 3 + 1  # activity and tau per NCP layer, then the wiring
    with torch.no_grad():
        out, states = policy.unroll(torch.from_numpy(obs)[None])
    trace = record_states(policy, policy.encoder(torch.from_numpy(obs)), 0.05)
    np.testing.assert_allclose(trace.states, states[0].numpy(), atol=1e-5)
    actions = policy.deterministic_action(out[0]).detach().numpy()
    fig = plot_policy_episode(obs, actions, trace, obs_names=["cos", "sin", "omega"])
    assert [len(ax.lines) for ax in fig.axes] == [3, 1, len(trace.groups["command"])]
    np.testing.assert_allclose(trace.times[-1], 15 * 0.05, rtol=1e-5)


def test_dynamics_of_the_pixel_driver_encodes_its_frames():
    from liquidts.control.driver import ConvDriver

    driver = ConvDriver()
    frames = np.random.default_rng(0).integers(0, 255, size=(6, 48, 48, 1), dtype=np.uint8)
    fig = plot_dynamics(driver, frames, 0.04)
    assert [len(ax.lines) for ax in fig.axes[:3]] == [12, 6, 2]  # the lane-keeping NCP with 2 motor neurons
    with torch.no_grad():
        _, h = driver.core(driver.encoder(torch.from_numpy(frames))[None])
    trace = record_states(driver, driver.encoder(torch.from_numpy(frames)).detach())
    np.testing.assert_allclose(trace.states[-1], h[0].numpy(), atol=1e-5)


def test_dynamics_of_a_fitted_forecaster_reads_its_frame():
    import pandas as pd

    from liquidts.forecast import LiquidForecaster

    idx = pd.date_range("2021-01-01", periods=24, freq="D", name="date")
    frame = pd.DataFrame({"load": np.sin(np.arange(24) / 3.0)}, index=idx)
    est = LiquidForecaster("cfc", horizon=2, lookback=6, units=4, backbone_units=4, max_epochs=1,
                           validation_fraction=0.0, calendar=False, random_state=0).fit(frame)
    fig = plot_dynamics(est, frame)
    assert len(fig.axes) == 2  # unwired CfC: one activity and one tau panel, no wiring
    assert len(fig.axes[0].lines) == 4
    with pytest.raises(ValueError, match="not fitted"):
        plot_dynamics(LiquidForecaster("cfc"), frame)


def test_figures_save_as_png_and_svg(tmp_path):
    fig = plot_time_constants(record_states(LTC(4, _ncp()), _seq(steps=5)[0][0]))
    fig.savefig(tmp_path / "dyn.png", dpi=40)
    draw_wiring(_ncp()).figure.savefig(tmp_path / "dyn.svg")
    assert (tmp_path / "dyn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "dyn.svg").read_text()


def test_bad_inputs():
    unbuilt = wirings.lane_keeping_ncp()
    with pytest.raises(ValueError, match="not built"):
        draw_wiring(unbuilt)
    with pytest.raises(ValueError, match="valid layouts are .*layered.*shell"):
        draw_wiring(_ncp(), layout="hive")
    with pytest.raises(ValueError, match=r"weights must have shape \(9, 9\)"):
        draw_wiring(_ncp(), weights=np.ones((3, 3)))
    with pytest.raises(TypeError, match="CfC or LTC"):
        record_states(torch.nn.LSTM(4, 3), _seq()[0][0])
    with pytest.raises(TypeError, match="NeuronTrace"):
        plot_neuron_activity(np.zeros((3, 3)))
    layer = CfC(4, _ncp())
    with pytest.raises(ValueError, match="reads 4 features"):
        record_states(layer, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="timespans must be"):
        record_states(layer, torch.zeros(5, 4), torch.ones(4))
    with pytest.raises(ValueError, match="one row per step"):
        plot_policy_episode(np.zeros((4, 2)), np.zeros(5), record_states(layer, torch.zeros(5, 4)))
    assert isinstance(record_states(layer, np.zeros((5, 4))), NeuronTrace)
