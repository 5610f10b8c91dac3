"""Property-based tests over the forecaster's inputs (hypothesis).

Random frames (wide or long; datetime, zoned or integer axes; gaps, NaN bursts, duplicate or
unsorted stamps, mixed dtypes, missing ids, constant, tiny or huge series) go through
``validate_frame`` and ``LiquidForecaster.fit/predict``. Each call either raises the project's
own ValueError/TypeError (raised inside liquidts, with a message) or returns finite output of
the right shape, on the right index.
"""

import traceback
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquidts.forecast import LiquidForecaster
from liquidts.forecast.validate import validate_frame

H = 2
SETTINGS = settings(max_examples=25, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

AXES = ["naive", "Europe/Berlin", "UTC", "America/New_York", "Asia/Kolkata", "int", "whole_float", "float"]
FREQS = ["15min", "h", "D", "7D"]
DEFECTS = ["gaps", "nan_burst", "nan_covariate", "duplicate", "unsorted", "constant", "tiny", "huge",
           "int_target", "bool_column", "text_column", "mixed_object", "nan_id", "timestamp_ids", "int_ids"]


@st.composite
def frames(draw, force=frozenset()):
    """A random frame and what it was built from: (df, kw for the forecaster, spec); ``force``:
    defects it has for sure."""
    long = draw(st.booleans())
    axis = draw(st.sampled_from(AXES))
    freq = draw(st.sampled_from(FREQS))
    defects = draw(st.sets(st.sampled_from(DEFECTS), max_size=3)) | set(force)
    n = draw(st.one_of(st.integers(8, 30), st.integers(4, 7)))  # mostly long enough to fit
    n_series = draw(st.integers(1, 3)) if long else 1
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    start = draw(st.integers(-10**6, 10**6))
    step = draw(st.integers(1, 1000))

    parts = []
    for k in range(n_series):
        rows = np.arange(n)
        if "gaps" in defects:
            rows = np.sort(rng.choice(np.arange(2 * n), size=n, replace=False))
        if axis in ("int", "whole_float", "float"):
            times = start + step * rows
            times = times.astype(float) + (0.5 if axis == "float" else 0.0) if axis != "int" else times
        else:
            times = pd.date_range("2021-03-20", periods=2 * n, freq=freq)[rows]
            if axis != "naive":
                times = times.tz_localize(axis, nonexistent="shift_forward", ambiguous="NaT")
        t = np.arange(n)
        y = 5 + np.sin(2 * np.pi * t / 7) + 0.1 * rng.normal(size=n)
        if "constant" in defects:
            y = np.full(n, 3.0)
        if "tiny" in defects:
            y = y * 1e-30
        if "huge" in defects:
            y = y * 1e250
        x = rng.normal(size=n)
        if "nan_burst" in defects:
            a = int(rng.integers(0, n))
            y[a: a + int(rng.integers(1, 6))] = np.nan
        if "nan_covariate" in defects:
            x[rng.integers(0, n, size=3)] = np.nan
        part = pd.DataFrame({"time": times, "y": y, "x": x})
        if "int_target" in defects and "huge" not in defects:
            part["y"] = np.nan_to_num(part["y"] * 100, nan=0).round().astype(np.int64)
        if "bool_column" in defects:
            part["flag"] = rng.integers(0, 2, size=n).astype(bool)
        if "text_column" in defects:
            part["note"] = [f"n{i}" for i in range(n)]
        if "mixed_object" in defects:
            part["x"] = pd.Series([1.5, "two"] * (n // 2) + [3.0] * (n % 2), dtype=object)
        if "duplicate" in defects and n > 2:
            part.loc[1, "time"] = part.loc[0, "time"]
        if "unsorted" in defects:
            part = part.iloc[rng.permutation(n)].reset_index(drop=True)
        if long:
            uid = f"s{k}"
            if "int_ids" in defects:
                uid = 10 + k
            if "timestamp_ids" in defects:
                uid = pd.Timestamp("2020-01-01") + pd.Timedelta(days=k)
            part.insert(0, "unique_id", uid)
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    if long and "nan_id" in defects:
        df.loc[df.index[:: 5], "unique_id"] = np.nan
    kw = {}
    if long:
        df = df.rename(columns={"time": "ds"})
    elif draw(st.booleans()):
        df = df.set_index("time")  # a DatetimeIndex or an integer/float index
    else:
        kw["time_col"] = "time"
    kw["target"] = "y"
    return df, kw, dict(long=long, axis=axis, defects=defects)


def _own_error(exc: BaseException) -> None:
    """The error is one of the project's: a ValueError/TypeError raised inside liquidts with a message."""
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    where = traceback.extract_tb(exc.__traceback__)[-1].filename
    assert "/liquidts/" in where.replace("\\", "/"), f"raised in {where}: {exc}"
    assert str(exc).strip(), "the message names the problem"


def _check_panel(case):
    df, kw, spec = case
    try:
        panel = validate_frame(df, **kw)
    except Exception as exc:  # noqa: BLE001 - the property is about which errors come out
        _own_error(exc)
        return
    assert sum(len(s.times) for s in panel.series) == len(df), "no row is dropped"
    for s in panel.series:
        assert s.times.dtype == np.int64 and (np.diff(s.times) > 0).all()
        assert s.values.shape == (len(s.times), len(panel.columns))
        assert not np.isinf(s.values).any()
    expected_kind = "int" if spec["axis"] in ("int", "whole_float") else "datetime"
    assert panel.time_kind == expected_kind
    if expected_kind == "datetime":
        assert (str(panel.tz) if panel.tz is not None else "naive") == spec["axis"]


def _check_forecast(case):
    df, kw, spec = case
    est = LiquidForecaster(horizon=H, lookback=4, units=4, backbone_units=4, max_epochs=1, batch_size=16,
                           random_state=0, **kw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pred = est.fit(df).predict(quantiles=[0.1, 0.9])
    except Exception as exc:  # noqa: BLE001
        _own_error(exc)
        return
    values = pred.drop(columns=["unique_id", "ds"], errors="ignore")
    assert list(values.columns) == ["y", "y_q0.1", "y_q0.9"]
    assert np.isfinite(values.to_numpy(dtype=float)).all()
    if spec["long"]:
        ids = df["unique_id"].unique()
        assert len(pred) == H * len(ids) and set(pred["unique_id"]) == set(ids)
        groups = [(pd.Index(part["ds"]), df.loc[df["unique_id"] == uid, "ds"])
                  for uid, part in pred.groupby("unique_id", sort=False)]
    else:
        assert len(pred) == H
        groups = [(pred.index, df[kw["time_col"]] if "time_col" in kw else df.index)]
    for stamps, times in groups:  # per series: after its last time, increasing, of the input's kind
        assert stamps.is_monotonic_increasing and stamps.is_unique
        if spec["axis"] in ("int", "whole_float"):
            assert stamps.dtype.kind == "i"
            assert stamps.min() > np.max(np.asarray(times, dtype=float))
        else:
            assert isinstance(stamps, pd.DatetimeIndex)
            assert (str(stamps.tz) if stamps.tz is not None else "naive") == spec["axis"]
            assert stamps.min() > pd.DatetimeIndex(times).max()


@SETTINGS
@given(frames())
def test_validate_frame_raises_its_own_error_or_returns_a_sound_panel(case):
    _check_panel(case)


@SETTINGS
@given(frames())
def test_forecaster_raises_its_own_error_or_forecasts_finite_values_on_the_right_index(case):
    _check_forecast(case)


@pytest.mark.parametrize("defect", DEFECTS)
@settings(SETTINGS, max_examples=3)
@given(data=st.data())
def test_each_defect_is_answered(defect, data):
    """Every defect at least a few times, mixed with the others: a clear error or a sound forecast."""
    case = data.draw(frames(force={defect}))
    _check_panel(case)
    _check_forecast(case)


@pytest.fixture(scope="module")
def fitted():
    """A model of a clean hourly wide frame (columns y, x), to predict random frames with."""
    n = 48
    df = pd.DataFrame({"y": 5 + np.sin(np.arange(n) / 3), "x": np.cos(np.arange(n))},
                      index=pd.date_range("2021-01-01", periods=n, freq="h", name="time"))
    est = LiquidForecaster(horizon=H, lookback=4, units=4, backbone_units=4, max_epochs=1, random_state=0,
                           target="y")
    return est.fit(df)


@SETTINGS
@given(frames())
def test_predict_on_random_frames_raises_its_own_error_or_forecasts_after_them(fitted, case):
    df, kw, spec = case
    if spec["long"] or "time_col" in kw:
        df = df.set_index("ds" if spec["long"] else "time")
        df = df.drop(columns=["unique_id"], errors="ignore")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # another scale: warned, still forecast
            pred = fitted.predict(df=df, quantiles=[0.1, 0.9])
    except Exception as exc:  # noqa: BLE001
        _own_error(exc)
        return
    assert len(pred) == H and np.isfinite(pred.to_numpy(dtype=float)).all()
    assert isinstance(pred.index, pd.DatetimeIndex) and pred.index.min() > df.index.max()
