"""liquidts: liquid neural networks (LTC, CfC, Neural Circuit Policies) for time series.

Subpackages: ``liquidts.nn`` (layers), ``liquidts.wirings``, ``liquidts.forecast``
(``LiquidForecaster``), ``liquidts.classify`` (``LiquidClassifier``), ``liquidts.baselines``, ``liquidts.control``, ``liquidts.plotting``.
"""

__version__ = "0.1.0"

__all__ = ["LiquidClassifier", "LiquidForecaster", "__version__"]


def __getattr__(name):
    # Imported on first use, so that `import liquidts.nn` does not load pandas and scikit-learn.
    if name == "LiquidForecaster":
        from liquidts.forecast import LiquidForecaster

        return LiquidForecaster
    if name == "LiquidClassifier":
        from liquidts.classify import LiquidClassifier

        return LiquidClassifier
    raise AttributeError(f"module 'liquidts' has no attribute {name!r}")
