"""Plot a forecast: recent history, the forecast, its interval and, if known, what happened."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from liquidts.forecast.base import quantile_column


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, target: str, interval=(0.1, 0.9),
                  actual: pd.DataFrame | None = None, last: int | None = 120, ax=None, title=None):
    """Draw ``target`` of a wide ``history`` and ``forecast`` (from ``predict``) on ``ax``.

    ``interval``: the quantile columns to shade, when the forecast has them. ``last``: how
    many history rows to show. Returns the matplotlib Axes (a new headless Figure's when
    ``ax`` is None; save it with ``ax.figure.savefig(path)``).
    """
    if ax is None:
        ax = Figure(figsize=(10, 4), layout="constrained").add_subplot()
    past = history[target] if last is None else history[target].iloc[-last:]
    ax.plot(past.index, past.to_numpy(), color="0.3", lw=1.2, label="history")
    lo, hi = (quantile_column(target, q) for q in interval)
    if lo in forecast and hi in forecast:
        ax.fill_between(forecast.index, forecast[lo], forecast[hi], color="tab:blue", alpha=0.25,
                        label=f"{interval[0]:g}-{interval[1]:g} quantile interval")
    if actual is not None:
        ax.plot(actual.index, actual[target].to_numpy(), color="k", lw=1.2, ls="--", label="actual")
    ax.plot(forecast.index, forecast[target].to_numpy(), color="tab:blue", lw=2, label="forecast")
    ax.axvline(past.index[-1], color="0.6", lw=0.8)
    ax.set_ylabel(target)
    ax.set_title(title or f"{target}: {len(forecast)}-step forecast")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return ax
