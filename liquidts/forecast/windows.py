"""pandas <-> tensors: time steps, calendar features, per-series scaling and training windows.

Windows are not copied out of the series: every series' per-row arrays are stacked once
(:class:`Rows`), a window is the row index of its last observed step (its *cutoff*), and a
batch is gathered from the cutoffs on demand (:meth:`Rows.gather`). So a data set of many
long series costs its own size in memory, not ``lookback`` times it.

Letters: N rows, C columns (targets then covariates), L lookback, H horizon, K calendar
features, Kf features known ahead (calendar, then future covariates), T targets.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from liquidts.forecast.validate import Panel

# torch is imported where tensors are made (Rows), so that the pandas helpers here, which
# BaseForecaster uses, start without it (start-up time).
if TYPE_CHECKING:
    import torch

NS_PER_DAY = 86_400 * 10**9
#: Each calendar cycle's period in nanoseconds.
CALENDAR_PERIODS = {"hour": NS_PER_DAY, "dow": 7 * NS_PER_DAY, "doy": int(365.25 * NS_PER_DAY)}


def infer_step(panel: Panel) -> tuple[int, str | None]:
    """The base time step (the median gap: nanoseconds on a datetime axis, the axis' own units on
    an integer axis) and the pandas frequency if one fits (datetime axes only, read in the data's
    time zone so a daily series stays daily across a DST change)."""
    gaps = np.concatenate([np.diff(s.times) for s in panel.series])
    if gaps.size == 0:
        raise ValueError("each series needs at least two timestamps to infer its time step")
    step = max(int(np.median(gaps)), 1)
    freq = None
    longest = max(panel.series, key=lambda s: len(s.times))
    if panel.time_kind == "datetime" and len(longest.times) >= 3:
        freq = _infer_freq(to_index(longest.times, "datetime", panel.tz))
    return step, freq


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    """pd.infer_freq as a frequency string, on pandas versions before and after it returns offsets."""
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            found = pd.infer_freq(index)
    except (KeyError, pd.errors.OptionError):  # older pandas: no such option, returns a string
        return pd.infer_freq(index)
    return None if found is None else found.freqstr


def to_index(times: np.ndarray, kind: str = "datetime", tz=None, name=None) -> pd.Index:
    """Internal times (N,) -> the index a user sees: a DatetimeIndex (in ``tz`` when the data had
    one) or, on an integer axis, an integer Index."""
    if kind == "int":
        return pd.Index(np.asarray(times, dtype=np.int64), name=name)
    index = pd.DatetimeIndex(np.asarray(times, dtype=np.int64).view("datetime64[ns]"), name=name)
    return index.tz_localize("UTC").tz_convert(tz) if tz is not None else index


def index_values(index: pd.Index) -> np.ndarray:
    """The inverse of :func:`to_index`: UTC nanoseconds of a DatetimeIndex, or the integers."""
    if isinstance(index, pd.DatetimeIndex):
        return index.as_unit("ns").asi8
    return index.to_numpy(dtype=np.int64)


def future_times(last: int, step: int, freq: str | None, h: int, kind: str = "datetime",
                 tz=None) -> pd.Index:
    """The h times after ``last``: on an integer axis ``last + step * k``; on a datetime axis the
    inferred frequency in the data's time zone (kept on the index), else fixed steps of the
    median gap."""
    ahead = np.arange(1, h + 1, dtype=np.int64)
    if kind == "int" or freq is None:
        if last + step * float(h) >= 2.0**63:
            raise ValueError(f"the {h} steps after {last} overflow the time axis (int64); "
                             "shift it to start near 0")
        return to_index(last + step * ahead, kind, tz)
    start = pd.Timestamp(last, unit="ns", tz="UTC")
    if tz is not None:
        start = start.tz_convert(tz)
    else:
        start = start.tz_localize(None)
    return pd.date_range(start, periods=h + 1, freq=freq, unit="ns")[1:]


def calendar_names(step: int, span: int, kind: str = "datetime") -> list[str]:
    """Calendar cycles worth learning for data of this step covering ``span`` nanoseconds: those
    that vary within the step (hour of day below a day, ...) and that the data repeats at least
    twice, since a cycle seen once cannot be told apart from a trend (a year of hourly data has
    hour of day and day of week, not day of year). None on an integer axis: its steps have no
    calendar."""
    if kind != "datetime":
        return []
    names = []
    for name, period in CALENDAR_PERIODS.items():
        if step < period and span >= 2 * period:
            names.append(name)
    return names


def local_times(times: np.ndarray, tz=None) -> np.ndarray:
    """UTC nanoseconds -> wall-clock nanoseconds in ``tz`` (DST included), so calendar phases
    follow local time: an office opens at 9:00 local time in winter and in summer."""
    if tz is None:
        return times
    index = to_index(times, "datetime", tz)
    return index.tz_localize(None).as_unit("ns").asi8


def calendar_features(times: np.ndarray, names: list[str], tz=None) -> np.ndarray:
    """sin/cos of each cycle's phase at ``times`` (N,) (UTC nanoseconds, read as wall-clock time
    in ``tz``) -> (N, 2 * len(names))."""
    if names:
        times = local_times(np.asarray(times, dtype=np.int64), tz)
    cols = []
    for name in names:
        if name == "dow":
            # 1970-01-01 was a Thursday: shift so the phase starts on Monday.
            phase = ((times + 3 * NS_PER_DAY) % CALENDAR_PERIODS["dow"]) / CALENDAR_PERIODS["dow"]
        else:
            phase = (times % CALENDAR_PERIODS[name]) / CALENDAR_PERIODS[name]
        cols += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    if not cols:
        return np.zeros((len(times), 0))
    return np.stack(cols, axis=1)


def fit_scaler(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of one series (N, C), ignoring NaN, computed so nothing overflows
    (each column is divided by its largest magnitude first). A column whose std is negligible next
    to its magnitude (a constant, up to rounding) is scaled by that magnitude instead, so a series
    is scaled in its own units however small or large they are (a sine of amplitude 1e-30 is
    scaled by its std, not by 1). An all-zero or all-missing column is scaled by 1."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        size = np.nanmax(np.abs(values), axis=0) if len(values) else np.full(values.shape[1:], np.nan)
        size = np.where(np.isfinite(size) & (size > 0), size, 1.0)
        mean = np.nanmean(values / size, axis=0) * size
        std = np.nanstd(values / size, axis=0) * size
    mean = np.where(np.isfinite(mean), mean, 0.0)
    constant = ~np.isfinite(std) | (std <= 1e-12 * size)
    std = np.where(constant, size, std)
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
        import torch

        self.values = torch.as_tensor(values, dtype=torch.float32)
        self.timespans = torch.as_tensor(timespans, dtype=torch.float32)
        self.calendar = torch.as_tensor(calendar, dtype=torch.float32)
        self.future = torch.as_tensor(future, dtype=torch.float32)
        self.n_targets = n_targets

    def gather(self, cutoffs, lookback: int, horizon: int, with_target: bool = True) -> Batch:
        """Windows whose last observed row is ``cutoffs`` (B,) (indices into the stacked rows)."""
        import torch

        cut = torch.as_tensor(cutoffs, dtype=torch.long)[:, None]
        past = cut + torch.arange(1 - lookback, 1)  # (B, L)
        ahead = cut + torch.arange(1, horizon + 1)  # (B, H)
        target = self.values[ahead, : self.n_targets] if with_target else None
        return Batch(self.values[past], self.timespans[past], self.calendar[past], self.future[ahead], target)

    def batches(self, cutoffs, lookback: int, horizon: int, size: int, with_target: bool = True):
        """:meth:`gather` of ``size`` windows at a time, in the order of ``cutoffs``."""
        for start in range(0, len(cutoffs), size):
            yield self.gather(cutoffs[start: start + size], lookback, horizon, with_target)


def stack_rows(parts: list, n_targets: int) -> tuple[Rows, list[int]]:
    """Stack per-series ``(values, timespans, calendar, future)`` arrays; also return each
    series' first row in the stack."""
    starts = np.cumsum([0] + [len(p[0]) for p in parts])[:-1].tolist()
    return Rows(*(np.concatenate(col) for col in zip(*parts)), n_targets=n_targets), starts
