"""Each kind of bad input gives an error that says what to fix."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from liquidts.forecast.classical import Naive

from ._helpers import tiny, wide_frame


@pytest.fixture
def fitted(wide):
    return tiny(target="load").fit(wide)


def test_empty_frame():
    with pytest.raises(ValueError, match="empty"):
        tiny(target="load").fit(wide_frame().iloc[:0])


def test_not_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        tiny().fit(np.zeros((10, 2)))


def test_missing_target_column(wide):
    with pytest.raises(ValueError, match=r"target column\(s\) \['price'\] not in the DataFrame; available"):
        tiny(target="price").fit(wide)


def test_target_required_when_several_numeric_columns(wide):
    with pytest.raises(ValueError, match="target= is required"):
        tiny().fit(wide)


def test_non_numeric_target(wide):
    df = wide.assign(kind="x")
    with pytest.raises(TypeError, match="'kind' is not numeric"):
        tiny(target="kind").fit(df)


def test_duplicate_timestamps(wide):
    df = pd.concat([wide.iloc[:10], wide.iloc[9:]])
    with pytest.raises(ValueError, match="duplicate timestamp 2021-01-10.*aggregate"):
        tiny(target="load").fit(df)


def test_unsorted_timestamps(wide):
    with pytest.raises(ValueError, match="not sorted.*sort_index"):
        tiny(target="load").fit(wide.iloc[::-1])


def test_missing_timestamps(wide):
    df = wide.reset_index()
    df.loc[3, "date"] = pd.NaT
    with pytest.raises(ValueError, match="NaT"):
        tiny(target="load", time_col="date").fit(df)


def test_no_time_axis(wide):
    # An integer index is a time axis of steps; text labels are not.
    labelled = wide.set_index(wide.index.strftime("day %j"))
    with pytest.raises(ValueError, match="DatetimeIndex, an integer index or time_col"):
        tiny(target="load").fit(labelled)


def test_too_little_history_for_lookback(wide):
    with pytest.raises(ValueError, match="lookback=8 \\+ horizon=3 needs at least 11"):
        tiny(target="load").fit(wide.iloc[:10])


def test_too_little_history_at_predict(fitted, wide):
    with pytest.raises(ValueError, match="pass at least 8 rows"):
        fitted.predict(df=wide.iloc[:5])


@pytest.mark.parametrize("h", [0, -2, 1.5])
def test_horizon_must_be_positive(wide, h):
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        tiny(target="load", horizon=h).fit(wide)


def test_predict_h_must_be_positive(fitted):
    with pytest.raises(ValueError, match="h must be a positive integer"):
        fitted.predict(h=0)


def test_infinite_values(wide):
    df = wide.copy()
    df.iloc[3, 1] = np.inf
    with pytest.raises(ValueError, match="contain inf"):
        tiny(target="load").fit(df)


def test_all_missing_target(wide):
    df = wide.assign(load=np.nan)
    with pytest.raises(ValueError, match="entirely missing"):
        tiny(target="load").fit(df)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        tiny().predict()
    with pytest.raises(NotFittedError):
        Naive().predict()


def test_different_columns_at_predict(fitted, wide):
    with pytest.raises(ValueError, match="fitted with targets \\['load'\\] and covariates \\['temp'\\]"):
        fitted.predict(df=wide.rename(columns={"temp": "humidity"}))
    with pytest.raises(ValueError, match="same columns"):
        fitted.predict(df=wide.assign(extra=1.0))


def test_long_vs_wide_mismatch(fitted, long):
    with pytest.raises(ValueError):
        fitted.predict(df=long)


def test_unknown_model_lists_valid_names(wide):
    with pytest.raises(ValueError, match="unknown model 'retnet'; valid names: \\['cfc'"):
        tiny(model="retnet", target="load").fit(wide)


@pytest.mark.parametrize("param, value, message", [
    ("loss", "huber", "loss must be one of"),
    ("quantiles", (0.0, 0.5), "strictly between 0 and 1"),
    ("validation_fraction", 1.0, "validation_fraction"),
    ("device", "tpu", "device must be"),
])
def test_bad_parameters_are_reported_at_fit(wide, param, value, message):
    settings = {"target": "load", "loss": "quantile", param: value}
    est = tiny(**settings)
    with pytest.raises(ValueError, match=message):
        est.fit(wide)


def test_missing_ids_are_refused_not_dropped(long):
    df = long.copy()
    df.loc[df.index[::2], "unique_id"] = np.nan  # 90 of 180 rows lose their id
    with pytest.raises(ValueError, match="id column 'unique_id' has 90 row\\(s\\) with a missing id"):
        tiny().fit(df)
    df = long.rename(columns={"unique_id": "shop"}).astype({"shop": object})
    df.loc[3, "shop"] = None
    with pytest.raises(ValueError, match="id column 'shop' has 1 row"):
        tiny(id_col="shop").fit(df)


def test_ids_of_other_types_are_refused(long):
    df = long.assign(unique_id=[("a", k % 3) for k in range(len(long))])
    with pytest.raises(TypeError, match="id column 'unique_id' holds a tuple"):
        tiny().fit(df)


def test_duplicate_column_names(wide):
    df = pd.concat([wide, wide["temp"]], axis=1)
    with pytest.raises(ValueError, match="duplicate column names \\['temp'\\]"):
        tiny(target="load").fit(df)


def test_values_too_large_to_scale(wide):
    df = wide.assign(temp=wide["temp"] * 1e305)
    with pytest.raises(ValueError, match="covariate columns \\['temp'\\] hold values beyond 1e\\+300"):
        tiny(target="load").fit(df)


@pytest.mark.parametrize("param, value", [
    ("learning_rate", 0), ("learning_rate", -1e-3), ("learning_rate", float("nan")), ("learning_rate", float("inf")),
    ("learning_rate", "0.01"), ("learning_rate", True),
    ("weight_decay", -1e-4), ("weight_decay", float("nan")), ("weight_decay", None),
    ("dropout", 1.0), ("dropout", -0.1), ("dropout", 1.5), ("dropout", float("nan")),
])
def test_training_parameters_out_of_range(wide, param, value):
    with pytest.raises(ValueError, match=f"{param} must be a number in"):
        tiny(target="load", **{param: value}).fit(wide)



@pytest.mark.parametrize("value, error, message", [
    (3, TypeError, "checkpoint must be a file path"),
    ("/no/such/folder/ckpt.pt", ValueError, "must be a file in an existing folder"),
])
def test_checkpoint_parameter(wide, value, error, message):
    with pytest.raises(error, match=message):
        tiny(target="load", checkpoint=value).fit(wide)
