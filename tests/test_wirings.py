"""Wirings: the same graphs as ncps for the same seeds, serialisation, validation and drawing."""

import json
import subprocess
import sys

import numpy as np
import pytest
from ncps import wirings as ncps_wirings

from liquidts import wirings

# (liquidts factory, ncps factory) pairs with the same arguments; each is built on 2, 5 and 7 inputs.
CASES = {
    "fully_connected": lambda m: m.FullyConnected(6),
    "fully_connected_out_seed": lambda m: m.FullyConnected(7, 3, erev_init_seed=5),
    "fully_connected_no_self": lambda m: m.FullyConnected(5, 2, self_connections=False),
    "random_dense": lambda m: m.Random(6),
    "random_sparse": lambda m: m.Random(8, 3, sparsity_level=0.6, random_seed=9),
    "ncp": lambda m: m.NCP(6, 4, 2, 3, 2, 4, 3),
    "ncp_seed": lambda m: m.NCP(10, 5, 3, 4, 3, 5, 2, seed=123),
    "auto_ncp": lambda m: m.AutoNCP(12, 3),
    "auto_ncp_sparse": lambda m: m.AutoNCP(20, 4, sparsity_level=0.8, seed=4),
    "auto_ncp_dense": lambda m: m.AutoNCP(9, 1, sparsity_level=0.1, seed=0),
}


def _pair(case, input_dim):
    ours, ref = CASES[case](wirings), CASES[case](ncps_wirings)
    ours.build(input_dim)
    ref.build(input_dim)
    return ours, ref


@pytest.mark.parametrize("input_dim", [2, 5, 7])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_graph_as_ncps(case, input_dim):
    ours, ref = _pair(case, input_dim)
    np.testing.assert_array_equal(ours.adjacency_matrix, ref.adjacency_matrix)
    np.testing.assert_array_equal(ours.sensory_adjacency_matrix, ref.sensory_adjacency_matrix)
    assert (ours.units, ours.input_dim, ours.output_dim) == (ref.units, ref.input_dim, ref.output_dim)
    assert ours.num_layers == ref.num_layers
    for layer in range(ours.num_layers):
        assert list(ours.get_neurons_of_layer(layer)) == list(ref.get_neurons_of_layer(layer))
    assert [ours.get_type_of_neuron(i) for i in range(ours.units)] == [
        ref.get_type_of_neuron(i) for i in range(ref.units)]
    assert ours.synapse_count == ref.synapse_count
    # ncps 1.0.1 returns the internal count for sensory_synapse_count; liquidts the sensory one.
    assert ours.sensory_synapse_count == int(np.abs(ref.sensory_adjacency_matrix).sum())
    np.testing.assert_array_equal(ours.erev_initializer(), ref.erev_initializer())
    np.testing.assert_array_equal(ours.sensory_erev_initializer(), ref.sensory_erev_initializer())


def test_matrices_are_polarities_and_fully_connected_has_every_synapse():
    w = wirings.FullyConnected(5, 2, self_connections=False)
    w.build(3)
    assert set(np.unique(w.adjacency_matrix)) == {-1, 1, 0}
    assert w.synapse_count == 5 * 4 and np.all(np.diag(w.adjacency_matrix) == 0)
    assert w.sensory_synapse_count == 3 * 5
    r = wirings.Random(10, sparsity_level=0.7)
    r.build(4)
    assert r.synapse_count == round(100 * 0.3) and r.sensory_synapse_count == round(40 * 0.3)


def test_ncp_neuron_types_and_layers():
    w = wirings.NCP(inter_neurons=5, command_neurons=4, motor_neurons=2, sensory_fanout=3, inter_fanout=2,
                    recurrent_command_synapses=3, motor_fanin=2)
    w.build(4)
    types = [w.get_type_of_neuron(i) for i in range(w.units)]
    assert types == ["motor"] * 2 + ["command"] * 4 + ["inter"] * 5
    assert w.layer_sizes == [5, 4, 2] and w.output_dim == 2
    # Synapses only go forward through the layers (command -> command being the recurrent part).
    inter, command, motor = (set(w.get_neurons_of_layer(k)) for k in range(3))
    allowed = {(a, b) for a in inter for b in command} | {(a, b) for a in command for b in command | motor}
    assert {(int(s), int(d)) for s, d in zip(*np.nonzero(w.adjacency_matrix))} <= allowed
    assert set(np.nonzero(w.sensory_adjacency_matrix)[1]) == inter  # every inter neuron is reached
    with pytest.raises(ValueError, match=r"layers 0 \(inter\), 1 \(command\), 2 \(motor\); got 3"):
        w.get_neurons_of_layer(3)


def test_fully_connected_neuron_types():
    w = wirings.FullyConnected(4, output_dim=1)
    assert [w.get_type_of_neuron(i) for i in range(4)] == ["motor", "inter", "inter", "inter"]


def test_lane_keeping_ncp():
    w = wirings.lane_keeping_ncp()
    assert w.units == 19 and isinstance(w, wirings.NCP)
    assert (w.inter_neurons_count, w.command_neurons_count, w.motor_neurons_count) == (12, 6, 1)
    assert w.output_dim == 1
    w.build(32)
    types = [w.get_type_of_neuron(i) for i in range(19)]
    assert types.count("inter") == 12 and types.count("command") == 6 and types.count("motor") == 1
    total = w.synapse_count + w.sensory_synapse_count
    assert 235 <= total <= 265, total  # the paper reports 253


