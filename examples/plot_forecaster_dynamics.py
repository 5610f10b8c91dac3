"""The neurons of a fitted forecaster's liquid core, on a real recording.

    python examples/plot_forecaster_dynamics.py figures/

Fits the default ``LiquidForecaster`` (CfC core) to the first minute of a resting subject's
ECG, PPG and respiration (100 Hz, ../shared/data/physio), half a second ahead, then draws the
core's neurons over the segments of the last window it reads (one figure per target): activity
and effective time constants. Prints how much each step of the forecast takes from the core
(``net_.blend``) and how alive the neurons are (range of states and time constants).
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from liquidts.forecast import LiquidForecaster
from liquidts.plotting import plot_dynamics, record_states

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "physio" / "bio_resting_5min_100hz.csv"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the figures")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rows", type=int, default=6000, help="samples fitted on (100 per second)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(args.data).iloc[: args.rows]
    raw.index = pd.date_range("2020-01-01", periods=len(raw), freq="10ms", name="time")
    frame = (raw - raw.mean()) / raw.std()
    est = LiquidForecaster(horizon=50, target=list(frame.columns), random_state=0).fit(frame)
    print(f"fitted in {est.n_epochs_} epochs; core share of the forecast per step "
          f"(first, middle, last): {np.round(est.net_.blend.numpy()[[0, 24, 49]], 2)}")
    inputs, spans = est.core_inputs()  # (series x targets, segments, units)
    for k, name in enumerate(est.targets_):
        trace = record_states(est, inputs, spans, sample=k)
        states, tau = np.abs(trace.states), trace.tau
        print(f"{name}: |state| median {np.median(states):.3f}, max {states.max():.3f}; "
              f"tau 5-95% {np.percentile(tau, 5):.3g}..{np.percentile(tau, 95):.3g} segments")
        fig = plot_dynamics(est, inputs, spans, sample=k)
        fig.suptitle(f"CfC core of the forecaster, {name} channel: the {inputs.shape[1]} segments of the last window")
        fig.savefig(args.out / f"forecaster_{name.lower()}_dynamics.png", dpi=80)
    print(f"wrote {args.out}/forecaster_*_dynamics.png")


if __name__ == "__main__":
    main()
