"""normalization="auto": the forward-chaining folds of the linear path choose the series' scaling
for a stationary series (each window's own mean hides how far it is from the series' level) and
per-window normalisation once the level starts to drift (a level learned earlier misleads)."""

import numpy as np
import pandas as pd

from liquidts.forecast import LiquidForecaster

N = 3000


def mean_reverting(drift=0.0, seed=0) -> pd.DataFrame:
    """AR(1) around a fixed level (std about 2.3); over the last fifth (the last fold) the level
    climbs by ``drift``."""
    rng = np.random.default_rng(seed)
    y = np.zeros(N)
    for t in range(1, N):
        y[t] = 0.9 * y[t - 1] + rng.normal()
    start = int(0.8 * N)
    y[start:] += np.linspace(0, drift, N - start)
    return pd.DataFrame({"y": y}, index=pd.date_range("2020-01-01", periods=N, freq="h", name="t"))


def chosen(frame) -> str:
    est = LiquidForecaster(model="linear", target="y", horizon=12, lookback=24, calendar=False,
                           normalization="auto", random_state=0).fit(frame)
    return "window" if float(est.net_.window_norm) else "series"


def test_a_stationary_series_keeps_its_scaling():
    assert chosen(mean_reverting()) == "series"


def test_a_level_that_starts_to_drift_takes_window_normalisation():
    # A mild drift: the series' scaling still wins on the mean over the folds (about 0.97
    # against 1.01 relative error) but loses on the last one (1.22 against 1.00).
    assert chosen(mean_reverting(drift=4.0)) == "window"
    assert chosen(mean_reverting(drift=40.0)) == "window"
