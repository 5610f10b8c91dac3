"""Forecasting tasks of the benchmark suites: a frame, where fitting ends, the test origins.

Every task is scored the same way: a model is fitted on ``frame.iloc[:fit_end]`` (its early
stopping watches the last ``validation_fraction`` of those windows) and forecasts ``horizon``
steps from every origin ``test_start .. len(test rows) - horizon``, reading only rows before
the origin. Errors are over every origin (none dropped), in the units the task names.

Data come from ``--data-home`` (``../shared/data`` in this repository) and from packages that
ship data (``vega_datasets``, ``heartpy``); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liquidts.datasets import ETT_SPLITS, load_ett, load_seattle_weather

# Published lookback-96 figures (MSE, MAE) from one source table: iTransformer (Liu et al., ICLR
# 2024), Table 10, full results; TimeMixer (ICLR 2024, Table 13) (ETTh1 and Weather as in
# ../shared/NOTES.md; ETTh2 and ETTm as later papers' tables repeat them). Normalised scale,
# standard splits.
PUBLISHED = {
    "ETTh1": {"DLinear": [(0.386, 0.400), (0.437, 0.432), (0.481, 0.459), (0.519, 0.516)],
              "PatchTST": [(0.414, 0.419), (0.460, 0.445), (0.501, 0.466), (0.500, 0.488)],
              "iTransformer": [(0.386, 0.405), (0.441, 0.436), (0.487, 0.458), (0.503, 0.491)],
              "TimeMixer": [(0.375, 0.400), (0.429, 0.421), (0.484, 0.458), (0.498, 0.482)]},
    "ETTh2": {"DLinear": [(0.333, 0.387), (0.477, 0.476), (0.594, 0.541), (0.831, 0.657)],
              "PatchTST": [(0.302, 0.348), (0.388, 0.400), (0.426, 0.433), (0.431, 0.446)],
              "iTransformer": [(0.297, 0.349), (0.380, 0.400), (0.428, 0.432), (0.427, 0.445)],
              "TimeMixer": [(0.289, 0.341), (0.372, 0.392), (0.386, 0.414), (0.412, 0.434)]},
    "ETTm1": {"DLinear": [(0.345, 0.372), (0.380, 0.389), (0.413, 0.413), (0.474, 0.453)],
              "PatchTST": [(0.329, 0.367), (0.367, 0.385), (0.399, 0.410), (0.454, 0.439)],
              "iTransformer": [(0.334, 0.368), (0.377, 0.391), (0.426, 0.420), (0.491, 0.459)],
              "TimeMixer": [(0.320, 0.357), (0.361, 0.381), (0.390, 0.404), (0.454, 0.441)]},
    "ETTm2": {"DLinear": [(0.193, 0.292), (0.284, 0.362), (0.369, 0.427), (0.554, 0.522)],
              "PatchTST": [(0.175, 0.259), (0.241, 0.302), (0.305, 0.343), (0.402, 0.400)],
              "iTransformer": [(0.180, 0.264), (0.250, 0.309), (0.311, 0.348), (0.412, 0.407)],
              "TimeMixer": [(0.175, 0.258), (0.237, 0.299), (0.298, 0.340), (0.391, 0.396)]},
    "weather": {"DLinear": [(0.196, 0.255), (0.237, 0.296), (0.283, 0.335), (0.345, 0.381)],
                "PatchTST": [(0.177, 0.218), (0.225, 0.259), (0.278, 0.297), (0.354, 0.348)],
                "iTransformer": [(0.174, 0.214), (0.221, 0.254), (0.278, 0.296), (0.358, 0.347)],
                "TimeMixer": [(0.163, 0.209), (0.208, 0.250), (0.251, 0.287), (0.339, 0.341)]},
}
HORIZONS = (96, 192, 336, 720)


@dataclass
class Task:
    """One forecasting task (see the module docstring)."""

    suite: str
    name: str
    frame: pd.DataFrame
    targets: list
    horizon: int
    fit_end: int
    test_start: int
    test_end: int
    lookback: int | None = None  # None: the forecaster's default
    validation_fraction: float = 0.1
    season_length: int = 1
    units: str = "normalised"
    published: dict = field(default_factory=dict)  # model -> (mse, mae)
    note: str = ""
    # Irregular tasks: forecasts are for the steps of ``step`` ns after each origin's last row,
    # scored against the signal ``reference`` = (times ns, values (N, T)) interpolated there.
    step: int | None = None
    reference: tuple | None = None

    def truth(self) -> np.ndarray:
        """Actual values (origins, H, T) at every test origin."""
        if self.reference is not None:
            times, values = self.reference
            last = self.frame.index.as_unit("ns").asi8[self.test_start - 1: self.test_end - self.horizon]
            at = last[:, None] + self.step * np.arange(1, self.horizon + 1)  # (origins, H)
            return np.stack([np.interp(at, times, values[:, j]) for j in range(values.shape[1])], axis=-1)
        values = self.frame[self.targets].to_numpy()[self.test_start: self.test_end]
        windows = np.lib.stride_tricks.sliding_window_view(values, self.horizon, axis=0)
        return windows.transpose(0, 2, 1)


def _protocol_validation(n_train: int, n_val: int, lookback: int, horizon: int) -> float:
    """The fraction of windows that makes early stopping watch exactly the validation split."""
    return (n_val - horizon + 1) / (n_train + n_val - lookback - horizon + 1)


def _ltsf(suite: str, name: str, raw: pd.DataFrame, splits, horizon: int, published: dict,
          note: str = "", lookback: int = 96) -> Task:
    """The standard long-horizon protocol: z-scored with the training rows' statistics, fitted
    on train + validation rows (early stopping on the validation split), tested on every
    window of the test split, each reading its lookback from the rows before it."""
    n_train, n_val, n_test = splits
    mean, std = raw.iloc[:n_train].mean(), raw.iloc[:n_train].std(ddof=0)
    frame = (raw - mean) / std
    k = HORIZONS.index(horizon) if horizon in HORIZONS else None
    return Task(suite, f"{name}-{horizon}", frame, list(frame.columns), horizon,
                fit_end=n_train + n_val, test_start=n_train + n_val, test_end=n_train + n_val + n_test,
                lookback=lookback, validation_fraction=_protocol_validation(n_train, n_val, lookback, horizon),
                season_length=24 if name.startswith("ETTh") else 96 if name.startswith("ETTm") else 144,
                published={m: v[k] for m, v in published.items()} if k is not None else {}, note=note)


def ett_tasks(data_home, horizons=HORIZONS, names=("ETTh1", "ETTh2", "ETTm1", "ETTm2"), rows=None) -> list:
    tasks = []
    for name in names:
        raw = load_ett(name, data_home=data_home)
        splits = ETT_SPLITS[name]
        if rows is not None:  # --quick: the same protocol on the first rows, splits scaled down
            raw = raw.iloc[:rows]
            splits = tuple(int(rows * f) for f in (0.6, 0.2, 0.2))
        for h in horizons:
            tasks.append(_ltsf("ett", name, raw, splits, h, PUBLISHED.get(name, {}) if rows is None else {}))
    return tasks


def load_weather_as_published(data_home) -> pd.DataFrame:
    """The Weather benchmark as the published figures used it: every row as distributed, the
    -9999 sentinels kept as values and the one duplicated timestamp kept as a row. Rows are
    re-indexed every 10 minutes (the protocol is row-based), so the frame is a valid series."""
    path = Path(data_home) / "weather" / "weather.csv"
    raw = pd.read_csv(path, encoding="latin-1").drop(columns="date")
    raw.index = pd.date_range("2020-01-01 00:10", periods=len(raw), freq="10min", name="date")
    return raw


def weather_tasks(data_home, horizons=HORIZONS, rows=None, cleaned=False) -> list:
    """Jena Weather, split 7:1:2 by rows. ``cleaned``: sentinels as missing values (carried
    forward for the protocol's scaling) instead of as published."""
    raw = load_weather_as_published(data_home)
    note = "rows as published (-9999 sentinels kept)"
    if cleaned:
        raw = raw.replace(-9999.0, np.nan).ffill()
        note = "-9999 sentinels replaced by the previous value"
    if rows is not None:
        raw = raw.iloc[:rows]
    n = len(raw)
    n_train, n_test = int(n * 0.7), int(n * 0.2)
    splits = (n_train, n - n_train - n_test, n_test)
    name = "weather-clean" if cleaned else "weather"
    return [_ltsf("weather", name, raw, splits, h, PUBLISHED["weather"] if rows is None and not cleaned else {},
                  note) for h in horizons]


def seattle_task(holdout: int = 180, horizon: int = 7) -> Task:
    """Daily Seattle weather (vega_datasets): temp_max with precipitation, temp_min and wind as
    covariates; fitted on all but the last ``holdout`` days, a forecast from each of them, MAE in
    degrees Celsius."""
    frame = load_seattle_weather().drop(columns="weather")
    first = len(frame) - holdout
    return Task("seattle", f"seattle-{horizon}", frame, ["temp_max"], horizon, fit_end=first, test_start=first,
                test_end=len(frame), season_length=365, units="degC")


def physio_task(data_home, horizon: int = 200, rows=None) -> Task:
    """ECG, PPG and respiration of a resting subject at 100 Hz (NeuroKit2 example data): split
    7:1:2 by rows, z-scored with the training rows, ``horizon`` samples ahead (200 = 2 s)."""
    raw = pd.read_csv(Path(data_home) / "physio" / "bio_resting_5min_100hz.csv")
    raw.index = pd.date_range("2020-01-01", periods=len(raw), freq="10ms", name="time")
    if rows is not None:
        raw = raw.iloc[:rows]
    n = len(raw)
    n_train, n_test = int(n * 0.7), int(n * 0.2)
    n_val = n - n_train - n_test
    mean, std = raw.iloc[:n_train].mean(), raw.iloc[:n_train].std(ddof=0)
    frame = (raw - mean) / std
    lookback = max(96, 2 * horizon)  # the forecaster's default
    return Task("medical", f"physio-{horizon}", frame, list(frame.columns), horizon,
                fit_end=n_train + n_val, test_start=n_train + n_val, test_end=n, lookback=lookback,
                validation_fraction=_protocol_validation(n_train, n_val, lookback, horizon), season_length=100,
                note="ECG, PPG, respiration at 100 Hz; horizon in samples")


def _heartpy_file(name: str) -> Path:
    """A data file shipped with heartpy, found without importing it (its import needs setuptools)."""
    import importlib.util

    spec = importlib.util.find_spec("heartpy")
    if spec is None:
        raise ImportError("the PPG tasks read heartpy's example data: pip install 'liquidts[data]'")
    return Path(spec.submodule_search_locations[0]) / "data" / name


def ppg_tasks(horizon: int = 96, rows=None) -> list:
    """heartpy's 11-minute PPG (data3.csv) with its real clock: samples were taken at about
    100 Hz but stamped by a clock that ticks every 15-16 ms, so a third of the stamps repeat and
    the rest are 15, 16 or 31 ms apart. Samples sharing a stamp are averaged (one value per
    tick), then the same signal is forecast twice: with its irregular stamps, the elapsed time
    between rows going to the model, and resampled to a 16 ms grid by linear interpolation.
    Both are scored at the same kind of targets, the signal interpolated at 16 ms steps after
    each origin, ``horizon`` steps ahead (96 = 1.5 s); z-scored with the training rows."""
    raw = pd.read_csv(_heartpy_file("data3.csv"))
    times = pd.to_datetime(raw["datetime"], format="ISO8601")
    signal = raw.groupby(times)["hr"].mean().astype(float)
    if rows is not None:
        signal = signal.iloc[:rows]
    step = 16 * 10**6
    t_ns = signal.index.as_unit("ns").asi8
    grid = np.arange(t_ns[0], t_ns[-1] + 1, step)
    tasks = []
    for kind, index, values in (
            ("irregular", signal.index.rename("time"), signal.to_numpy()),
            ("grid", pd.DatetimeIndex(grid, name="time"), np.interp(grid, t_ns, signal.to_numpy()))):
        n = len(values)
        n_train, n_test = int(n * 0.7), int(n * 0.2)
        n_val = n - n_train - n_test
        mean, std = values[:n_train].mean(), values[:n_train].std()
        frame = pd.DataFrame({"ppg": (values - mean) / std}, index=index)
        reference = (t_ns, ((signal.to_numpy() - mean) / std)[:, None])
        lookback = max(96, 2 * horizon)
        tasks.append(Task("medical", f"ppg-{kind}-{horizon}", frame, ["ppg"], horizon, fit_end=n_train + n_val,
                          test_start=n_train + n_val, test_end=n, lookback=lookback,
                          validation_fraction=_protocol_validation(n_train, n_val, lookback, horizon),
                          season_length=60, step=step, reference=reference,
                          note=f"PPG, {kind} time axis; targets every 16 ms after the origin"))
    return tasks


def ppg_15k_task(horizon: int = 50, rows=None) -> Task:
    """heartpy's second PPG (data2.csv): 15,000 samples stamped every 8.55 ms (117 Hz), with
    the sensor's dropouts (zeros) left in; ``horizon`` samples ahead, split 7:1:2, z-scored with
    the training rows. The size the speed bar names: a 15,000-sample signal, horizon 50."""
    raw = pd.read_csv(_heartpy_file("data2.csv"))
    index = pd.DatetimeIndex(pd.Timestamp("2020-01-01") + pd.to_timedelta(raw["timer"], unit="ms"), name="time")
    values = raw["hr"].to_numpy(dtype=float)
    if rows is not None:
        values, index = values[:rows], index[:rows]
    n = len(values)
    n_train, n_test = int(n * 0.7), int(n * 0.2)
    n_val = n - n_train - n_test
    mean, std = values[:n_train].mean(), values[:n_train].std()
    frame = pd.DataFrame({"ppg": (values - mean) / std}, index=index)
    lookback = max(96, 2 * horizon)
    return Task("medical", f"ppg-15k-{horizon}", frame, ["ppg"], horizon, fit_end=n_train + n_val,
                test_start=n_train + n_val, test_end=n, lookback=lookback,
                validation_fraction=_protocol_validation(n_train, n_val, lookback, horizon), season_length=100,
                note="PPG, 15,000 samples at 117 Hz")


SUITES = {
    "ett": lambda home, quick: ett_tasks(home, horizons=(96,) if quick else HORIZONS,
                                          names=("ETTh1",) if quick else ("ETTh1", "ETTh2", "ETTm1", "ETTm2"),
                                          rows=2400 if quick else None),
    "weather": lambda home, quick: weather_tasks(home, horizons=(96,) if quick else HORIZONS,
                                                 rows=3000 if quick else None),
    "seattle": lambda home, quick: [seattle_task()],
    "medical": lambda home, quick: [physio_task(home, horizon=50 if quick else 200, rows=3000 if quick else None),
                                    *ppg_tasks(horizon=50 if quick else 96, rows=3000 if quick else None),
                                    ppg_15k_task(rows=3000 if quick else None)],
}
