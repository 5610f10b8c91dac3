"""The pictures of the concepts page (docs/core.md), regenerated from the library itself.

    python examples/plot_concept_figures.py            # writes docs/images/
    python examples/plot_concept_figures.py figures/   # or another folder

1. ``ncp_wiring.png``: the 19-neuron lane-keeping NCP (``lane_keeping_ncp()``: 12 inter,
   6 command, 1 motor neuron) built on 6 input features, drawn by
   ``liquidts.plotting.draw_wiring``: sensory -> inter -> command (recurrent) -> motor,
   excitatory synapses green, inhibitory red.
2. ``cfc_timespans.png``: what the elapsed time does to a CfC. Left: one step of an untrained
   CfC (default mode, 6 units, seed 0) from the same input and state, as a function of the
   step's elapsed time dt: each neuron slides from one head's value (tanh(ff1), dt -> -inf side
   of its gate) to the other's (tanh(ff2)) at its own rate t_a, which is what
   ``s = sigmoid(t_a dt + t_b)`` does. Right: the same layer over one input sampled at irregular
   times, its states drawn at the real sample times (markers): long gaps move the state further.

Nothing is trained: the pictures show the equations, not a result. Prints what it wrote.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from liquidts.nn import CfC
from liquidts.plotting import draw_wiring
from liquidts.wirings import lane_keeping_ncp

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def wiring_figure(path: Path) -> None:
    wiring = lane_keeping_ncp()
    wiring.build(6)
    fig = Figure(figsize=(8, 5.2), layout="constrained")
    ax = draw_wiring(wiring, ax=fig.add_subplot(), labels=True)
    ax.set_title(f"lane_keeping_ncp() on 6 inputs: {wiring.synapse_count} synapses between neurons, "
                 f"{wiring.sensory_synapse_count} from the inputs", fontsize=10)
    fig.savefig(path, dpi=90)


def timespans_figure(path: Path) -> None:
    torch.manual_seed(0)
    cfc = CfC(1, 6, backbone_units=16)  # default mode, one backbone layer
    cell = cfc.cell
    fig = Figure(figsize=(10, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)

    # One step from a fixed input and state, as a function of the step's elapsed time.
    x, h = torch.ones(1, 1), torch.zeros(1, 6)
    dts = torch.logspace(-2, 2, 200)
    with torch.no_grad():
        states = torch.cat([cell(x, h, float(dt)) for dt in dts])  # (200, 6)
    for k in range(6):
        left.plot(dts.numpy(), states[:, k].numpy(), lw=1.4, label=f"neuron {k}")
    left.set_xscale("log")
    left.set_xlabel("elapsed time dt of the step")
    left.set_ylabel("new state h'")
    left.set_title("one CfC step, same input and state, varying dt", fontsize=10)
    left.legend(fontsize=7, ncol=2, frameon=False)
    left.grid(alpha=0.3)

    # A sine sampled at irregular times; the layer gets the gaps as timespans.
    rng = np.random.default_rng(0)
    gaps = rng.exponential(0.6, size=40).astype(np.float32)
    times = np.cumsum(gaps)
    signal = np.sin(times / 2).astype(np.float32)
    with torch.no_grad():
        y, _ = cfc(torch.from_numpy(signal)[None, :, None], timespans=torch.from_numpy(gaps)[None])
    right.plot(times, signal, color="0.5", lw=1.0, marker=".", ms=4, label="input sin(t/2) at the sample times")
    for k in range(3):
        right.plot(times, y[0, :, k].numpy(), marker="o", ms=3, lw=1.0, label=f"neuron {k}")
    right.plot(times, np.full_like(times, -1.15), "|", color="k", ms=8, label="sample times")
    right.set_xlabel("time (irregular samples)")
    right.set_title("a CfC layer reading the gaps as timespans", fontsize=10)
    right.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    right.grid(alpha=0.3)
    fig.savefig(path, dpi=90)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=OUT, help="folder for the PNG files (default docs/images)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for name, draw in (("ncp_wiring.png", wiring_figure), ("cfc_timespans.png", timespans_figure)):
        draw(args.out / name)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
