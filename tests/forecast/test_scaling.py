"""Every series is scaled in its own units: tiny and huge amplitudes forecast like unit ones, and
predict warns when it is handed a series far off the scale the model was fitted on."""

import warnings

import numpy as np
import pandas as pd
import pytest

from liquidts.forecast.classical import DLinear
from liquidts.forecast.windows import fit_scaler

from ._helpers import long_frame, tiny, wide_frame


def _sine(scale, offset=0.0, n=120):
    t = np.arange(n)
    idx = pd.date_range("2021-01-01", periods=n, freq="D", name="date")
    return pd.DataFrame({"y": scale * (offset + np.sin(2 * np.pi * t / 9) + 0.1 * np.cos(t))}, index=idx)


@pytest.mark.parametrize("scale", [1e-30, 1e-12, 1e12, 1e299])
def test_tiny_and_huge_series_forecast_in_their_own_units(scale):
    unit = tiny().fit(_sine(1.0)).predict()["y"].to_numpy()
    scaled = tiny().fit(_sine(scale)).predict()["y"].to_numpy()
    assert np.isfinite(scaled).all()
    np.testing.assert_allclose(scaled / scale, unit, rtol=1e-4, atol=1e-6)


def test_small_variation_on_a_large_level_is_kept():
    unit = tiny().fit(_sine(1.0)).predict()["y"].to_numpy()
    df = _sine(1.0)
    df["y"] = 1e6 + 1e-5 * df["y"]  # std 7e-6 on a level 1e6: a relative spread of 1e-11
    pred = tiny().fit(df).predict()["y"].to_numpy()
    np.testing.assert_allclose((pred - 1e6) / 1e-5, unit, rtol=1e-3, atol=1e-3)


def test_fit_scaler_never_overflows_and_handles_constants():
    values = np.array([[1e300, 5.0, 0.0, np.nan], [-1e300, 5.0, 0.0, np.nan], [1e300, 5.0, 0.0, np.nan]])
    mean, std = fit_scaler(values)
    assert np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()
    np.testing.assert_allclose(std[0], np.sqrt(8 / 9) * 1e300)
    assert std[1] == 5.0, "a constant is scaled by its magnitude"
    assert std[2] == 1.0 and std[3] == 1.0, "zeros and all-missing columns by 1"
    tiny_sine = 1e-30 * np.sin(np.arange(50.0))[:, None]
    np.testing.assert_allclose(fit_scaler(tiny_sine)[1], np.std(tiny_sine, axis=0))


def test_classical_baselines_scale_tiny_series_too():
    unit = DLinear(lookback=14, kernel_size=5, horizon=3).fit(_sine(1.0)).predict()["y"].to_numpy()
    tiny_ = DLinear(lookback=14, kernel_size=5, horizon=3).fit(_sine(1e-30)).predict()["y"].to_numpy()
    np.testing.assert_allclose(tiny_ / 1e-30, unit, rtol=1e-6)


def test_predict_warns_when_a_known_series_comes_at_another_scale():
    df = wide_frame()
    est = tiny(target="load").fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(df=df)  # the data it was fitted on: no warning
        est.predict(df=df.iloc[-40:])
    for changed in (df.assign(load=df["load"] * 1000), df.assign(load=df["load"] + 500),
                    df.assign(load=df["load"] * 0.001)):
        with pytest.warns(UserWarning, match="column 'load' given to predict .*far from .*refit"):
            pred = est.predict(df=changed)
        assert np.isfinite(pred.to_numpy()).all()


def test_predict_warns_per_series_in_long_format():
    long = long_frame()
    est = tiny().fit(long)
    other = long.copy()
    other.loc[other["unique_id"] == "b", "y"] *= 100
    with pytest.warns(UserWarning, match="column 'y' of series 'b'") as record:
        est.predict(df=other)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(df=long_frame(ids=("z",)).assign(y=lambda d: d["y"] * 1e6))  # new id: its own scale


def test_a_series_beyond_float32_after_scaling_is_refused():
    df = wide_frame()
    est = tiny(target="load").fit(df)
    with pytest.warns(UserWarning, match="far from"), \
            pytest.raises(ValueError, match="column 'load' is more than 1e30 fitted standard deviations"):
        est.predict(df=df.assign(load=df["load"] * 1e32))
