"""The liquid core carries signal a linear map cannot: on a series whose next value is the
square of a covariate's last value, the linear path alone is no better than the mean, and the
fitted default network forecasts through its core (the combination gives it most of the weight,
and silencing it costs most of the accuracy)."""

import numpy as np
import pandas as pd
import torch

from liquidts.forecast import LiquidForecaster

N = 1600


def squares(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N)
    y = np.r_[0.0, x[:-1] ** 2 - 1] + 0.1 * rng.normal(size=N)
    return pd.DataFrame({"y": y, "x": x}, index=pd.date_range("2020-01-01", periods=N, freq="h", name="t"))


def mse(est, frame, start) -> float:
    pred = est.rolling_forecast(frame, start=start)[:, 0, 0]
    return float(np.mean((pred - frame["y"].to_numpy()[start:]) ** 2))


def test_the_core_carries_what_the_linear_path_cannot():
    frame = squares()
    train, start = frame.iloc[:1200], 1200
    common = dict(target="y", horizon=1, lookback=8, segment=2, units=16, backbone_units=16,
                  calendar=False, max_epochs=25, random_state=0)
    liquid = LiquidForecaster(**common).fit(train)
    linear = LiquidForecaster(model="linear", **common).fit(train)
    mse_liquid, mse_linear = mse(liquid, frame, start), mse(linear, frame, start)
    assert mse_linear > 1.5  # Var(x^2) = 2: a linear map of the past cannot do better than the mean
    assert mse_liquid < 0.5 * mse_linear
    assert liquid.net_.blend.item() > 0.8  # held-out windows give the core most of the weight
    with torch.no_grad():
        liquid.net_.out.weight.zero_()
        liquid.net_.out.bias.zero_()
    assert mse(liquid, frame, start) > 2 * mse_liquid  # silencing the core undoes the gain
