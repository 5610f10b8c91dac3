"""pandas <-> tensors: time steps, calendar features, per-series scaling and training windows.

Letters: N rows of one series, C columns (targets then covariates), L lookback, H horizon,
K calendar features, T targets, F input features per step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liquidts.forecast.validate import Panel

NS_PER_DAY = 86_400 * 10**9
_PERIODS = {"hour": NS_PER_DAY, "dow": 7 * NS_PER_DAY, "doy": int(365.25 * NS_PER_DAY)}


def infer_step(panel: Panel) -> tuple[int, str | None]:
    """The base time step in nanoseconds (median gap) and the pandas frequency if one fits."""
    gaps = np.concatenate([np.diff(s.times) for s in panel.series])
    if gaps.size == 0:
        raise ValueError("each series needs at least two timestamps to infer its time step")
    step = int(np.median(gaps))
    freq = None
    longest = max(panel.series, key=lambda s: len(s.times))
    if len(longest.times) >= 3:
        freq = _infer_freq(pd.DatetimeIndex(longest.times))
    return step, freq


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    """pd.infer_freq as a frequency string, on pandas versions before and after it returns offsets."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            found = pd.infer_freq(index)
    except (KeyError, pd.errors.OptionError):  # older pandas: no such option, returns a string
        return pd.infer_freq(index)
    return None if found is None else found.freqstr


def future_times(last: int, step: int, freq: str | None, h: int) -> pd.DatetimeIndex:
    """The h timestamps after ``last``: the inferred frequency (kept on the index), else fixed
    steps of the median gap."""
    if freq is not None:
        return pd.date_range(pd.Timestamp(last), periods=h + 1, freq=freq, unit="ns")[1:]
    return pd.DatetimeIndex(last + step * np.arange(1, h + 1, dtype=np.int64))


def calendar_names(step: int) -> list[str]:
    """Calendar cycles that vary within a series of this step (hour of day below a day, ...)."""
    names = []
    if step < NS_PER_DAY:
        names.append("hour")
    if step < 7 * NS_PER_DAY:
        names.append("dow")
    if step < 365 * NS_PER_DAY:
        names.append("doy")
    return names


def calendar_features(times: np.ndarray, names: list[str]) -> np.ndarray:
    """sin/cos of each cycle's phase at ``times`` (N,) -> (N, 2 * len(names))."""
    cols = []
    for name in names:
        if name == "dow":
            # 1970-01-01 was a Thursday: shift so the phase starts on Monday.
            phase = ((times + 3 * NS_PER_DAY) % _PERIODS["dow"]) / _PERIODS["dow"]
        else:
            phase = (times % _PERIODS[name]) / _PERIODS[name]
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    if not cols:
        return np.zeros((len(times), 0))
    return np.stack(cols, axis=1)


def fit_scaler(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of one series (N, C), ignoring NaN; constant columns get std 1."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
    return mean, std


def elapsed(times: np.ndarray, step: int) -> np.ndarray:
    """Time since the previous observation in base steps (N,); the first row counts as one step."""
    dt = np.ones(len(times))
    dt[1:] = np.diff(times) / step
    return dt


def step_inputs(times, values, mean, std, step, cal_names):
    """Per-row model inputs (N, F) = [scaled values (NaN -> 0), observed mask, calendar] and dt (N,)."""
    scaled = (values - mean) / std  # (N, C)
    observed = ~np.isnan(scaled)
    inputs = np.concatenate(
        [np.where(observed, scaled, 0.0), observed.astype(np.float64), calendar_features(times, cal_names)],
        axis=1,
    )
    return inputs, elapsed(times, step)


def future_inputs(times, futr_values, futr_mean, futr_std, cal_names):
    """Inputs known ahead for each future step (H, K + future covariates)."""
    parts = [calendar_features(times, cal_names)]
    if futr_values is not None and futr_values.shape[1]:
        parts.append((futr_values - futr_mean) / futr_std)
    return np.concatenate(parts, axis=1)


def make_windows(inputs, dt, future, targets_scaled, lookback, horizon, cutoffs):
    """Stack training windows ending at ``cutoffs`` (row index of the last observed step).

    Returns x (n, L, F), timespans (n, L), future (n, H, Kf), y (n, H, T) with NaN for missing.
    """
    past = np.arange(-lookback + 1, 1)
    ahead = np.arange(1, horizon + 1)
    rows_past = cutoffs[:, None] + past  # (n, L)
    rows_ahead = cutoffs[:, None] + ahead  # (n, H)
    return inputs[rows_past], dt[rows_past], future[rows_ahead], targets_scaled[rows_ahead]
