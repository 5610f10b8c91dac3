"""Forecasting with liquid networks: the LiquidForecaster estimator, metrics and backtesting."""

from liquidts.forecast.base import BaseForecaster, CrossValidation
from liquidts.forecast.estimator import LiquidForecaster
from liquidts.forecast.cores import available_models

__all__ = ["LiquidForecaster", "BaseForecaster", "CrossValidation", "available_models"]
