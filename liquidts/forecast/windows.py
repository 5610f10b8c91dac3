"""pandas <-> tensors: time steps, calendar features, per-series scaling and training windows.

Windows are not copied out of the series: every series' per-row arrays are stacked once
(:class:`Rows`), a window is the row index of its last observed step (its *cutoff*), and a
batch is gathered from the cutoffs on demand (:meth:`Rows.gather`). So a data set of many
long series costs its own size in memory, not ``lookback`` times it.

Letters: N rows, C columns (targets then covariates), L lookback, H horizon, K calendar
features, Kf features known ahead (calendar, then future covariates), T targets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

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


def calendar_names(step: int, span: int) -> list[str]:
    """Calendar cycles worth learning for data of this step covering ``span`` nanoseconds: those
    that vary within the step (hour of day below a day, ...) and that the data repeats at least
    twice, since a cycle seen once cannot be told apart from a trend (a year of hourly data has
    hour of day and day of week, not day of year)."""
    names = []
    for name, period in _PERIODS.items():
        if step < period and span >= 2 * period:
            names.append(name)
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


class Batch(NamedTuple):
    """A batch of windows as the forecasting network reads them (float32 tensors)."""

    values: torch.Tensor  # (B, L, C) scaled targets then covariates, NaN where missing
    timespans: torch.Tensor  # (B, L) elapsed time before each step, in base steps
    calendar: torch.Tensor  # (B, L, K)
    future: torch.Tensor  # (B, H, Kf) known ahead at the forecast steps
    target: torch.Tensor | None  # (B, H, T) scaled, NaN where missing; None when forecasting

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in self))


class Rows:
    """All series' per-row arrays stacked, from which windows are gathered by cutoff row.

    ``values`` (N, C) are scaled by each series' scaler, ``future`` (N, Kf) holds what is known
    ahead at each row (calendar, future covariates): a window's future block is the Kf rows after
    its cutoff.
    """

    def __init__(self, values, timespans, calendar, future, n_targets: int):
        self.values = torch.as_tensor(values, dtype=torch.float32)
        self.timespans = torch.as_tensor(timespans, dtype=torch.float32)
        self.calendar = torch.as_tensor(calendar, dtype=torch.float32)
        self.future = torch.as_tensor(future, dtype=torch.float32)
        self.n_targets = n_targets

    def gather(self, cutoffs, lookback: int, horizon: int, with_target: bool = True) -> Batch:
        """Windows whose last observed row is ``cutoffs`` (B,) (indices into the stacked rows)."""
        cut = torch.as_tensor(cutoffs, dtype=torch.long)[:, None]
        past = cut + torch.arange(1 - lookback, 1)  # (B, L)
        ahead = cut + torch.arange(1, horizon + 1)  # (B, H)
        target = self.values[ahead, : self.n_targets] if with_target else None
        return Batch(self.values[past], self.timespans[past], self.calendar[past], self.future[ahead], target)


def stack_rows(parts: list, n_targets: int) -> tuple[Rows, list[int]]:
    """Stack per-series ``(values, timespans, calendar, future)`` arrays; also return each
    series' first row in the stack."""
    starts = np.cumsum([0] + [len(p[0]) for p in parts])[:-1].tolist()
    return Rows(*(np.concatenate(col) for col in zip(*parts)), n_targets=n_targets), starts
