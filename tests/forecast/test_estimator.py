"""LiquidForecaster behaviour: persistence, reproducibility, irregular time, long format, intervals,
backtesting, warm start and state updates."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from liquidts.forecast import LiquidForecaster

from ._helpers import long_frame, tiny, wide_frame


class Recorder(nn.Module):
    """A user-built encoder that keeps the timespans it was given."""

    def __init__(self, input_size):
        super().__init__()
        self.lin = nn.Linear(input_size, 4)
        self.output_size = 4
        self.seen = []

    def forward(self, x, hx=None, timespans=None):
        self.seen.append(timespans)
        return torch.tanh(self.lin(x)), None


def test_save_load_round_trip_is_bit_identical(tmp_path, wide):
    est = tiny(target="load", loss="quantile").fit(wide)
    path = tmp_path / "model.safetensors"
    est.save(path)
    back = LiquidForecaster.load(path)
    assert back.get_params() == est.get_params()
    pd.testing.assert_frame_equal(back.predict(quantiles=[0.1, 0.9]), est.predict(quantiles=[0.1, 0.9]),
                                  check_exact=True)
    history = wide.iloc[:50]
    pd.testing.assert_frame_equal(back.predict(df=history), est.predict(df=history), check_exact=True)
    for a, b in zip(back.net_.state_dict().values(), est.net_.state_dict().values()):
        assert torch.equal(a, b)


def test_load_refuses_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a file written by"):
        LiquidForecaster.load(tmp_path / "other.safetensors")


def test_random_state_makes_fits_reproducible(wide):
    # Without early stopping the trained weights are used, and without the linear path the
    # forecast is the core's alone, so the seed shows in it.
    kw = dict(target="load", validation_fraction=0, linear_path=False)
    a = tiny(random_state=3, **kw).fit(wide).predict()
    b = tiny(random_state=3, **kw).fit(wide).predict()
    c = tiny(random_state=4, **kw).fit(wide).predict()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_fit_leaves_global_torch_rng_alone(wide):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    tiny(target="load").fit(wide)
    assert torch.equal(torch.rand(3), expected)


def test_irregular_timestamps_reach_the_model_as_timespans():
    df = wide_frame(n=60)
    gaps = np.r_[1, np.tile([1, 1, 3], 20)[:59]]  # days between observations
    df.index = pd.DatetimeIndex(pd.Timestamp("2021-01-01") + pd.to_timedelta(np.cumsum(gaps), "D"), name="date")
    # A custom core reads `units` features per segment; with one step per segment (segment=1)
    # its timespans are the elapsed times between rows, in units of the median step.
    est = tiny(model=Recorder(8), units=8, segment=1, target="load", max_epochs=1, validation_fraction=0)
    est.fit(df)
    recorder = est.net_.core
    recorder.seen.clear()
    est.predict()
    spans = recorder.seen[-1]  # (1, L)
    expected = np.diff(df.index.as_unit("ns").asi8[-9:]) / est.step_
    np.testing.assert_allclose(spans[0].numpy(), expected)
    assert est.step_ == pd.Timedelta(days=1).value and set(expected) == {1.0, 3.0}
    assert est.model.seen == [], "the user's module is copied, never trained in place"


def test_segment_timespans_are_the_mean_elapsed_time_of_their_steps():
    df = wide_frame(n=60)
    gaps = np.r_[1, np.tile([1, 1, 4], 20)[:59]]
    df.index = pd.DatetimeIndex(pd.Timestamp("2021-01-01") + pd.to_timedelta(np.cumsum(gaps), "D"), name="date")
    est = tiny(model=Recorder(8), units=8, lookback=9, segment=3, target="load", max_epochs=1,
               validation_fraction=0).fit(df)
    est.net_.core.seen.clear()
    est.predict()
    expected = (np.diff(df.index.as_unit("ns").asi8[-10:]) / est.step_).reshape(3, 3).mean(1)
    np.testing.assert_allclose(est.net_.core.seen[-1][0].numpy(), expected)


def test_missing_values_are_masked_not_filled(wide):
    df = wide.copy()
    df.iloc[5:9, 0] = np.nan
    df.iloc[-3, 1] = np.nan
    est = tiny(target="load").fit(df)
    pred = est.predict()
    assert np.isfinite(pred.to_numpy()).all()
    rows, train, _ = est._training_rows(est._validate(df, fitted=True))
    batch = rows.gather(train[0], est.lookback_, est.horizon)
    assert torch.isnan(batch.values).any(), "missing values reach the network as NaN"
    z, observed, _, _ = est.net_._normalise(batch.values)
    missing = torch.isnan(batch.values)
    assert (observed[missing] == 0).all() and (z[missing] == 0).all()
    assert (observed[~missing] == 1).all()


def test_long_format_many_series_one_model(long):
    est = tiny().fit(long)
    pred = est.predict()
    assert list(pred.columns) == ["unique_id", "ds", "y"]
    assert pred.groupby("unique_id").size().to_dict() == {"a": 3, "b": 3, "c": 3}
    last = long.groupby("unique_id")["ds"].max()
    first = pred.groupby("unique_id")["ds"].min()
    assert ((first - last) == pd.Timedelta(days=1)).all()
    # Per-series scaling: series c is three times series a, so are its forecasts.
    means = pred.groupby("unique_id")["y"].mean()
    assert means["c"] > 2 * means["a"]
    new = long_frame(ids=("z",), n=20)
    assert len(est.predict(df=new)) == 3  # an unseen series, scaled by its own history


def test_quantile_loss_forecasts_ordered_quantiles(wide):
    est = tiny(target="load", loss="quantile", quantiles=(0.1, 0.5, 0.9), max_epochs=5).fit(wide)
    pred = est.predict(quantiles=[0.1, 0.9])
    assert list(pred.columns) == ["load", "load_q0.1", "load_q0.9"]
    assert (pred["load_q0.1"] <= pred["load_q0.9"]).all()
    with pytest.raises(ValueError, match="not fitted"):
        est.predict(quantiles=[0.3])


def _noisy_sine(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({"y": np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, n)},
                        index=pd.date_range("2020-01-01", periods=n, freq="D"))


def _held_out_coverage(est, df) -> float:
    """Share of the last 120 points (40 windows of 3, never trained on) inside the 0.1-0.9 interval."""
    f = est.cross_validate(df, n_windows=40, step=3, quantiles=[0.1, 0.9]).forecasts
    assert len(f) == 120 and (f["y_hat_q0.1"] <= f["y_hat_q0.9"]).all()
    return float(((f["y"] >= f["y_hat_q0.1"]) & (f["y"] <= f["y_hat_q0.9"])).mean())


@pytest.mark.parametrize("loss", ["quantile", "mse"])
def test_intervals_cover_held_out_data(loss):
    # Quantile heads (loss="quantile") or held-out residual quantiles (point losses): a 0.1-0.9
    # interval should hold about 80% of points it never saw. With quantile heads the interval is
    # the core's spread around the combined point forecast, which is at least as accurate as the
    # core's own: it may cover a little more than promised, never much less.
    est = tiny(horizon=3, lookback=24, max_epochs=20, loss=loss, quantiles=(0.1, 0.5, 0.9))
    assert 0.6 <= _held_out_coverage(est, _noisy_sine()) <= 0.97


def test_point_loss_intervals_come_from_residuals(wide):
    est = tiny(target="load").fit(wide)
    pred = est.predict(quantiles=[0.05, 0.95])
    assert (pred["load_q0.05"] < pred["load"]).all() and (pred["load"] < pred["load_q0.95"]).all()


def test_cross_validate_returns_windows_and_metrics(wide):
    est = tiny(target="load")
    cv = est.cross_validate(wide, n_windows=3, step=2, quantiles=[0.1, 0.9])
    assert not hasattr(est, "net_"), "cross_validate works on a clone"
    assert cv.forecasts["cutoff"].nunique() == 3 and len(cv.forecasts) == 9
    assert {"mae", "rmse", "mape", "smape", "mase", "quantile_loss"} <= set(cv.metrics.columns)
    last = cv.forecasts[cv.forecasts["cutoff"] == cv.forecasts["cutoff"].max()]
    np.testing.assert_array_equal(last["y"].to_numpy(), wide["load"].to_numpy()[-3:])
    # The metrics are those of the forecasts listed, window by window.
    errors = (cv.forecasts["y"] - cv.forecasts["y_hat"]).abs().groupby(cv.forecasts["cutoff"]).mean()
    np.testing.assert_allclose(cv.metrics.set_index("cutoff")["mae"].sort_index(), errors.sort_index())
    # A fitted model beats predicting the training mean on this seasonal series.
    mean_error = (cv.forecasts["y"] - wide["load"].iloc[:-7].mean()).abs().mean()
    assert cv.metrics["mae"].mean() < mean_error


def test_warm_start_continues_from_the_fitted_network(wide):
    est = tiny(target="load", validation_fraction=0, max_epochs=2).fit(wide)
    before = {k: v.clone() for k, v in est.net_.state_dict().items()}
    est.set_params(warm_start=True, max_epochs=1)
    est.fit(wide)
    assert est.n_epochs_ == 3
    moved = sum((est.net_.state_dict()[k] - v).abs().max().item() for k, v in before.items())
    assert 0 < moved < 1.0, "one more epoch moves the weights a little, it does not start over"


def test_partial_fit_trains_one_epoch(wide):
    est = tiny(target="load")
    est.partial_fit(wide)
    assert est.n_epochs_ == 1
    est.partial_fit(wide.iloc[-40:])
    assert est.n_epochs_ == 2


def test_update_appends_observations_without_retraining(wide):
    est = tiny(target="load").fit(wide.iloc[:80])
    weights = {k: v.clone() for k, v in est.net_.state_dict().items()}
    est.update(wide.iloc[80:])
    pred = est.predict()
    assert pred.index[0] == wide.index[-1] + pd.Timedelta(days=1)
    pd.testing.assert_frame_equal(pred, est.predict(df=wide), check_exact=True)
    assert all(torch.equal(est.net_.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(ValueError, match="pass only new observations"):
        est.update(wide.iloc[-5:])


def test_streaming_updates_keep_a_bounded_window_and_match_the_whole_history():
    # Streaming: one new row at a time. The forecaster keeps only its window (lookback + 1
    # rows), so memory stays flat however long the stream, and the forecast from the streamed
    # state equals the forecast from the whole history.
    stream = wide_frame(2096)
    est = tiny(target="load").fit(stream.iloc[:96])
    kept = est._history_rows()
    for i in range(96, len(stream)):
        est.update(stream.iloc[i: i + 1])
        assert len(est.history_[0].times) == kept
    pd.testing.assert_frame_equal(est.predict(), est.predict(df=stream), check_exact=True)


def test_future_covariates_are_read_from_futr_df(wide):
    df = wide.copy()
    df["promo"] = (np.arange(len(df)) % 5 == 0).astype(float)
    df["load"] += 4 * df["promo"]  # a promotion lifts the load on its day
    est = tiny(target="load", future_covariates=["promo"]).fit(df)
    future_idx = pd.date_range(df.index[-1] + pd.Timedelta(days=1), periods=3, freq="D", name="date")
    with pytest.raises(ValueError, match="futr_df"):
        est.predict()
    on = est.predict(futr_df=pd.DataFrame({"promo": [1.0, 1.0, 1.0]}, index=future_idx))
    off = est.predict(futr_df=pd.DataFrame({"promo": [0.0, 0.0, 0.0]}, index=future_idx))
    assert not np.allclose(on.to_numpy(), off.to_numpy())
    with pytest.raises(ValueError, match="every future covariate"):
        est.predict(futr_df=pd.DataFrame({"promo": [1.0]}, index=future_idx[:1]))


def test_predict_accepts_shorter_h_and_rejects_longer(wide):
    est = tiny(target="load").fit(wide)
    full = est.predict()
    pd.testing.assert_frame_equal(est.predict(h=2), full.iloc[:2], check_freq=False)
    with pytest.raises(ValueError, match="exceeds the horizon"):
        est.predict(h=4)


def test_quiet_by_default(wide, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny(target="load").fit(wide).predict()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert list(tmp_path.iterdir()) == []


def test_column_quantiles_equal_nanquantile_with_missing_and_empty_columns():
    from liquidts.forecast.base import QUANTILE_GRID
    from liquidts.forecast.estimator import column_quantiles

    values = np.random.default_rng(0).standard_normal((50, 6, 3)).astype(np.float32)
    values[::7, 1, 0] = np.nan  # some residuals missing
    values[:, 4, 2] = np.nan  # a column without any
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nan_to_num(np.nanquantile(values, QUANTILE_GRID, axis=0))
    got = column_quantiles(values, QUANTILE_GRID)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert (got[:, 4, 2] == 0).all()


def test_passes_without_gradient_do_not_depend_on_their_batch_size(wide, monkeypatch):
    """Validation, scoring and rolling forecasts take ``config.windows_per_pass`` windows at a
    time; any other size gives the same numbers (to float rounding of the score's mean)."""
    from liquidts.forecast.network import NetworkConfig

    est = tiny(horizon=4, lookback=12, target="load").fit(wide)
    rolled, score = est.rolling_forecast(wide, start=20), est.score(wide)
    monkeypatch.setattr(NetworkConfig, "windows_per_pass", property(lambda self: 3))
    np.testing.assert_allclose(est.rolling_forecast(wide, start=20), rolled, rtol=1e-6, atol=1e-6)
    assert est.score(wide) == pytest.approx(score, rel=1e-6)


def test_windows_per_pass_keeps_the_readout_near_its_budget():
    from liquidts.forecast.network import READOUT_FLOATS, NetworkConfig

    config = NetworkConfig(lookback=96, horizon=720, n_targets=7, n_covariates=0, n_calendar=4, n_future=4)
    assert config.windows_per_pass == READOUT_FLOATS // (7 * 60 * 64)  # 149: ETTh1-720
    small = NetworkConfig(lookback=24, horizon=4, n_targets=1, n_covariates=0, n_calendar=0, n_future=0)
    assert small.windows_per_pass == 1024
    huge = NetworkConfig(lookback=96, horizon=100_000, n_targets=500, n_covariates=0, n_calendar=0, n_future=0)
    assert huge.windows_per_pass == 1


def test_validation_score_is_the_blended_forecasters_and_never_worse_than_either_path():
    """``validation_score_`` scores the fitted forecaster (core and linear path blended by the
    least-squares share on these same windows), so it is at most the core's own best score while
    training, and equals it where there is no core to blend."""
    df = wide_frame(160)
    est = tiny(target="load", max_epochs=4).fit(df)
    assert est.validation_score_ <= est.best_validation_score_ * (1 + 1e-6)
    linear = tiny(target="load", model="linear").fit(df)
    assert linear.validation_score_ == pytest.approx(linear.best_validation_score_, rel=1e-6)
    assert est.validation_score_ <= linear.validation_score_ * (1 + 1e-6)
    assert tiny(target="load", validation_fraction=0.0).fit(df).validation_score_ is None
