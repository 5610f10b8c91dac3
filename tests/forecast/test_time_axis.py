"""Time axes keep their kind: integer steps stay integers, time zones come back as they went in."""

import numpy as np
import pandas as pd
import pytest

from liquidts.forecast import LiquidForecaster
from liquidts.forecast.classical import Naive, RidgeLags
from liquidts.forecast.validate import validate_frame
from liquidts.forecast.windows import calendar_features, calendar_names

from ._helpers import tiny, wide_frame


def _steps(n=60, start=0, step=5):
    t = np.arange(n)
    return pd.DataFrame({"minute": start + step * t, "y": np.sin(2 * np.pi * t / 12) + 0.01 * t})


def test_integer_time_column_stays_an_integer_axis():
    df = _steps()
    est = tiny(time_col="minute").fit(df)
    pred = est.predict()
    assert pred.index.dtype.kind == "i" and pred.index.name == "minute"
    assert list(pred.index) == [300, 305, 310], "the last step (295) continued by the step (5)"
    assert est.step_ == 5 and est.cal_names_ == [] and est.freq_ is None
    assert est.time_kind_ == "int"
    assert np.isfinite(pred.to_numpy()).all()


def test_integer_index_and_range_index_are_integer_axes():
    df = _steps().set_index("minute")
    assert list(tiny().fit(df).predict().index) == [300, 305, 310]
    plain = _steps()[["y"]]  # a RangeIndex: steps 0 .. 59
    assert list(tiny().fit(plain).predict().index) == [60, 61, 62]


def test_integer_axis_elapsed_times_are_in_steps():
    df = _steps(n=40, step=2)
    df.loc[20:, "minute"] += 6  # a gap of 4 steps between rows 19 and 20
    est = tiny(time_col="minute").fit(df)
    panel = est._validate(df, fitted=True)
    _, spans, calendar, _ = est._series_rows(panel.series[0])
    assert spans[20] == 4 and set(np.delete(spans, 20)) == {1.0}
    assert calendar.shape[1] == 0


def test_integer_axis_in_long_format_and_cross_validate():
    parts = [_steps(n=50).assign(unique_id=uid) for uid in ("a", "b")]
    df = pd.concat(parts, ignore_index=True).rename(columns={"minute": "ds"})
    est = tiny()
    pred = est.fit(df).predict()
    assert pred["ds"].tolist() == [250, 255, 260] * 2
    cv = tiny().cross_validate(df, n_windows=2)
    assert cv.forecasts["ds"].dtype.kind == "i" and cv.forecasts["cutoff"].dtype.kind == "i"
    assert sorted(cv.forecasts["cutoff"].unique()) == [215, 230]  # rows 46 and 43 of 50


def test_integer_axis_classical_and_calendar():
    df = _steps(n=80).set_index("minute")
    assert list(Naive(horizon=2).fit(df).predict().index) == [400, 405]
    est = RidgeLags(lags=6, horizon=2).fit(df)
    assert est.cal_names_ == [] and list(est.predict().index) == [400, 405]
    assert calendar_names(1, 10**6, "int") == []
    assert calendar_names(3600 * 10**9, 30 * 86_400 * 10**9, "datetime") == ["hour", "dow"]


def test_whole_float_time_axis_is_an_integer_axis_and_fractional_is_refused():
    df = _steps().astype({"minute": float})
    assert list(tiny(time_col="minute").fit(df).predict().index) == [300, 305, 310]
    df["minute"] += 0.5
    with pytest.raises(TypeError, match="'minute'.*whole numbers"):
        tiny(time_col="minute").fit(df)


def test_predict_refuses_the_other_kind_of_time_axis():
    est = tiny(time_col="minute").fit(_steps())
    with pytest.raises(ValueError, match="integer.*timestamp"):
        est.predict(df=wide_frame()[["load"]].reset_index().rename(columns={"date": "minute", "load": "y"}))


