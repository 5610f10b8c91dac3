"""Baseline sequence models with the liquidts signature `y, h = model(x, hx=None, timespans=None)`."""

from .mamba import Mamba, MambaConfig
from .rnn import GRU, LSTM
from .xlstm import XLSTM, XLSTMConfig

BASELINES = {"lstm": LSTM, "gru": GRU, "mamba": Mamba, "xlstm": XLSTM}


def make_model(name: str, input_size: int, hidden_size: int, **kwargs):
    """Build a baseline by name, e.g. make_model("mamba", 8, 64, expand=1, d_conv=2)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; valid names: {sorted(BASELINES)}")
    return BASELINES[name](input_size, hidden_size, **kwargs)
from .classical import DLinear, Drift, Naive, SeasonalNaive  # noqa: E402  (forecasting baselines over DataFrames)
