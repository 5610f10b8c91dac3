"""Input checks for the classifier, in one place: long-format observations (or a list of
per-subject frames) and labels become :class:`Observations`, or a clear error naming the subject,
column or variable at fault. Everything after this module assumes valid input.

Conventions: a row is one observation (subject, time, variable, value). A NaN value is an
observation that was not made (the row is dropped); several values of one variable at one time
of one subject are averaged. Times are numbers (any unit) or timestamps (read in seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TIME_KINDS = ("numeric", "datetime")


@dataclass
class Observations:
    """Valid long-format observations, one row per (subject, time, variable), sorted by subject
    then time. ``ids`` are the subjects in output order; ``subject`` indexes into them."""

    ids: list
    subject: np.ndarray  # (R,) int64 index into ids
    time: np.ndarray  # (R,) float64: the data's unit, or seconds for timestamps
    variable: np.ndarray  # (R,) object: variable names
    value: np.ndarray  # (R,) float64
    time_kind: str
    list_input: bool


def check_columns(names: dict) -> None:
    for role, name in names.items():
        if not isinstance(name, str) and not np.isscalar(name):
            raise TypeError(f"{role} must be a column name, got {name!r}")
    if len(set(names.values())) != len(names):
        raise ValueError(f"id_col, time_col, variable_col and value_col must name four different columns, "
                         f"got {names}")


def read_observations(X, id_col, time_col, variable_col, value_col, time_kind=None) -> Observations:
    """Validate ``X`` (a long DataFrame, or a list of per-subject DataFrames without the id column)."""
    names = dict(id_col=id_col, time_col=time_col, variable_col=variable_col, value_col=value_col)
    check_columns(names)
    list_input = isinstance(X, (list, tuple))
    if list_input:
        if not X:
            raise ValueError("X is an empty list: pass one DataFrame per subject")
        frames = []
        for k, part in enumerate(X):
            if not isinstance(part, pd.DataFrame):
                raise TypeError(f"X[{k}] must be a pandas DataFrame (one subject), got {type(part).__name__}")
            if len(part) == 0:
                raise ValueError(f"subject {k} (X[{k}]) has no observations")
            frames.append(part.assign(**{id_col: k}) if id_col not in part.columns else part)
        df = pd.concat(frames, ignore_index=True)
    elif isinstance(X, pd.DataFrame):
        df = X
    else:
        raise TypeError(f"X must be a long-format DataFrame or a list of DataFrames, got {type(X).__name__}")
    missing = [c for c in (id_col, time_col, variable_col, value_col) if c not in df.columns]
    if missing:
        raise ValueError(f"X lacks column(s) {missing}; it has {list(df.columns)} (set id_col, time_col, "
                         "variable_col, value_col to name yours)")
    if len(df) == 0:
        raise ValueError("X has no rows")
    value = df[value_col]
    if not (pd.api.types.is_numeric_dtype(value) and not pd.api.types.is_bool_dtype(value)):
        bad = pd.to_numeric(value, errors="coerce").isna() & value.notna()
        example = value[bad].iloc[0] if bad.any() else value.iloc[0]
        raise TypeError(f"column {value_col!r} must be numeric, got dtype {value.dtype} (e.g. {example!r})")
    if df[id_col].isna().any():
        raise ValueError(f"column {id_col!r} has missing subject ids")
    if df[variable_col].isna().any():
        raise ValueError(f"column {variable_col!r} has missing variable names")
    time, kind = _times(df[time_col], time_col)
    if time_kind is not None and kind != time_kind:
        raise TypeError(f"column {time_col!r} holds {kind} times but the model was fitted on {time_kind} times")
    ids_raw = df[id_col].to_numpy()
    vals = value.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(vals).any():
        k = int(np.flatnonzero(np.isinf(vals))[0])
        raise ValueError(f"column {value_col!r} has an infinite value (subject {ids_raw[k]!r}, variable "
                         f"{df[variable_col].iloc[k]!r})")
    # Each variable's times must not go backwards within a subject, in the order the rows were given
    # (rows may be grouped by time or by variable).
    codes, uniques = pd.factorize(ids_raw, sort=not list_input)
    var_codes, var_names = pd.factorize(df[variable_col].astype(str).to_numpy())
    order = np.lexsort((var_codes, codes))  # stable: row order kept within (subject, variable)
    t_sorted, c_sorted, v_sorted = time[order], codes[order], var_codes[order]
    back = (np.diff(t_sorted) < 0) & (c_sorted[1:] == c_sorted[:-1]) & (v_sorted[1:] == v_sorted[:-1])
    if back.any():
        k = int(np.flatnonzero(back)[0])
        who = uniques[c_sorted[k]]
        raise ValueError(f"times are not increasing within subject {_label(who, list_input)}, variable "
                         f"{var_names[v_sorted[k]]!r}: {_show(t_sorted[k], kind)} is followed by "
                         f"{_show(t_sorted[k + 1], kind)}; sort each subject's rows by time")
    frame = pd.DataFrame({"s": codes, "t": time, "v": df[variable_col].astype(str).to_numpy(), "x": vals})
    frame = frame[~np.isnan(vals)]
    present = np.zeros(len(uniques), dtype=bool)
    present[frame["s"].to_numpy()] = True
    if not present.all():
        who = uniques[int(np.flatnonzero(~present)[0])]
        raise ValueError(f"subject {_label(who, list_input)} has no observations (every value is NaN)")
    # Several values of one variable at one time: their mean.
    frame = frame.groupby(["s", "t", "v"], sort=True, observed=True)["x"].mean().reset_index()
    return Observations(ids=[_plain(u) for u in uniques], subject=frame["s"].to_numpy(np.int64),
                        time=frame["t"].to_numpy(),
                        variable=frame["v"].to_numpy(object), value=frame["x"].to_numpy(), time_kind=kind,
                        list_input=list_input)


def _times(col: pd.Series, name: str):
    if pd.api.types.is_datetime64_any_dtype(col):
        t = pd.DatetimeIndex(col)
        if t.tz is not None:
            t = t.tz_convert("UTC").tz_localize(None)
        if t.hasnans:
            raise ValueError(f"column {name!r} has missing times (NaT)")
        return t.as_unit("ns").asi8.astype(np.float64) / 1e9, "datetime"
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        t = col.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(t).all():
            raise ValueError(f"column {name!r} has missing or infinite times")
        return t, "numeric"
    raise TypeError(f"column {name!r} must hold numbers (any unit) or timestamps (datetime64), got dtype {col.dtype}")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _show(t, kind):
    return str(pd.Timestamp(t * 1e9)) if kind == "datetime" else f"{t:g}"


def _label(uid, list_input):
    return f"{uid} (X[{uid}])" if list_input else repr(uid)


def align_labels(y, ids: list, list_input: bool) -> np.ndarray:
    """Labels in the order of ``ids``: ``y`` indexed by id (a Series or dict), or a sequence
    aligned with the subjects (the sorted unique ids, or the list order)."""
    if y is None:
        raise ValueError("y is required: one label per subject")
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one column of labels, got a DataFrame with columns {list(y.columns)}")
        y = y.iloc[:, 0]
    if isinstance(y, dict):
        y = pd.Series(y)
    # A Series is read by its index, unless that is a plain 0..n-1 range that is not the ids.
    if isinstance(y, pd.Series) and (not isinstance(y.index, pd.RangeIndex) or set(y.index) == set(ids)):
        if not y.index.is_unique:
            dup = y.index[y.index.duplicated()][0]
            raise ValueError(f"y has several labels for subject {dup!r}")
        index, known = set(y.index), set(ids)
        absent = [u for u in y.index if u not in known]
        if absent:
            raise ValueError(f"y has labels for {len(absent)} subject(s) missing from X, e.g. {absent[0]!r}")
        unlabelled = [u for u in ids if u not in index]
        if unlabelled:
            raise ValueError(f"X has {len(unlabelled)} subject(s) without a label in y, e.g. {unlabelled[0]!r}")
        labels = y.reindex(ids).to_numpy()
    else:
        labels = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
        if labels.ndim != 1:
            raise ValueError(f"y must be one label per subject (1-D), got shape {labels.shape}")
        if len(labels) != len(ids):
            raise ValueError(f"y has {len(labels)} labels but X has {len(ids)} subjects; pass y as a Series "
                             "indexed by subject id, or one label per subject in sorted id order")
    if pd.isna(labels).any():
        k = int(np.flatnonzero(pd.isna(labels))[0])
        raise ValueError(f"y has a missing (NaN) label for subject {ids[k]!r}")
    return labels
