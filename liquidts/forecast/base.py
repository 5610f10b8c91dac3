"""What every forecaster shares: input handling, stored history, output frames, backtesting.

A subclass implements ``_fit_panel(panel)`` and ``_forecast(...)``; this class turns
DataFrames into validated panels and the forecasts back into DataFrames, so the liquid model
and the classical baselines answer exactly the same calls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liquidts.forecast import metrics
from liquidts.forecast._params import ParamsMixin, clone, not_fitted_error
from liquidts.forecast.validate import (Panel, Series, check_positive_int, check_same_columns,
                                        validate_frame)
from liquidts.forecast.windows import fit_scaler, future_times, infer_step, to_index

# Levels at which residual quantiles are kept, for intervals of point-loss models.
QUANTILE_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


@dataclass
class CrossValidation:
    """Result of :meth:`BaseForecaster.cross_validate`.

    ``forecasts``: one row per (series, cutoff, future time) with truth and forecast per target.
    ``metrics``: one row per (series, cutoff, target) with MAE, RMSE, MAPE, sMAPE, MASE and,
    when quantiles were asked for, the mean pinball loss over them.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame


def quantile_column(target: str, q: float) -> str:
    return f"{target}_q{q:g}"


def check_quantiles(quantiles) -> tuple[float, ...]:
    qs = tuple(float(q) for q in np.atleast_1d(quantiles))
    if not qs or any(not 0 < q < 1 for q in qs):
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {quantiles!r}")
    return qs


