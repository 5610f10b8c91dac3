"""The models every forecasting suite compares, built for a task.

``liquid`` is the default LiquidForecaster (CfC core). ``linear`` is the same network with the
sequence core removed (its linear path alone): the ablation that says what the liquid core
adds. ``lstm``, ``gru``, ``mamba``, ``xlstm`` are the same network with the core swapped, so
the comparison isolates the cell. Then the classical references: DLinear, ridge regression on
lags (with the calendar of the forecast steps) and seasonal naive.
"""

from __future__ import annotations

from liquidts.forecast import LiquidForecaster
from liquidts.forecast.classical import DLinear, Naive, RidgeLags, SeasonalNaive

NETWORK_MODELS = {"liquid": "cfc", "linear": "linear", "lstm": "lstm", "gru": "gru", "mamba": "mamba",
                  "xlstm": "xlstm", "ltc": "ltc", "ncp": "ncp"}
DEFAULT_MODELS = ("liquid", "linear", "lstm", "gru", "mamba", "xlstm", "dlinear", "ridge", "seasonal_naive")


def build(name: str, task, seed: int, **params):
    """A fresh, unfitted model ``name`` for ``task``; ``params`` override LiquidForecaster defaults."""
    common = dict(horizon=task.horizon, target=task.targets if len(task.targets) > 1 else task.targets[0])
    if name in NETWORK_MODELS:
        kwargs = dict(common, model=NETWORK_MODELS[name], random_state=seed, **params)
        if task.lookback is not None:
            kwargs["lookback"] = task.lookback
        if task.validation_fraction is not None:
            kwargs["validation_fraction"] = task.validation_fraction
        return LiquidForecaster(**kwargs)
    lookback = task.lookback or LiquidForecaster(horizon=task.horizon).lookback or max(96, 2 * task.horizon)
    if name == "dlinear":
        return DLinear(lookback=lookback, kernel_size=25, **common)
    if name == "ridge":
        return RidgeLags(lags=lookback, calendar=True, **common)
    if name == "seasonal_naive":
        return SeasonalNaive(season_length=task.season_length, **common)
    if name == "naive":
        return Naive(**common)
    raise ValueError(f"unknown model {name!r}; valid: {sorted(NETWORK_MODELS) + ['dlinear', 'ridge', 'seasonal_naive', 'naive']}")


def is_network(name: str) -> bool:
    return name in NETWORK_MODELS
