"""Serving speed: median wall time of one ``predict`` call for one series on the CPU.

A default LiquidForecaster (CfC, lookback 28, horizon 7) is fitted on the Seattle weather
(training length does not change the cost of a forecast, so a few epochs suffice), then
``predict()`` (from the stored history) and ``predict(df=recent rows)`` (validating a new
history) are timed over many calls after a warm-up; median and 90th percentile are printed.

    python benchmarks/bench_predict_latency.py [--calls 500] [--threads 1] [--model cfc]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from liquidts.datasets import load_seattle_weather
from liquidts.forecast import LiquidForecaster


def timed(fn, calls: int) -> np.ndarray:
    for _ in range(20):
        fn()
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="cfc")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    df = load_seattle_weather().drop(columns="weather")
    est = LiquidForecaster(model=args.model, horizon=7, target="temp_max", max_epochs=3,
                           random_state=0).fit(df)
    recent = df.iloc[-60:]
    print(f"{args.model}, lookback {est.lookback_}, horizon 7, {est.n_features_in_} inputs/step, "
          f"{args.threads} torch thread(s), {args.calls} calls each")
    for name, fn in [("predict()", lambda: est.predict()),
                     ("predict(df=60 recent rows)", lambda: est.predict(df=recent)),
                     ("predict(quantiles=[0.1, 0.9])", lambda: est.predict(quantiles=[0.1, 0.9]))]:
        ms = timed(fn, args.calls)
        print(f"{name:32s} median {np.median(ms):6.2f} ms   p90 {np.percentile(ms, 90):6.2f} ms")


if __name__ == "__main__":
    main()