class BaseForecaster(ParamsMixin):
    """Shared fit/predict/update/cross_validate over DataFrames (see :class:`LiquidForecaster`)."""

    # Subclasses set these parameters in __init__: horizon, target, covariates, time_col, id_col.
    _max_h_is_horizon = False

    # ----- subclass hooks -------------------------------------------------------------
    def _fit_panel(self, panel: Panel) -> None:
        raise NotImplementedError

    def _forecast(self, series: list[Series], h: int, futr: list, qs: tuple, stamps: list):
        """Point forecasts [(h, T) per series] in original units, and {q: [(h, T) per series]}
        when the model forecasts quantiles itself (else None: intervals come from residuals)."""
        raise NotImplementedError

    def _history_rows(self) -> int | None:
        """How many trailing rows of each series predict needs (None: all)."""
        return None

    def _residual_quantiles(self, qs, points: list[np.ndarray], h: int):
        """Quantile forecasts {q: [(h, T) per series]}: point + quantile of held-out residuals."""
        grid = self.residual_grid_  # (len(QUANTILE_GRID), H, T)
        out = {}
        for q in qs:
            level = np.array([np.interp(q, QUANTILE_GRID, grid[:, k, j])
                              for k in range(grid.shape[1]) for j in range(grid.shape[2])])
            level = level.reshape(grid.shape[1], grid.shape[2])
            idx = np.minimum(np.arange(h), grid.shape[1] - 1)
            out[q] = [p + level[idx] for p in points]
        return out

    # ----- public API -----------------------------------------------------------------
    def _validate(self, df, fitted: bool) -> Panel:
        panel = validate_frame(
            df, target=self.target, covariates=self.covariates, time_col=self.time_col,
            id_col=self.id_col, future_covariates=getattr(self, "future_covariates", None),
        )
        if fitted:
            check_same_columns(panel, self.targets_, self.covariates_)
            if panel.long != self.long_:
                raise ValueError(
                    f"the model was fitted on {'long' if self.long_ else 'wide'} data; "
                    f"pass the same format at predict time"
                )
            kind = getattr(self, "time_kind_", "datetime")
            if panel.time_kind != kind:
                raise ValueError(
                    f"the model was fitted on a {_axis_words(kind)} time axis, but this frame's time axis "
                    f"{panel.time_name!r} holds {_axis_words(panel.time_kind)} values; pass the same kind"
                )
            tz = getattr(self, "tz_", None)
            if (panel.tz is None) != (tz is None):
                raise ValueError(
                    f"the model was fitted on {'time-zone aware' if tz is not None else 'naive'} "
                    f"timestamps ({tz or 'no time zone'}), but this frame's are "
                    f"{'time-zone aware' if panel.tz is not None else 'naive'}; localize them the same way "
                    "(e.g. index.tz_localize(...) or tz_convert(...))"
                )
        return panel

    def fit(self, df, y=None):
        """Learn from ``df`` (wide or long format); returns self. ``y`` is ignored (sklearn)."""
        check_positive_int(self.horizon, "horizon")
        panel = self._validate(df, fitted=False)
        self._set_layout(panel)
        self._fit_panel(panel)
        self._store_history(panel.series)
        return self

    def _set_layout(self, panel: Panel) -> None:
        self.targets_ = list(panel.targets)
        self.covariates_ = list(panel.covariates)
        self.future_covariates_ = list(panel.future_covariates)
        self.long_ = panel.long
        self.time_name_ = panel.time_name
        self.id_name_ = panel.id_name
        self.time_kind_ = panel.time_kind
        self.tz_ = panel.tz
        self.step_, self.freq_ = infer_step(panel)

    def _store_history(self, series: list[Series]) -> None:
        keep = self._history_rows()
        self.history_ = [Series(s.uid, s.times[-keep:] if keep else s.times,
                                s.values[-keep:] if keep else s.values) for s in series]

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with a "
                "DataFrame before using this estimator."
            )

    def update(self, df_new):
        """Append new observations to the stored history without retraining; returns self.

        Later ``predict()`` calls forecast from the end of the updated history. Rows must come
        after the last stored timestamp of their series; unseen series are added.
        """
        self._check_fitted()
        panel = self._validate(df_new, fitted=True)
        by_id = {s.uid: s for s in self.history_}
        for s in panel.series:
            old = by_id.get(s.uid)
            if old is None:
                by_id[s.uid] = s
                continue
            if s.times[0] <= old.times[-1]:
                raise ValueError(
                    f"update() got rows at or before the last stored time {self._stamp(old.times[-1])} "
                    f"of series {s.uid!r}; pass only new observations"
                )
            by_id[s.uid] = Series(s.uid, np.concatenate([old.times, s.times]),
                                  np.concatenate([old.values, s.values]))
        self._store_history(list(by_id.values()))
        return self

    def predict(self, h=None, df=None, quantiles=None, futr_df=None):
        """Forecast the next ``h`` steps (default: ``horizon``) after the fitted data or ``df``.

        Returns a DataFrame indexed by the future timestamps with one column per target (long
        input: columns ``unique_id, ds`` and the targets), plus ``<target>_q<level>`` columns
        for each of ``quantiles``. ``futr_df`` holds the future values of ``future_covariates``.
        The future times are integers on an integer axis and timestamps in the data's time zone
        otherwise. A known series given in ``df`` at a scale far from the fitted one is warned about.
        """
        self._check_fitted()
        h = self.horizon if h is None else check_positive_int(h, "h")
        if self._max_h_is_horizon and h > self.horizon:
            raise ValueError(f"h={h} exceeds the horizon={self.horizon} the model was fitted for; "
                             "refit with a larger horizon")
        if df is None:
            series, tz = self.history_, getattr(self, "tz_", None)
        else:
            panel = self._validate(df, fitted=True)
            series, tz = panel.series, panel.tz
            self._warn_on_other_scale(series)
        stamps = [self._future_times(s, h) for s in series]
        if tz is not None and str(tz) != str(getattr(self, "tz_", None)):
            # Forecast in the time zone of the data given (stepped in the fitted one).
            stamps = [t.tz_convert(tz) for t in stamps]
        futr = self._future_covariates(series, stamps, futr_df)
        qs = () if quantiles is None else check_quantiles(quantiles)
        points, quant = self._forecast(series, h, futr, qs, stamps)
        if qs and quant is None:
            quant = self._residual_quantiles(qs, points, h)
        return self._frame(series, stamps, points, quant or {})

    def _future_times(self, s: Series, h: int) -> pd.Index:
        """The ``h`` times after the end of ``s``, in the fitted time zone (or integer steps)."""
        # getattr: models pickled before time axes had kinds.
        kind, tz = getattr(self, "time_kind_", "datetime"), getattr(self, "tz_", None)
        return future_times(int(s.times[-1]), self.step_, self.freq_, h, kind, tz)

    def _stamp(self, t):
        """One internal time as the user sees it (a Timestamp in the fitted time zone, or an int)."""
        return to_index(np.array([t]), getattr(self, "time_kind_", "datetime"), getattr(self, "tz_", None))[0]

    def _warn_on_other_scale(self, series: list[Series]) -> None:
        """Warn when ``predict(df=...)`` gives a known series (or the wide frame) at a scale far from
        the one its scaler was fitted on: the forecast reuses the fitted scaling, which no longer fits."""
        index = getattr(self, "_scaler_index_", None)
        if index is None:  # no per-series scaling (the naive family)
            return
        T = len(self.targets_)
        for s in series:
            k = index.get(s.uid)
            if k is None:  # a new series is scaled by its own history
                continue
            y = s.values[:, :T]
            mean, std = fit_scaler(y)
            fitted_mean, fitted_std = self.scaler_mean_[k][:T], self.scaler_std_[k][:T]
            for j, name in enumerate(self.targets_):
                if np.count_nonzero(~np.isnan(y[:, j])) < 2:
                    continue
                shift = abs(mean[j] - fitted_mean[j]) / fitted_std[j]
                ratio = std[j] / fitted_std[j]
                if shift > 10 or not 0.1 <= ratio <= 10:
                    where = f"column {name!r}" + (f" of series {s.uid!r}" if self.long_ else "")
                    warnings.warn(
                        f"{where} given to predict has mean {mean[j]:.3g} and std {std[j]:.3g}, far from the "
                        f"mean {fitted_mean[j]:.3g} and std {fitted_std[j]:.3g} the model was fitted on; the "
                        "forecast reuses the fitted scaling and may be wrong: refit on data like this",
                        UserWarning, stacklevel=3)

    def rolling_forecast(self, df, start: int, h: int | None = None) -> np.ndarray:
        """Forecasts (n, h, T) from every origin of the wide frame ``df`` at rows ``start`` ..
        ``len(df) - h``: the forecast from origin ``i`` covers rows ``i .. i+h-1`` and reads only
        rows before ``i``. The fitted model is not refitted (a fast backtest)."""
        self._check_fitted()
        h = self.horizon if h is None else check_positive_int(h, "h")
        panel = self._validate(df, fitted=True)
        if panel.long:
            raise ValueError("rolling_forecast takes one wide series; use cross_validate for long data")
        n = len(panel.series[0].times)
        if not 0 < start <= n - h:
            raise ValueError(f"start must be in 1 .. {n - h} (the last origin with {h} rows after it), got {start}")
        return self._rolling_forecast(df, panel.series[0], start, h)

    def _rolling_forecast(self, df, series: Series, start: int, h: int) -> np.ndarray:
        """Per-origin predict; subclasses that can batch the origins override this."""
        return np.stack([self.predict(h=h, df=df.iloc[:i]).to_numpy()[:, : len(self.targets_)]
                         for i in range(start, len(series.times) - h + 1)])

    def _future_covariates(self, series, stamps, futr_df):
        if not self.future_covariates_:
            return [None] * len(series)
        if futr_df is None:
            raise ValueError(f"the model uses future_covariates {self.future_covariates_}: "
                             "pass their future values as futr_df=")
        if not isinstance(futr_df, pd.DataFrame):
            raise TypeError("futr_df must be a DataFrame")
        out = []
        for s, t in zip(series, stamps):
            if self.long_:
                part = futr_df[futr_df[self.id_name_] == s.uid].set_index(self.time_name_)
            else:
                part = futr_df.set_index(self.time_col) if self.time_col else futr_df
            missing = [c for c in self.future_covariates_ if c not in part.columns]
            if missing:
                raise ValueError(f"futr_df lacks future covariate column(s) {missing}")
            idx = t
            block = part.reindex(idx)[self.future_covariates_].to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isnan(block).any():
                raise ValueError(f"futr_df must give every future covariate at every forecast time "
                                 f"{idx[0]} .. {idx[-1]} (NaN or missing rows found)")
            out.append(block)
        return out

    def _frame(self, series, stamps, points, quant) -> pd.DataFrame:
        cols = list(self.targets_)
        for q in quant:
            cols += [quantile_column(t, q) for t in self.targets_]
        frames = []
        for i, (s, t) in enumerate(zip(series, stamps)):
            blocks = [points[i]] + [quant[q][i] for q in quant]
            data = np.concatenate(blocks, axis=1)
            frame = pd.DataFrame(data, index=t.rename(self.time_name_), columns=cols)
            if self.long_:
                frame = frame.reset_index().rename(columns={self.time_name_: self.time_name_})
                frame.insert(0, self.id_name_, s.uid)
            frames.append(frame)
        if not self.long_:
            return frames[0]
        return pd.concat(frames, ignore_index=True)

    def cross_validate(self, df, n_windows: int = 3, step: int | None = None, h: int | None = None,
                       quantiles=None, season_length: int = 1, refit: bool = False) -> CrossValidation:
        """Backtest over rolling origins at the end of ``df``.

        The last ``n_windows`` cutoffs lie ``step`` rows apart (default ``h``), the last one ``h``
        rows before the end. A clone of this estimator is fitted on the rows before the first
        cutoff (``refit=True``: before each cutoff) and forecasts ``h`` steps from each cutoff
        with the history up to it. ``self`` is left untouched.
        """
        n_windows = check_positive_int(n_windows, "n_windows")
        h = self.horizon if h is None else check_positive_int(h, "h")
        step = h if step is None else check_positive_int(step, "step")
        panel = self._validate(df, fitted=False)
        qs = () if quantiles is None else check_quantiles(quantiles)
        offsets = [h + step * (n_windows - 1 - w) for w in range(n_windows)]  # rows after each cutoff
        shortest = min(len(s.times) for s in panel.series)
        if offsets[0] >= shortest:
            raise ValueError(f"{n_windows} windows of step {step} and h={h} need more than "
                             f"{offsets[0]} rows per series; the shortest has {shortest}")

        def frame_upto(offset):
            return self._panel_to_frame(panel, lambda s: len(s.times) - offset)

        targets = panel.targets
        model = None
        rows, scores = [], []
        for offset in offsets:
            if model is None or refit:
                model = clone(self).fit(frame_upto(offset))
            hist = frame_upto(offset)
            pred = model.predict(h=h, df=hist, quantiles=qs or None)
            hist_panel = model._validate(hist, fitted=True)
            for k, s in enumerate(panel.series):
                cut = len(s.times) - offset
                truth = s.values[cut: cut + h, : len(targets)]  # (h, T)
                part = pred[pred[panel.id_name] == s.uid] if panel.long else pred
                cutoff = to_index(s.times[cut - 1: cut], panel.time_kind, panel.tz)[0]
                train_y = hist_panel.series[k].values[:, : len(targets)]
                for j, t in enumerate(targets):
                    fc = part[t].to_numpy()
                    rec = {"cutoff": cutoff, "target": t, "mae": metrics.mae(truth[:, j], fc),
                           "rmse": metrics.rmse(truth[:, j], fc), "mape": metrics.mape(truth[:, j], fc),
                           "smape": metrics.smape(truth[:, j], fc),
                           "mase": metrics.mase(truth[:, j], fc, train_y[:, j], season_length)}
                    if qs:
                        rec["quantile_loss"] = float(np.mean([
                            metrics.quantile_loss(truth[:, j], part[quantile_column(t, q)].to_numpy(), q)
                            for q in qs]))
                    if panel.long:
                        rec = {panel.id_name: s.uid, **rec}
                    scores.append(rec)
                    when = to_index(s.times[cut: cut + h], panel.time_kind, panel.tz)
                    out = pd.DataFrame({panel.time_name: when,
                                        "cutoff": cutoff, "target": t, "y": truth[:, j], "y_hat": fc})
                    for q in qs:
                        out[f"y_hat_q{q:g}"] = part[quantile_column(t, q)].to_numpy()
                    if panel.long:
                        out.insert(0, panel.id_name, s.uid)
                    rows.append(out)
        return CrossValidation(pd.concat(rows, ignore_index=True), pd.DataFrame(scores))

    def _panel_to_frame(self, panel: Panel, length) -> pd.DataFrame:
        """Rebuild a DataFrame (same format as fitted on) from the first ``length(s)`` rows of each series."""
        frames = []
        for s in panel.series:
            n = length(s)
            frame = pd.DataFrame(s.values[:n], columns=panel.columns)
            times = to_index(s.times[:n], panel.time_kind, panel.tz)
            if panel.long:
                frame.insert(0, panel.time_name, times)
                frame.insert(0, panel.id_name, s.uid)
            elif self.time_col:
                frame.insert(0, self.time_col, times)
            else:
                frame.index = times.rename(panel.time_name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if panel.long else frames[0]


def _axis_words(kind: str) -> str:
    return "timestamp" if kind == "datetime" else "integer (step)"