def test_numbers_index_with_a_timestamp_column_asks_for_time_col(wide):
    with pytest.raises(ValueError, match="time_col='date'"):
        tiny(target="load").fit(wide.reset_index())


def _berlin(n=24 * 20, start="2021-01-01"):
    idx = pd.date_range(start, periods=n, freq="h", tz="Europe/Berlin", name="time")
    t = np.arange(n)
    return pd.DataFrame({"y": np.sin(2 * np.pi * idx.hour / 24) + 0.01 * t}, index=idx)


def test_time_zone_is_kept_on_the_forecast_index():
    df = _berlin().iloc[:-12]  # ends at 11:00+01:00
    assert df.index[-1] == pd.Timestamp("2021-01-20 11:00", tz="Europe/Berlin")
    est = tiny().fit(df)
    pred = est.predict()
    assert str(pred.index.tz) == "Europe/Berlin"
    assert pred.index[0] == pd.Timestamp("2021-01-20 12:00", tz="Europe/Berlin")
    assert pred.index[0].isoformat() == "2021-01-20T12:00:00+01:00"


def test_time_zone_daily_steps_follow_local_midnight_across_dst():
    idx = pd.date_range("2021-02-01", "2021-03-27", freq="D", tz="Europe/Berlin")
    df = pd.DataFrame({"y": np.sin(np.arange(len(idx)) / 3)}, index=idx)
    pred = Naive(horizon=3).fit(df).predict()
    assert [t.isoformat() for t in pred.index] == ["2021-03-28T00:00:00+01:00", "2021-03-29T00:00:00+02:00",
                                                   "2021-03-30T00:00:00+02:00"]


def test_calendar_features_follow_local_wall_clock_time():
    utc = pd.DatetimeIndex(["2021-01-15 08:00", "2021-07-15 07:00"]).tz_localize("UTC")  # 9:00 in Berlin
    ns = utc.as_unit("ns").asi8
    local = calendar_features(ns, ["hour"], "Europe/Berlin")
    np.testing.assert_allclose(local[0], local[1])  # both 9:00 local, though 8:00 and 7:00 UTC
    nine = pd.DatetimeIndex(["2021-01-15 09:00"]).as_unit("ns").asi8
    np.testing.assert_allclose(local[0], calendar_features(nine, ["hour"])[0])


def test_time_zone_predict_on_other_zone_and_naive_refused():
    df = _berlin()
    est = tiny().fit(df)
    utc = df.tz_convert("UTC")
    pred = est.predict(df=utc)
    assert str(pred.index.tz) == "UTC"
    pd.testing.assert_index_equal(pred.index.tz_convert("Europe/Berlin"), est.predict().index, check_names=False)
    np.testing.assert_array_equal(pred.to_numpy(), est.predict().to_numpy())
    with pytest.raises(ValueError, match="time-zone aware.*naive"):
        est.predict(df=df.tz_localize(None))


def test_mixed_utc_offsets_are_read_as_one_utc_axis():
    df = _berlin(n=60, start="2021-03-27 20:00")
    text = pd.DataFrame({"time": [t.isoformat() for t in df.index], "y": df["y"].to_numpy()})
    panel = validate_frame(text, time_col="time")
    assert str(panel.tz) == "UTC"
    np.testing.assert_array_equal(panel.series[0].times, df.index.as_unit("ns").asi8)


def test_save_load_keeps_the_axis_kind_and_time_zone(tmp_path):
    for df, kw in ((_steps(), {"time_col": "minute"}), (_berlin(), {})):
        est = tiny(**kw).fit(df)
        est.save(tmp_path / "m.safetensors")
        back = LiquidForecaster.load(tmp_path / "m.safetensors")
        assert back.time_kind_ == est.time_kind_ and str(back.tz_) == str(est.tz_)
        pd.testing.assert_frame_equal(back.predict(), est.predict(), check_exact=True)
