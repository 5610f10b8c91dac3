"""Classical baselines give the forecasts their definitions say."""

import numpy as np
import pandas as pd
import pytest

from liquidts.forecast.classical import DLinear, Drift, Naive, RidgeLags, SeasonalNaive


@pytest.fixture
def ramp():
    idx = pd.date_range("2020-01-01", periods=30, freq="h", name="time")
    return pd.DataFrame({"y": np.arange(30.0) % 6 + np.arange(30.0)}, index=idx)


def test_naive_repeats_last_observation(ramp):
    df = ramp.copy()
    df.iloc[-1] = np.nan  # the last observed value is the one before
    pred = Naive(horizon=4).fit(df).predict()
    assert (pred["y"] == df["y"].iloc[-2]).all()
    assert pred.index[0] == df.index[-1] + pd.Timedelta(hours=1)


def test_seasonal_naive_repeats_last_season(ramp):
    pred = SeasonalNaive(season_length=6, horizon=8).fit(ramp).predict()
    last = ramp["y"].to_numpy()[-6:]
    np.testing.assert_array_equal(pred["y"].to_numpy(), np.r_[last, last[:2]])


def test_drift_extends_the_line(ramp):
    pred = Drift(horizon=3).fit(ramp).predict()
    y = ramp["y"].to_numpy()
    slope = (y[-1] - y[0]) / 29
    np.testing.assert_allclose(pred["y"].to_numpy(), y[-1] + slope * np.arange(1, 4))


def test_dlinear_learns_a_linear_recurrence():
    t = np.arange(400.0)
    idx = pd.date_range("2020-01-01", periods=400, freq="D")
    df = pd.DataFrame({"y": np.sin(2 * np.pi * t / 12) + 0.01 * t}, index=idx)
    est = DLinear(lookback=24, kernel_size=5, alpha=1e-6, horizon=6).fit(df.iloc[:-6])
    np.testing.assert_allclose(est.predict()["y"].to_numpy(), df["y"].to_numpy()[-6:], atol=1e-3)
    with pytest.raises(ValueError, match="exceeds the horizon"):
        est.predict(h=7)


def test_baseline_intervals_widen_with_horizon(ramp):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": np.cumsum(rng.normal(size=300))},
                      index=pd.date_range("2020-01-01", periods=300, freq="D"))
    pred = Naive(horizon=5).fit(df).predict(quantiles=[0.1, 0.9])
    width = (pred["y_q0.9"] - pred["y_q0.1"]).to_numpy()
    assert width[-1] > width[0] > 0


def test_seasonal_naive_needs_a_season(ramp):
    with pytest.raises(ValueError, match="needs at least 48"):
        SeasonalNaive(season_length=48, horizon=2).fit(ramp)


@pytest.mark.parametrize("make", [
    lambda: Naive(horizon=5, target="y"),
    lambda: SeasonalNaive(season_length=7, horizon=5, target="y"),
    lambda: Drift(horizon=5, target="y"),
    lambda: DLinear(lookback=21, kernel_size=5, horizon=5, target="y"),
    lambda: RidgeLags(lags=14, horizon=5, target="y"),
])
def test_rolling_forecast_equals_predict_per_origin(make):
    # The batched backtest must compute what predict computes from each origin's history,
    # gaps (NaN) included.
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"y": np.sin(np.arange(n) / 3) + rng.normal(0, 0.1, n), "x": rng.normal(size=n)},
                         index=pd.date_range("2021-01-01", periods=n, freq="D"))
    frame.iloc[[40, 41, 77], 0] = np.nan
    model = make().fit(frame.iloc[:80])
    rolled = model.rolling_forecast(frame, start=60)
    per_origin = np.stack([model.predict(df=frame.iloc[:i])["y"].to_numpy()[:, None]
                           for i in range(60, n - 5 + 1)])
    np.testing.assert_allclose(rolled, per_origin, rtol=0, atol=1e-12)
