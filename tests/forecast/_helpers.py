"""Tiny forecasters and synthetic frames for the forecasting tests."""

import numpy as np
import pandas as pd

from liquidts.forecast import LiquidForecaster

TINY = dict(horizon=3, lookback=8, units=8, backbone_units=8, max_epochs=2, batch_size=32,
            random_state=0)


def tiny(**kw) -> LiquidForecaster:
    return LiquidForecaster(**{**TINY, **kw})


def wide_frame(n=96, seed=0, start="2021-01-01", freq="D") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    idx = pd.date_range(start, periods=n, freq=freq, name="date")
    return pd.DataFrame({"load": 10 + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.3, n),
                         "temp": 20 + rng.normal(0, 1, n)}, index=idx)


def long_frame(ids=("a", "b", "c"), n=60) -> pd.DataFrame:
    parts = []
    for k, uid in enumerate(ids):
        w = wide_frame(n, seed=k)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": w.index, "y": w["load"].to_numpy() * (k + 1)}))
    return pd.concat(parts, ignore_index=True)