def _roundtrip(w):
    config = json.loads(json.dumps(w.to_dict()))
    return wirings.Wiring.from_dict(config), config


@pytest.mark.parametrize("built", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_to_dict_from_dict_roundtrip(case, built):
    w = CASES[case](wirings)
    if built:
        w.build(4)
    copy, config = _roundtrip(w)
    assert type(copy) is type(w) and config["class"] == type(w).__name__
    np.testing.assert_array_equal(copy.adjacency_matrix, w.adjacency_matrix)
    assert (copy.units, copy.input_dim, copy.output_dim, copy.is_built()) == (
        w.units, w.input_dim, w.output_dim, w.is_built())
    assert [copy.get_type_of_neuron(i) for i in range(w.units)] == [w.get_type_of_neuron(i) for i in range(w.units)]
    if built:
        np.testing.assert_array_equal(copy.sensory_adjacency_matrix, w.sensory_adjacency_matrix)
        assert repr(copy) == repr(w)
        with pytest.raises(ValueError, match="built for 4 input features.*reused for 3"):
            copy.build(3)
    else:
        assert copy.sensory_adjacency_matrix is None
        copy.build(4)  # an unbuilt wiring restored from a dict draws the same sensory synapses
        w.build(4)
        np.testing.assert_array_equal(copy.sensory_adjacency_matrix, w.sensory_adjacency_matrix)


def test_roundtrip_keeps_a_modified_graph_and_plain_wiring():
    w = wirings.NCP(4, 3, 2, 2, 2, 2, 2)
    w.build(3)
    w.add_synapse(0, 0, -1)  # not something the seed draws: the matrices travel, not just the seed
    copy, _ = _roundtrip(w)
    assert copy.adjacency_matrix[0, 0] == -1
    plain = wirings.Wiring(3)
    plain.output_dim = 1
    plain.build(2)
    plain.add_sensory_synapse(1, 2, 1)
    copy, _ = _roundtrip(plain)
    np.testing.assert_array_equal(copy.sensory_adjacency_matrix, plain.sensory_adjacency_matrix)
    with pytest.raises(ValueError, match="unknown wiring class 'Ring'.*NCP"):
        wirings.wiring_from_dict({"class": "Ring", "args": {}})


def test_build_is_idempotent_and_rejects_another_size():
    w = wirings.AutoNCP(10, 2)
    w.build(3)
    before = w.sensory_adjacency_matrix.copy()
    w.build(3)
    np.testing.assert_array_equal(w.sensory_adjacency_matrix, before)
    with pytest.raises(ValueError, match="AutoNCP wiring was built for 3 input features.*reused for 5"):
        w.build(5)
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        wirings.FullyConnected(3).build(0)


@pytest.mark.parametrize("make,match", [
    (lambda: wirings.FullyConnected(0), "units must be a positive integer"),
    (lambda: wirings.FullyConnected(3, output_dim=4), r"output_dim must be in \[1, 3\]"),
    (lambda: wirings.Random(4, sparsity_level=1.0), r"sparsity_level must be in \[0, 1\)"),
    (lambda: wirings.NCP(0, 3, 1, 1, 1, 1, 1), "inter_neurons must be a positive integer"),
    (lambda: wirings.NCP(4, 3, 1, 5, 1, 1, 1), "sensory_fanout=5 but there are only 4 inter neurons"),
    (lambda: wirings.NCP(4, 3, 1, 2, 4, 1, 1), "inter_fanout=4 but there are only 3 command neurons"),
    (lambda: wirings.NCP(4, 3, 1, 2, 2, 1, 4), "motor_fanin=4 but there are only 3 command neurons"),
    (lambda: wirings.AutoNCP(5, 3), "output_size must be less than units - 2"),
    (lambda: wirings.AutoNCP(10, 2, sparsity_level=0.05), r"sparsity_level must be in \[0.1, 1.0\]"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_synapses():
    w = wirings.Wiring(3)
    with pytest.raises(ValueError, match="outside the 3 neurons"):
        w.add_synapse(0, 3, 1)
    with pytest.raises(ValueError, match="polarity must be -1 or"):
        w.add_synapse(0, 1, 0)
    with pytest.raises(ValueError, match=r"build\(input_dim\) must be called"):
        w.add_sensory_synapse(0, 0, 1)


def test_graph():
    w = wirings.NCP(4, 3, 2, 2, 2, 2, 2)
    with pytest.raises(ValueError, match="not built"):
        w.get_graph()
    w.build(3)
    g = w.get_graph()
    assert g.number_of_nodes() == 3 + 9
    assert g.number_of_edges() == w.synapse_count + w.sensory_synapse_count
    assert g.nodes["neuron_0"]["neuron_type"] == "motor" and g.nodes["sensory_2"]["neuron_type"] == "sensory"
    src, dest = (int(i) for i in np.argwhere(w.adjacency_matrix != 0)[0])
    assert g.edges[f"neuron_{src}", f"neuron_{dest}"]["polarity"] == w.adjacency_matrix[src, dest]


def test_the_wirings_module_draws_nothing():
    """The bottom layer loads no plotting code: drawing is liquidts.plotting.draw_wiring(wiring)."""
    assert not hasattr(wirings.Wiring, "draw")
    script = ("import sys, liquidts.wirings\n"
              "loaded = [m for m in sys.modules if m.startswith(('matplotlib', 'liquidts.plotting'))]\n"
              "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", script], check=True)
