"""liquidts: liquid neural networks (LTC, CfC, Neural Circuit Policies) for time series."""

__version__ = "0.1.0"
