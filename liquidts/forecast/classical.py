"""Classical forecasting baselines with the same fit/predict interface as LiquidForecaster.

Naive (last value), SeasonalNaive (same point one season ago), Drift (line through the first
and last value), DLinear (Zeng et al., AAAI 2023: a linear map from the lookback, split
into moving-average trend and remainder, to the horizon; fitted here in closed form by ridge
regression, shared by all series and targets) and RidgeLags (ridge regression from the last
``lags`` values, and optionally the calendar of the forecast steps, to the horizon). They read
only the target columns; covariates are accepted so a benchmark can pass one frame to every
model. Intervals come from the quantiles of in-sample forecast errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liquidts.forecast.base import QUANTILE_GRID, BaseForecaster
from liquidts.forecast.validate import Series, check_positive_int
from liquidts.forecast.windows import calendar_features, calendar_names, fit_scaler, index_values

_MAX_RESIDUAL_ORIGINS = 200


def _ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last observation forward over NaN (N, T); leading NaN take the first observation."""
    return pd.DataFrame(values).ffill().bfill().to_numpy()


class _Classical(BaseForecaster):
    """Shared parameter set and residual intervals; subclasses define ``_rule`` and ``_min_rows``."""

    def _min_rows(self) -> int:
        return 1

    def _rule(self, y: np.ndarray, h: int, uid, times: np.ndarray) -> np.ndarray:
        """Forecast (h, T) from the target history y (N, T) without NaN observed at ``times`` (N,)."""
        raise NotImplementedError

    def _targets(self, s: Series) -> np.ndarray:
        n = len(s.times)
        if n < self._min_rows():
            raise ValueError(f"series {s.uid!r} has {n} rows; {type(self).__name__} needs at least "
                             f"{self._min_rows()}")
        return _ffill(s.values[:, : len(self.targets_)])

    def _fit_panel(self, panel) -> None:
        self._fit_rule(panel)
        H = self.horizon
        resid = []
        for s in panel.series:
            y = self._targets(s)
            first = self._min_rows()
            last = len(y) - H
            if last < first:
                continue
            origins = np.unique(np.linspace(first, last, min(_MAX_RESIDUAL_ORIGINS, last - first + 1)).astype(int))
            truth = s.values[:, : len(self.targets_)]
            for c in origins:
                resid.append(truth[c: c + H] - self._rule(y[:c], H, s.uid, s.times[:c]))
        if resid:
            with np.errstate(all="ignore"):
                grid = np.nanquantile(np.stack(resid), QUANTILE_GRID, axis=0)  # (99, H, T)
            self.residual_grid_ = np.nan_to_num(grid)
        else:  # too short to measure errors: intervals collapse to the point forecast
            self.residual_grid_ = np.zeros((len(QUANTILE_GRID), H, len(self.targets_)))

    def _fit_rule(self, panel) -> None:
        """Learn parameters of the rule (nothing for the naive family)."""

    def _forecast(self, series, h, futr, qs, stamps):
        return [self._rule(self._targets(s), h, s.uid, s.times) for s in series], None

    def _rolling_forecast(self, df, series: Series, start: int, h: int) -> np.ndarray:
        # The rule applied to prefixes of one forward-filled history: what predict(df.iloc[:i])
        # computes per origin, without re-validating the frame thousands of times. Forward
        # filling a prefix equals the prefix of the filled series once every target has been
        # observed before the origin; earlier origins take the per-origin path.
        truth = series.values[:, : len(self.targets_)]
        first_seen = (~np.isnan(truth)).argmax(axis=0)
        if start < self._min_rows() or start <= first_seen.max():
            return super()._rolling_forecast(df, series, start, h)
        y = self._targets(series)
        return np.stack([self._rule(y[:i], h, series.uid, series.times[:i])
                         for i in range(start, len(series.times) - h + 1)])


class Naive(_Classical):
    """Persistence: every future step equals the last observed value."""

    def __init__(self, horizon=24, target=None, covariates=None, time_col=None, id_col=None):
        self.horizon = horizon
        self.target = target
        self.covariates = covariates
        self.time_col = time_col
        self.id_col = id_col

    def _rule(self, y, h, uid, times):
        return np.repeat(y[-1:], h, axis=0)


