"""Input checks for every forecaster, in one place.

A user's DataFrame (wide with a DatetimeIndex or a time column, or long ``unique_id, ds, y``)
is turned into a :class:`Panel`: one float array per series, its timestamps, and the column
roles. Everything after this module assumes a valid Panel, so the errors a user can hit are
raised here, each saying what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LONG_ID, LONG_TIME = "unique_id", "ds"


@dataclass
class Series:
    """One series: timestamps (N,) as int64 nanoseconds and values (N, C) float64 (NaN = missing)."""

    uid: object
    times: np.ndarray
    values: np.ndarray


@dataclass
class Panel:
    """Validated input: the series and the names of their columns (targets first, then covariates)."""

    series: list[Series]
    targets: list[str]
    covariates: list[str]
    long: bool
    time_name: str
    id_name: str = LONG_ID
    future_covariates: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return self.targets + self.covariates


def as_list(names) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _is_long(df: pd.DataFrame, time_col, id_col) -> bool:
    if id_col is not None:
        return True
    return LONG_ID in df.columns and LONG_TIME in df.columns and time_col in (None, LONG_TIME)


def _time_values(ts, where: str) -> np.ndarray:
    try:
        times = pd.DatetimeIndex(pd.to_datetime(ts))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} must hold timestamps (datetime64); could not convert: {exc}") from None
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    if times.hasnans:
        raise ValueError(f"{where} has missing timestamps (NaT); drop those rows or fill their time")
    return times.as_unit("ns").asi8.copy()


def _check_times(times: np.ndarray, where: str) -> None:
    steps = np.diff(times)
    if (steps == 0).any():
        dup = pd.Timestamp(times[1:][steps == 0][0])
        raise ValueError(
            f"duplicate timestamp {dup} in {where}; aggregate duplicates first "
            "(e.g. df.groupby(time).mean())"
        )
    if (steps < 0).any():
        raise ValueError(f"timestamps in {where} are not sorted; sort them first (e.g. df.sort_index())")


def _numeric_block(frame: pd.DataFrame, names: list[str], role: str) -> np.ndarray:
    for name in names:
        col = frame[name]
        if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
            raise TypeError(
                f"{role} column {name!r} is not numeric (dtype {col.dtype}); "
                "convert it to numbers or leave it out"
            )
    values = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        bad = [n for n, c in zip(names, np.isinf(values).any(0)) if c]
        raise ValueError(f"columns {bad} contain inf; replace with NaN (missing) or a finite value")
    return values


def validate_frame(
    df,
    target=None,
    covariates=None,
    time_col=None,
    id_col=None,
    future_covariates=None,
) -> Panel:
    """Check ``df`` and return it as a :class:`Panel`.

    Wide format: a DatetimeIndex (or ``time_col``), targets chosen by ``target`` and every
    other numeric column a covariate unless ``covariates`` names them. Long format: columns
    ``unique_id, ds`` (or ``id_col``/``time_col``) and the target (default ``y``).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0 or df.shape[1] == 0:
        raise ValueError("the DataFrame is empty; pass at least one row and one numeric column")
    long = _is_long(df, time_col, id_col)
    id_name = id_col or LONG_ID

    if long:
        time_name = time_col or LONG_TIME
        for col in (id_name, time_name):
            if col not in df.columns:
                raise ValueError(f"long format needs a {col!r} column; got columns {list(df.columns)}")
        body = df.drop(columns=[id_name, time_name])
        targets = as_list(target) or ["y"]
    else:
        if time_col is not None:
            if time_col not in df.columns:
                raise ValueError(f"time_col {time_col!r} not in columns {list(df.columns)}")
            time_name, times_raw, body = time_col, df[time_col], df.drop(columns=[time_col])
        elif isinstance(df.index, pd.DatetimeIndex):
            time_name, times_raw, body = df.index.name or "ds", df.index, df
        else:
            raise ValueError(
                "wide format needs a DatetimeIndex or time_col='<name of the time column>' "
                "(or long format with columns unique_id, ds, y)"
            )
        targets = as_list(target)
        if not targets:
            numeric = [c for c in body.columns if pd.api.types.is_numeric_dtype(body[c])]
            if len(numeric) != 1:
                raise ValueError(
                    f"target= is required when the frame has {len(numeric)} numeric columns "
                    f"({numeric}); e.g. target={numeric[0]!r}" if numeric else
                    "the frame has no numeric column to forecast"
                )
            targets = numeric

    missing = [t for t in targets if t not in body.columns]
    if missing:
        raise ValueError(f"target column(s) {missing} not in the DataFrame; available: {list(body.columns)}")
    if covariates is None:
        covs = [c for c in body.columns if c not in targets and pd.api.types.is_numeric_dtype(body[c])
                and not pd.api.types.is_bool_dtype(body[c])]
    else:
        covs = as_list(covariates)
        absent = [c for c in covs if c not in body.columns]
        if absent:
            raise ValueError(f"covariate column(s) {absent} not in the DataFrame; available: {list(body.columns)}")
    futr = as_list(future_covariates)
    unknown = [c for c in futr if c not in covs]
    if unknown:
        raise ValueError(f"future_covariates {unknown} must also be covariate columns of the DataFrame")

    values = _numeric_block(body, targets, "target")
    if covs:
        values = np.concatenate([values, _numeric_block(body, covs, "covariate")], axis=1)
    if np.isnan(values[:, : len(targets)]).all(axis=0).any():
        raise ValueError("a target column is entirely missing (all NaN); nothing to learn from")

    series = []
    if long:
        ids = df[id_name].to_numpy()
        times_all = _time_values(df[time_name], f"column {time_name!r}")
        codes, uniques = pd.factorize(ids, sort=False)
        for k, uid in enumerate(uniques):
            rows = np.flatnonzero(codes == k)
            t = times_all[rows]
            _check_times(t, f"series {uid!r}")
            series.append(Series(uid, t, values[rows]))
    else:
        t = _time_values(times_raw, f"the time axis {time_name!r}")
        _check_times(t, "the time axis")
        series.append(Series(None, t, values))
    return Panel(series, targets, covs, long, time_name, id_name, futr)


def check_same_columns(panel: Panel, targets: list[str], covariates: list[str]) -> None:
    """At predict time the frame must carry the columns the model was fitted on."""
    if panel.targets != targets or panel.covariates != covariates:
        raise ValueError(
            f"the model was fitted with targets {targets} and covariates {covariates}, "
            f"but this frame has targets {panel.targets} and covariates {panel.covariates}; "
            "pass a frame with the same columns"
        )
