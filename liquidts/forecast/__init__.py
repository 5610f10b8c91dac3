"""Forecasting with liquid networks: the LiquidForecaster estimator, metrics and backtesting."""

__all__ = ["LiquidForecaster", "BaseForecaster", "CrossValidation", "available_models"]

_WHERE = {
    "LiquidForecaster": "liquidts.forecast.estimator",
    "BaseForecaster": "liquidts.forecast.base",
    "CrossValidation": "liquidts.forecast.base",
    "available_models": "liquidts.forecast.cores",
}


def __getattr__(name):
    # Imported on first use, so that `liquidts forecast --help` (liquidts.forecast.cli) starts
    # without torch and pandas.
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'liquidts.forecast' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