class SeasonalNaive(_Classical):
    """Each future step equals the value one season (``season_length`` steps) earlier."""

    def __init__(self, season_length=7, horizon=24, target=None, covariates=None, time_col=None,
                 id_col=None):
        self.season_length = season_length
        self.horizon = horizon
        self.target = target
        self.covariates = covariates
        self.time_col = time_col
        self.id_col = id_col

    def _min_rows(self):
        return check_positive_int(self.season_length, "season_length")

    def _rule(self, y, h, uid, times):
        m = self.season_length
        return y[len(y) - m + np.arange(h) % m]


class Drift(_Classical):
    """The line through the first and the last observation, extended ``h`` steps."""

    def __init__(self, horizon=24, target=None, covariates=None, time_col=None, id_col=None):
        self.horizon = horizon
        self.target = target
        self.covariates = covariates
        self.time_col = time_col
        self.id_col = id_col

    def _min_rows(self):
        return 2

    def _rule(self, y, h, uid, times):
        slope = (y[-1] - y[0]) / (len(y) - 1)  # (T,)
        return y[-1] + slope * np.arange(1, h + 1)[:, None]


def _moving_average(x: np.ndarray, k: int) -> np.ndarray:
    """Trend of windows x (n, L) by a centred moving average, edges padded by repetition."""
    left, right = (k - 1) // 2, k // 2
    padded = np.concatenate([np.repeat(x[:, :1], left, 1), x, np.repeat(x[:, -1:], right, 1)], axis=1)
    csum = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return (csum[:, k:] - csum[:, :-k]) / k


