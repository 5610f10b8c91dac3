"""Wirings: which neuron may talk to which, and with what polarity.

A wiring holds two integer matrices:

* ``adjacency_matrix`` (units, units): entry ``[src, dest]`` is +1 (excitatory synapse), -1
  (inhibitory) or 0 (no synapse) between internal neurons;
* ``sensory_adjacency_matrix`` (input_dim, units): the same from input features to neurons,
  known once :meth:`Wiring.build` has been given the number of input features.

The first ``output_dim`` neurons are the motor (output) neurons. Construction is seeded and draws
the same random stream as the reference ``ncps`` package, so a seed gives the same graph in both.

Neural Circuit Policies (Lechner et al., 2020) arrange the neurons in layers
sensory -> inter -> command (recurrent) -> motor; :class:`NCP` builds that graph and
:func:`lane_keeping_ncp` is the 19-neuron lane-keeping controller of the paper.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Wiring",
    "FullyConnected",
    "Random",
    "NCP",
    "AutoNCP",
    "lane_keeping_ncp",
    "wiring_from_dict",
]


class Wiring:
    """A graph of ``units`` neurons; subclasses choose the synapses.

    A wiring is built for one input size: :meth:`build` with another size raises ``ValueError``.
    """

    def __init__(self, units: int):
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.adjacency_matrix = np.zeros((self.units, self.units), dtype=np.int32)
        self.sensory_adjacency_matrix: np.ndarray | None = None
        self.input_dim: int | None = None
        self.output_dim: int | None = None

    # ----------------------------------------------------------------- structure
    @property
    def num_layers(self) -> int:
        return 1

    def get_neurons_of_layer(self, layer_id: int) -> list[int]:
        if layer_id != 0:
            raise ValueError(f"{type(self).__name__} has one layer, got layer {layer_id}")
        return list(range(self.units))

    def get_type_of_neuron(self, neuron_id: int) -> str:
        return "motor" if neuron_id < self.output_dim else "inter"

    @property
    def layer_sizes(self) -> list[int]:
        return [len(self.get_neurons_of_layer(i)) for i in range(self.num_layers)]

    def is_built(self) -> bool:
        return self.input_dim is not None

    def build(self, input_dim: int) -> None:
        """Fix the number of input features and draw the sensory synapses."""
        if not isinstance(input_dim, (int, np.integer)) or input_dim < 1:
            raise ValueError(f"input_dim must be a positive integer, got {input_dim!r}")
        if self.input_dim is not None:
            if self.input_dim != input_dim:
                raise ValueError(
                    f"this {type(self).__name__} wiring was built for {self.input_dim} input "
                    f"features and cannot be reused for {input_dim}; create a new wiring"
                )
            return
        self.input_dim = int(input_dim)
        self.sensory_adjacency_matrix = np.zeros((self.input_dim, self.units), dtype=np.int32)
        self._build_sensory()

    def _build_sensory(self) -> None:
        """Subclasses draw their sensory synapses here (called once by :meth:`build`)."""

    def add_synapse(self, src: int, dest: int, polarity: int) -> None:
        if not (0 <= src < self.units and 0 <= dest < self.units):
            raise ValueError(f"synapse {src}->{dest} is outside the {self.units} neurons")
        if polarity not in (-1, 1):
            raise ValueError(f"synapse polarity must be -1 or +1, got {polarity}")
        self.adjacency_matrix[src, dest] = polarity

    def add_sensory_synapse(self, src: int, dest: int, polarity: int) -> None:
        if self.input_dim is None:
            raise ValueError("build(input_dim) must be called before adding sensory synapses")
        if not (0 <= src < self.input_dim and 0 <= dest < self.units):
            raise ValueError(
                f"sensory synapse {src}->{dest} is outside {self.input_dim} inputs x {self.units} neurons"
            )
        if polarity not in (-1, 1):
            raise ValueError(f"synapse polarity must be -1 or +1, got {polarity}")
        self.sensory_adjacency_matrix[src, dest] = polarity

    # ----------------------------------------------------------------- counts
    @property
    def synapse_count(self) -> int:
        return int(np.abs(self.adjacency_matrix).sum())

    @property
    def sensory_synapse_count(self) -> int:
        # ncps 1.0.1 returns the internal count here; this is the sensory one.
        if self.sensory_adjacency_matrix is None:
            return 0
        return int(np.abs(self.sensory_adjacency_matrix).sum())

    def erev_initializer(self) -> np.ndarray:
        return self.adjacency_matrix.astype(np.float32)

    def sensory_erev_initializer(self) -> np.ndarray:
        return self.sensory_adjacency_matrix.astype(np.float32)

    # ----------------------------------------------------------------- serialisation
    def _constructor_args(self) -> dict:
        return {"units": self.units}

    def to_dict(self) -> dict:
        """Everything needed to rebuild this exact graph (JSON-serialisable)."""
        return {
            "class": type(self).__name__,
            "args": self._constructor_args(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "adjacency_matrix": self.adjacency_matrix.tolist(),
            "sensory_adjacency_matrix": (
                None if self.sensory_adjacency_matrix is None else self.sensory_adjacency_matrix.tolist()
            ),
        }

    @classmethod
    def from_dict(cls, config: dict) -> "Wiring":
        return wiring_from_dict(config)

    # ----------------------------------------------------------------- graph (drawn by liquidts.plotting.draw_wiring)
    def get_graph(self):
        """The wiring as a ``networkx.DiGraph`` with ``neuron_type`` nodes and ``polarity`` edges."""
        if not self.is_built():
            raise ValueError("the wiring is not built yet: call build(input_dim) or use it in a layer first")
        import networkx as nx

        graph = nx.DiGraph()
        for i in range(self.input_dim):
            graph.add_node(f"sensory_{i}", neuron_type="sensory", layer=0)
        for i in range(self.units):
            graph.add_node(f"neuron_{i}", neuron_type=self.get_type_of_neuron(i), layer=self._layer_of(i) + 1)
        for src, dest in zip(*np.nonzero(self.sensory_adjacency_matrix)):
            graph.add_edge(f"sensory_{src}", f"neuron_{dest}", polarity=int(self.sensory_adjacency_matrix[src, dest]))
        for src, dest in zip(*np.nonzero(self.adjacency_matrix)):
            graph.add_edge(f"neuron_{src}", f"neuron_{dest}", polarity=int(self.adjacency_matrix[src, dest]))
        return graph

    def _layer_of(self, neuron_id: int) -> int:
        for layer in range(self.num_layers):
            if neuron_id in self.get_neurons_of_layer(layer):
                return layer
        raise ValueError(f"neuron {neuron_id} belongs to no layer")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._constructor_args().items())
        built = f", input_dim={self.input_dim}" if self.is_built() else ""
        return f"{type(self).__name__}({args}){built}"


class FullyConnected(Wiring):
    """Every neuron to every neuron (and every input to every neuron); 2/3 excitatory."""

    def __init__(self, units: int, output_dim: int | None = None, erev_init_seed: int = 1111,
                 self_connections: bool = True):
        super().__init__(units)
        output_dim = self.units if output_dim is None else output_dim
        if not 1 <= output_dim <= self.units:
            raise ValueError(f"output_dim must be in [1, {self.units}], got {output_dim}")
        self.output_dim = int(output_dim)
        self.erev_init_seed = erev_init_seed
        self.self_connections = self_connections
        self._rng = np.random.default_rng(erev_init_seed)
        for src in range(self.units):
            for dest in range(self.units):
                if src == dest and not self_connections:
                    continue
                self.add_synapse(src, dest, self._rng.choice([-1, 1, 1]))

    def _build_sensory(self) -> None:
        for src in range(self.input_dim):
            for dest in range(self.units):
                self.add_sensory_synapse(src, dest, self._rng.choice([-1, 1, 1]))

    def _constructor_args(self) -> dict:
        return {"units": self.units, "output_dim": self.output_dim,
                "erev_init_seed": self.erev_init_seed, "self_connections": self.self_connections}


class Random(Wiring):
    """A random fraction ``1 - sparsity_level`` of all possible synapses."""

    def __init__(self, units: int, output_dim: int | None = None, sparsity_level: float = 0.0,
                 random_seed: int = 1111):
        super().__init__(units)
        if not 0.0 <= sparsity_level < 1.0:
            raise ValueError(f"sparsity_level must be in [0, 1), got {sparsity_level}")
        output_dim = self.units if output_dim is None else output_dim
        if not 1 <= output_dim <= self.units:
            raise ValueError(f"output_dim must be in [1, {self.units}], got {output_dim}")
        self.output_dim = int(output_dim)
        self.sparsity_level = sparsity_level
        self.random_seed = random_seed
        self._rng = np.random.default_rng(random_seed)
        count = int(np.round(units * units * (1 - sparsity_level)))
        pairs = [(s, d) for s in range(self.units) for d in range(self.units)]
        for src, dest in self._rng.choice(pairs, size=count, replace=False):
            self.add_synapse(int(src), int(dest), self._rng.choice([-1, 1, 1]))

    def _build_sensory(self) -> None:
        count = int(np.round(self.input_dim * self.units * (1 - self.sparsity_level)))
        pairs = [(s, d) for s in range(self.input_dim) for d in range(self.units)]
        for src, dest in self._rng.choice(pairs, size=count, replace=False):
            # ncps draws the polarity twice and keeps the second; drawing twice keeps a seed's
            # graph identical to the one ncps builds.
            self._rng.choice([-1, 1, 1])
            self.add_sensory_synapse(int(src), int(dest), self._rng.choice([-1, 1, 1]))

    def _constructor_args(self) -> dict:
        return {"units": self.units, "output_dim": self.output_dim,
                "sparsity_level": self.sparsity_level, "random_seed": self.random_seed}


class NCP(Wiring):
    """Neural Circuit Policy: sensory -> inter -> command (recurrent) -> motor.

    Neuron indices: motor first (``0 .. motor-1``), then command, then inter. Layers, in the
    order a wired layer computes them: 0 = inter, 1 = command, 2 = motor.
    """

    def __init__(self, inter_neurons: int, command_neurons: int, motor_neurons: int,
                 sensory_fanout: int, inter_fanout: int, recurrent_command_synapses: int,
                 motor_fanin: int, seed: int = 22222):
        for name, value in [("inter_neurons", inter_neurons), ("command_neurons", command_neurons),
                            ("motor_neurons", motor_neurons)]:
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__init__(inter_neurons + command_neurons + motor_neurons)
        if motor_fanin > command_neurons:
            raise ValueError(f"motor_fanin={motor_fanin} but there are only {command_neurons} command neurons")
        if sensory_fanout > inter_neurons:
            raise ValueError(f"sensory_fanout={sensory_fanout} but there are only {inter_neurons} inter neurons")
        if inter_fanout > command_neurons:
            raise ValueError(f"inter_fanout={inter_fanout} but there are only {command_neurons} command neurons")
        self.output_dim = int(motor_neurons)
        self.inter_neurons_count = int(inter_neurons)
        self.command_neurons_count = int(command_neurons)
        self.motor_neurons_count = int(motor_neurons)
        self.sensory_fanout = sensory_fanout
        self.inter_fanout = inter_fanout
        self.recurrent_command_synapses = recurrent_command_synapses
        self.motor_fanin = motor_fanin
        self.seed = seed
        self._rng = np.random.RandomState(seed)
        self.motor_neurons = list(range(motor_neurons))
        self.command_neurons = list(range(motor_neurons, motor_neurons + command_neurons))
        self.inter_neurons = list(range(motor_neurons + command_neurons, self.units))

    @property
    def num_layers(self) -> int:
        return 3

    def get_neurons_of_layer(self, layer_id: int) -> list[int]:
        layers = [self.inter_neurons, self.command_neurons, self.motor_neurons]
        if not 0 <= layer_id < 3:
            raise ValueError(f"an NCP has layers 0 (inter), 1 (command), 2 (motor); got {layer_id}")
        return layers[layer_id]

    def get_type_of_neuron(self, neuron_id: int) -> str:
        if neuron_id < self.motor_neurons_count:
            return "motor"
        if neuron_id < self.motor_neurons_count + self.command_neurons_count:
            return "command"
        return "inter"

    def _connect_layer(self, sources, targets, fanout, add):
        """Each source reaches ``fanout`` random targets; unreached targets get the mean fan-in."""
        unreached = list(targets)
        for src in sources:
            for dest in self._rng.choice(targets, size=fanout, replace=False):
                if dest in unreached:
                    unreached.remove(dest)
                add(src, dest, self._rng.choice([-1, 1]))
        fanin = int(np.clip(int(len(sources) * fanout / len(targets)), 1, len(sources)))
        for dest in unreached:
            for src in self._rng.choice(sources, size=fanin, replace=False):
                add(src, dest, self._rng.choice([-1, 1]))

    def _build_sensory(self) -> None:
        sensory = list(range(self.input_dim))
        # The order of these draws is ncps's, so a seed gives the same graph in both packages.
        self._connect_layer(sensory, self.inter_neurons, self.sensory_fanout, self.add_sensory_synapse)
        self._connect_layer(self.inter_neurons, self.command_neurons, self.inter_fanout, self.add_synapse)
        for _ in range(self.recurrent_command_synapses):
            src = self._rng.choice(self.command_neurons)
            dest = self._rng.choice(self.command_neurons)
            self.add_synapse(src, dest, self._rng.choice([-1, 1]))
        # Command -> motor is drawn from the motor side: each motor neuron picks its inputs.
        unreached = list(self.command_neurons)
        for dest in self.motor_neurons:
            for src in self._rng.choice(self.command_neurons, size=self.motor_fanin, replace=False):
                if src in unreached:
                    unreached.remove(src)
                self.add_synapse(src, dest, self._rng.choice([-1, 1]))
        fanout = int(np.clip(int(self.motor_neurons_count * self.motor_fanin / self.command_neurons_count),
                             1, self.motor_neurons_count))
        for src in unreached:
            for dest in self._rng.choice(self.motor_neurons, size=fanout, replace=False):
                self.add_synapse(src, dest, self._rng.choice([-1, 1]))

    def _constructor_args(self) -> dict:
        return {"inter_neurons": self.inter_neurons_count, "command_neurons": self.command_neurons_count,
                "motor_neurons": self.motor_neurons_count, "sensory_fanout": self.sensory_fanout,
                "inter_fanout": self.inter_fanout,
                "recurrent_command_synapses": self.recurrent_command_synapses,
                "motor_fanin": self.motor_fanin, "seed": self.seed}


class AutoNCP(NCP):
    """An NCP sized from a neuron budget: 40% of the non-motor neurons are command neurons."""

    def __init__(self, units: int, output_size: int, sparsity_level: float = 0.5, seed: int = 22222):
        if output_size >= units - 2:
            raise ValueError(f"output_size must be less than units - 2 (got units={units}, output_size={output_size})")
        if not 0.1 <= sparsity_level <= 1.0:
            raise ValueError(f"sparsity_level must be in [0.1, 1.0], got {sparsity_level}")
        self.auto_units = units
        self.output_size = output_size
        self.sparsity_level = sparsity_level
        density = 1.0 - sparsity_level
        inter_and_command = units - output_size
        command = max(int(0.4 * inter_and_command), 1)
        inter = inter_and_command - command
        super().__init__(
            inter_neurons=inter,
            command_neurons=command,
            motor_neurons=output_size,
            sensory_fanout=max(int(inter * density), 1),
            inter_fanout=max(int(command * density), 1),
            recurrent_command_synapses=max(int(command * density * 2), 1),
            motor_fanin=max(int(command * density), 1),
            seed=seed,
        )

    def _constructor_args(self) -> dict:
        return {"units": self.auto_units, "output_size": self.output_size,
                "sparsity_level": self.sparsity_level, "seed": self.seed}


def lane_keeping_ncp(motor_neurons: int = 1, seed: int = 22222) -> NCP:
    """The 19-neuron lane-keeping NCP of Lechner et al. (2020): 12 inter, 6 command, 1 motor.

    The paper feeds it 32 features from a convolutional head; built on 32 inputs this graph has
    19 neurons and about 250 synapses (the paper reports 253; its fan-outs are not published).
    """
    return NCP(inter_neurons=12, command_neurons=6, motor_neurons=motor_neurons, sensory_fanout=6,
               inter_fanout=4, recurrent_command_synapses=6, motor_fanin=6, seed=seed)


_WIRINGS = {cls.__name__: cls for cls in (Wiring, FullyConnected, Random, NCP, AutoNCP)}


def wiring_from_dict(config: dict) -> Wiring:
    """Rebuild a wiring saved by :meth:`Wiring.to_dict`, matrices included."""
    name = config.get("class")
    if name not in _WIRINGS:
        raise ValueError(f"unknown wiring class {name!r}; expected one of {sorted(_WIRINGS)}")
    cls = _WIRINGS[name]
    wiring = cls(**config["args"])
    wiring.output_dim = config["output_dim"]
    wiring.adjacency_matrix = np.asarray(config["adjacency_matrix"], dtype=np.int32)
    if config["sensory_adjacency_matrix"] is not None:
        wiring.input_dim = config["input_dim"]
        wiring.sensory_adjacency_matrix = np.asarray(config["sensory_adjacency_matrix"], dtype=np.int32)
    return wiring
