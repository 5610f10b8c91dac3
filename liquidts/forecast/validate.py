"""Input checks for every forecaster, in one place.

A user's DataFrame (wide with a DatetimeIndex, an integer index or a time column, or long
``unique_id, ds, y``) is turned into a :class:`Panel`: one float array per series, its times,
and the column roles. Everything after this module assumes a valid Panel, so the errors a user
can hit are raised here, each saying what to fix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LONG_ID, LONG_TIME = "unique_id", "ds"


@dataclass
class Series:
    """One series: times (N,) int64 and values (N, C) float64 (NaN = missing).

    The times are nanoseconds since 1970 in UTC on a datetime axis, and the user's own numbers on
    an integer axis (a ``step`` or ``minute`` column): see :attr:`Panel.time_kind`."""

    uid: object
    times: np.ndarray
    values: np.ndarray


@dataclass
class Panel:
    """Validated input: the series and the names of their columns (targets first, then covariates).

    ``time_kind`` is ``"datetime"`` (times in UTC nanoseconds; ``tz`` the time zone the data came
    in, None when naive) or ``"int"`` (an integer axis: steps, minutes, ... in the user's units).
    """

    series: list[Series]
    targets: list[str]
    covariates: list[str]
    long: bool
    time_name: str
    id_name: str = LONG_ID
    future_covariates: list[str] = field(default_factory=list)
    time_kind: str = "datetime"
    tz: object = None

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


# Values beyond this magnitude cannot be scaled and restored in float64 without overflowing
# (a forecast is mean + z * std with z of a few units); they are refused with a clear error.
MAX_MAGNITUDE = 1e300


def _time_values(ts, where: str) -> tuple[np.ndarray, str, object]:
    """The time axis ``ts`` as (int64 times, kind, tz): timestamps -> UTC nanoseconds, kind
    ``"datetime"`` and their time zone (None when naive); whole numbers (an int index, a
    ``step`` column) -> themselves, kind ``"int"``."""
    ts = pd.Series(np.asarray(ts) if isinstance(ts, np.ndarray) else ts)
    if ts.isna().any():
        raise ValueError(f"{where} has missing times (NaT/NaN); drop those rows or fill their time")
    dtype = ts.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise TypeError(f"{where} holds booleans; pass timestamps or whole-number steps")
    if pd.api.types.is_integer_dtype(dtype):
        values = ts.to_numpy()
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{where} holds integers beyond int64; shift them to start near 0")
        return values.astype(np.int64), "int", None
    if pd.api.types.is_float_dtype(dtype):
        values = ts.to_numpy(dtype=np.float64)
        whole = np.isfinite(values).all() and (values == np.round(values)).all() and \
            (np.abs(values) < 2.0**53).all()
        if not whole:
            raise TypeError(f"{where} holds fractional or infinite numbers; a numeric time axis must "
                            "hold whole numbers (steps, minutes, ...): scale it to integers or pass timestamps")
        return values.astype(np.int64), "int", None
    try:
        with warnings.catch_warnings():  # pandas warns when it falls back to per-element parsing
            warnings.simplefilter("ignore", UserWarning)
            try:
                times = pd.DatetimeIndex(pd.to_datetime(ts))
            except ValueError as exc:
                if "Mixed timezones" not in str(exc) and "mixed time zones" not in str(exc).lower():
                    raise
                # Stamps with several UTC offsets (local times across a DST change): one axis in UTC.
                times = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    except (TypeError, ValueError, OverflowError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TypeError(f"{where} must hold timestamps (datetime64) or whole-number steps; "
                        f"could not convert: {reason}") from None
    tz = times.tz
    if tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return times.as_unit("ns").asi8.copy(), "datetime", tz


def _looks_like_time(col: pd.Series) -> bool:
    """A datetime column, or text whose first values are ISO timestamps (a time column left as text)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return True
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return False
    head = col.dropna().head(5)
    if head.empty:
        return False
    if all(isinstance(v, (pd.Timestamp, np.datetime64)) for v in head):
        return True
    if not all(isinstance(v, str) for v in head):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pd.to_datetime(head, format="ISO8601")
    except (TypeError, ValueError, OverflowError):
        return False
    return all(("-" in v or ":" in v) for v in head)


def _series_ids(ids: pd.Series, id_name: str) -> tuple[np.ndarray, list]:
    """Each row's series number and the series ids as plain Python values (strings, numbers,
    timestamps); missing ids and ids of a type a saved model cannot hold are refused."""
    missing = int(ids.isna().sum())
    if missing:
        raise ValueError(f"id column {id_name!r} has {missing} row(s) with a missing id (NaN/None); "
                         "drop those rows or give them an id")
    codes, uniques = pd.factorize(ids.to_numpy(dtype=object), sort=False)
    plain = []
    for v in uniques:
        if isinstance(v, np.datetime64):
            v = pd.Timestamp(v)
        elif isinstance(v, np.generic):
            v = v.item()
        if not isinstance(v, (str, int, float, pd.Timestamp)):
            raise TypeError(f"id column {id_name!r} holds a {type(v).__name__} ({v!r}); ids must be "
                            "strings, numbers or timestamps")
        plain.append(v)
    return codes, plain


def _check_times(times: np.ndarray, where: str, kind: str = "datetime", tz=None) -> None:
    steps = np.diff(times)
    if (steps == 0).any():
        dup = times[1:][steps == 0][0]
        if kind == "datetime":
            dup = pd.Timestamp(dup, tz="UTC").tz_convert(tz) if tz is not None else pd.Timestamp(dup)
        else:
            dup = int(dup)
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
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > MAX_MAGNITUDE
    if huge.any():
        bad = [n for n, c in zip(names, huge.any(0)) if c]
        raise ValueError(f"{role} columns {bad} hold values beyond {MAX_MAGNITUDE:g} in magnitude, too large "
                         "to scale and restore without overflow; divide them by a power of ten")
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

    Wide format: a time axis (a DatetimeIndex, an integer index such as a RangeIndex, or
    ``time_col``), targets chosen by ``target`` and every other numeric column a covariate
    unless ``covariates`` names them. Long format: columns ``unique_id, ds`` (or
    ``id_col``/``time_col``) and the target (default ``y``). Timestamps may carry a time zone;
    a time axis of whole numbers (steps, minutes, ...) stays an integer axis.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0 or df.shape[1] == 0:
        raise ValueError("the DataFrame is empty; pass at least one row and one numeric column")
    if df.columns.duplicated().any():
        dups = list(dict.fromkeys(df.columns[df.columns.duplicated()]))
        raise ValueError(f"duplicate column names {dups}; give every column its own name")
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
        elif pd.api.types.is_numeric_dtype(df.index) and not pd.api.types.is_bool_dtype(df.index):
            timelike = [c for c in df.columns if _looks_like_time(df[c])]
            if timelike:
                raise ValueError(
                    f"column {timelike[0]!r} holds timestamps but the frame is indexed by numbers; pass "
                    f"time_col={timelike[0]!r} (or set it as the index) to use it as the time axis"
                )
            time_name, times_raw, body = df.index.name or "step", df.index, df
        else:
            raise ValueError(
                "wide format needs a DatetimeIndex, an integer index or time_col='<name of the time "
                "column>' (or long format with columns unique_id, ds, y)"
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
        codes, uniques = _series_ids(df[id_name], id_name)
        times_all, kind, tz = _time_values(df[time_name], f"column {time_name!r}")
        for k, uid in enumerate(uniques):
            rows = np.flatnonzero(codes == k)
            t = times_all[rows]
            _check_times(t, f"series {uid!r}", kind, tz)
            series.append(Series(uid, t, values[rows]))
    else:
        t, kind, tz = _time_values(times_raw, f"the time axis {time_name!r}")
        _check_times(t, "the time axis", kind, tz)
        series.append(Series(None, t, values))
    return Panel(series, targets, covs, long, time_name, id_name, futr, kind, tz)


def check_same_columns(panel: Panel, targets: list[str], covariates: list[str]) -> None:
    """At predict time the frame must carry the columns the model was fitted on."""
    if panel.targets != targets or panel.covariates != covariates:
        raise ValueError(
            f"the model was fitted with targets {targets} and covariates {covariates}, "
            f"but this frame has targets {panel.targets} and covariates {panel.covariates}; "
            "pass a frame with the same columns"
        )