class _DirectRidge(_Classical):
    """Direct multi-step ridge regression on per-series z-scored targets, one model for all
    series and targets (DLinear, RidgeLags): the scalers, the training windows and the solve."""

    def _fit_scalers(self, panel) -> list:
        """Each series' target mean and std, stored for predict; returns them per series."""
        self.scaler_ids_ = [s.uid for s in panel.series]
        self._scaler_index_ = {uid: k for k, uid in enumerate(self.scaler_ids_)}
        stats = [fit_scaler(s.values[:, : len(self.targets_)]) for s in panel.series]
        self.scaler_mean_ = np.stack([m for m, _ in stats])
        self.scaler_std_ = np.stack([sd for _, sd in stats])
        return stats

    def _scale(self, uid, y):
        """The fitted scaler of series ``uid``, or the statistics of ``y`` for a series not seen in fit."""
        k = self._scaler_index_.get(uid)
        return fit_scaler(y) if k is None else (self.scaler_mean_[k], self.scaler_std_[k])

    def _windows(self, panel, L: int, H: int, name: str):
        """Per series: the series, the z-scored lookbacks (T, n, L) and the next H values (T, n, H)
        of its n origins (the lookback forward-filled, the truth with NaN where unobserved)."""
        for s, (mean, std) in zip(panel.series, self._fit_scalers(panel)):
            z = (self._targets(s) - mean) / std  # (N, T)
            truth = (s.values[:, : len(self.targets_)] - mean) / std
            if len(z) < L + H:
                raise ValueError(f"series {s.uid!r} has {len(z)} rows but {type(self).__name__} needs "
                                 f"{name}={L} + horizon={H} = {L + H}")
            lookbacks = np.lib.stride_tricks.sliding_window_view(z[: len(z) - H], L, axis=0)  # (n, T, L)
            targets = np.lib.stride_tricks.sliding_window_view(truth[L:], H, axis=0)  # (n, T, H)
            yield s, lookbacks.transpose(1, 0, 2), targets.transpose(1, 0, 2)

    def _solve(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Ridge coefficients of X (n, P, intercept column last) on Y (n, H), rows with a missing
        target left out; the intercept is not shrunk."""
        keep = ~np.isnan(Y).any(axis=1)
        X, Y = X[keep], Y[keep]
        penalty = self.alpha * np.eye(X.shape[1])
        penalty[-1, -1] = 0.0
        return np.linalg.solve(X.T @ X + penalty, X.T @ Y)


class DLinear(_DirectRidge):
    """DLinear-style direct linear forecaster on per-series z-scored targets.

    Each window's lookback is split into a moving-average trend (``kernel_size``) and the
    remainder; one ridge regression (penalty ``alpha``) maps both to the ``horizon`` steps.
    """

    _max_h_is_horizon = True

    def __init__(self, lookback=96, kernel_size=25, alpha=1.0, horizon=24, target=None,
                 covariates=None, time_col=None, id_col=None):
        self.lookback = lookback
        self.kernel_size = kernel_size
        self.alpha = alpha
        self.horizon = horizon
        self.target = target
        self.covariates = covariates
        self.time_col = time_col
        self.id_col = id_col

    def _min_rows(self):
        return check_positive_int(self.lookback, "lookback")

    def _features(self, windows: np.ndarray) -> np.ndarray:
        trend = _moving_average(windows, check_positive_int(self.kernel_size, "kernel_size"))
        return np.concatenate([windows - trend, trend, np.ones((len(windows), 1))], axis=1)  # (n, 2L+1)

    def _fit_rule(self, panel) -> None:
        L, H = self._min_rows(), self.horizon
        xs, ys = [], []
        for _, lookbacks, targets in self._windows(panel, L, H, "lookback"):
            xs.append(lookbacks.reshape(-1, L))
            ys.append(targets.reshape(-1, H))
        self.coef_ = self._solve(self._features(np.concatenate(xs)), np.concatenate(ys))  # (2L+1, H)

    def _rule(self, y, h, uid, times):
        L = self.lookback
        mean, std = self._scale(uid, y)
        z = ((y[-L:] - mean) / std).T  # (T, L)
        out = self._features(z) @ self.coef_[:, :h]  # (T, h)
        return out.T * std + mean


class RidgeLags(_DirectRidge):
    """Direct ridge regression on per-series z-scored targets: the last ``lags`` values (and, with
    ``calendar=True``, sin/cos of the calendar cycles that the training data covers twice, at the
    first forecast step) to the next ``horizon`` values; one model for all series and targets. The
    strong linear reference of the forecasting benchmarks.

    Every later step's calendar is a fixed rotation of the first step's (each cycle's phase
    advances by the same angle from any origin), so the first step's sin/cos carry everything the
    calendars of all ``horizon`` steps would, without ``horizon`` times the columns (those took
    24 GB on ETTm1 at horizon 720)."""

    _max_h_is_horizon = True

    def __init__(self, lags=28, calendar=True, alpha=1.0, horizon=24, target=None, covariates=None,
                 time_col=None, id_col=None):
        self.lags = lags
        self.calendar = calendar
        self.alpha = alpha
        self.horizon = horizon
        self.target = target
        self.covariates = covariates
        self.time_col = time_col
        self.id_col = id_col

    def _min_rows(self):
        return check_positive_int(self.lags, "lags")

    def _future_calendar(self, last: int) -> np.ndarray:
        """Calendar features (K,) of the first step after ``last``."""
        times = index_values(self._future_times(Series(None, np.array([last]), None), 1))
        return calendar_features(times, self.cal_names_, self.tz_)[0]

    def _fit_rule(self, panel) -> None:
        L, H = self._min_rows(), self.horizon
        span = max(int(s.times[-1] - s.times[0]) for s in panel.series)
        self.cal_names_ = calendar_names(self.step_, span, self.time_kind_) if self.calendar else []
        xs, ys = [], []
        for s, lookbacks, targets in self._windows(panel, L, H, "lags"):
            T, n = lookbacks.shape[:2]
            origins = np.arange(L, L + n)
            cal = np.stack([self._future_calendar(int(s.times[o - 1])) for o in origins]) \
                if self.cal_names_ else np.zeros((n, 0))
            ones = np.ones((T, n, 1))
            xs.append(np.concatenate([lookbacks, np.broadcast_to(cal, (T, *cal.shape)), ones], axis=2)
                      .reshape(T * n, -1))
            ys.append(targets.reshape(T * n, H))
        self.coef_ = self._solve(np.concatenate(xs), np.concatenate(ys))  # (L + K + 1, H)

    def _rule(self, y, h, uid, times):
        L = self.lags
        mean, std = self._scale(uid, y)
        z = ((y[-L:] - mean) / std).T  # (T, L)
        cal = self._future_calendar(int(times[-1])) if self.cal_names_ else np.zeros(0)
        X = np.concatenate([z, np.repeat(cal[None], len(z), 0), np.ones((len(z), 1))], axis=1)
        return (X @ self.coef_[:, :h]).T * std + mean
