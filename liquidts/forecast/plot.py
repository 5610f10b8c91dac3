"""Plot a forecast: recent history, the forecast, its interval and, if known, what happened."""

from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure

from liquidts.forecast.base import quantile_column


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, target: str, interval=(0.1, 0.9),
                  actual: pd.DataFrame | None = None, last: int | None = 120, ax=None, title=None,
                  backtest: pd.DataFrame | None = None, ylabel: str | None = None):
    """Draw ``target`` of a wide ``history`` and ``forecast`` (from ``predict``) on ``ax``.

    ``interval``: the quantile columns to shade, when the forecast has them. ``actual``: what
    happened over the forecast's or the backtest's steps, drawn dashed. ``backtest``: a forecast
    (``predict``'s columns) of steps inside ``history``, drawn beside what happened there.
    ``last``: how many history rows to show; ``ylabel``: the value axis (default ``target``;
    give the units). The legend sits right of the axes, never over the data. Returns the
    matplotlib Axes (a new headless Figure's when ``ax`` is None; save it with
    ``ax.figure.savefig(path)``).
    """
    if ax is None:
        ax = Figure(figsize=(11, 4), layout="constrained").add_subplot()
    past = history[target] if last is None else history[target].iloc[-last:]
    ax.plot(past.index, past.to_numpy(), color="0.3", lw=1.2, label="history")
    lo, hi = (quantile_column(target, q) for q in interval)
    band = f"{interval[0]:g}-{interval[1]:g} quantile interval"
    if backtest is not None:
        if lo in backtest and hi in backtest:
            ax.fill_between(backtest.index, backtest[lo], backtest[hi], color="tab:orange", alpha=0.2,
                            label=f"backtest {band}")
        ax.plot(backtest.index, backtest[target].to_numpy(), color="tab:orange", lw=2, label="backtest forecast")
    if lo in forecast and hi in forecast:
        ax.fill_between(forecast.index, forecast[lo], forecast[hi], color="tab:blue", alpha=0.25, label=band)
    if actual is not None:
        ax.plot(actual.index, actual[target].to_numpy(), color="k", lw=1.2, ls="--", label="actual")
    ax.plot(forecast.index, forecast[target].to_numpy(), color="tab:blue", lw=2, label="forecast")
    ax.axvline(history.index[-1], color="0.6", lw=0.8)
    if isinstance(history.index, pd.DatetimeIndex):
        # Concise dates (month ticks with the year once) stay legible however narrow the axes.
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel(ylabel or target)
    ax.set_title(title or f"{target}: {len(forecast)}-step forecast")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return ax
