"""The estimator contract every forecaster keeps (sklearn's check_estimator cannot take DataFrames)."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from liquidts.forecast.classical import DLinear, Drift, Naive, SeasonalNaive
from liquidts.forecast import available_models

from ._helpers import tiny, wide_frame

FORECASTERS = {
    **{name: (lambda name=name: tiny(model=name, target="load")) for name in available_models()},
    "naive": lambda: Naive(horizon=3, target="load"),
    "seasonal_naive": lambda: SeasonalNaive(season_length=7, horizon=3, target="load"),
    "drift": lambda: Drift(horizon=3, target="load"),
    "dlinear": lambda: DLinear(lookback=14, kernel_size=5, horizon=3, target="load"),
}


def test_top_level_export():
    from liquidts import LiquidForecaster
    from liquidts.forecast import LiquidForecaster as direct

    assert LiquidForecaster is direct


def test_registry_lists_liquid_and_sequence_baselines():
    assert {"cfc", "ltc", "ncp", "lstm", "gru", "mamba", "xlstm", "transformer", "rwkv", "hyena",
            "striped_hyena"} <= set(available_models())


def _params_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_estimator_contract(name):
    est = FORECASTERS[name]()
    params = est.get_params()
    assert not [k for k in vars(est) if k.endswith("_")], "__init__ must not set fitted state"

    with pytest.raises(NotFittedError):
        est.predict()

    df = wide_frame()
    assert est.fit(df) is est
    assert _params_equal(est.get_params(), params), "fit must not change parameters"
    first = est.predict()
    assert list(first.columns) == ["load"] and len(first) == 3
    assert np.isfinite(first.to_numpy()).all()
    assert first.index[0] == df.index[-1] + pd.Timedelta(days=1)

    copy = clone(est)
    assert _params_equal(copy.get_params(), params)
    with pytest.raises(NotFittedError):
        copy.predict()
    assert repr(est).startswith(type(est).__name__)

    restored = pickle.loads(pickle.dumps(est))
    pd.testing.assert_frame_equal(restored.predict(), first)

    # Refitting on other data forgets the first fit: same as a fresh fit on that data.
    other = wide_frame(n=80, seed=5, start="2022-03-01").rename(columns={"temp": "humidity"})
    est.fit(other)
    fresh = FORECASTERS[name]().fit(other)
    assert est.covariates_ == ["humidity"]
    pd.testing.assert_frame_equal(est.predict(), fresh.predict())
