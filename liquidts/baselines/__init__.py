"""Sequence models the liquid layers are measured against, with the liquidts signature
``y, h = model(x, hx=None, timespans=None)``: Mamba, xLSTM, LSTM, GRU, Transformer, RWKV, Hyena
and StripedHyena. Every one also advances one step at a time from a carried state: ``model.step(x_t, h)``. The classical
forecasters (naive, seasonal naive, drift, DLinear, ridge on lags) work on DataFrames and live
in ``liquidts.forecast.classical``.
"""

from .hyena import Hyena, HyenaConfig, StripedHyena
from .mamba import Mamba, MambaConfig
from .rnn import GRU, LSTM
from .rwkv import RWKV, RWKVConfig
from .transformer import Transformer, TransformerConfig
from .xlstm import XLSTM, XLSTMConfig

BASELINES = {"lstm": LSTM, "gru": GRU, "mamba": Mamba, "xlstm": XLSTM, "transformer": Transformer,
             "rwkv": RWKV, "hyena": Hyena, "striped_hyena": StripedHyena}

__all__ = ["BASELINES", "make_model", "Mamba", "MambaConfig", "XLSTM", "XLSTMConfig", "LSTM", "GRU",
           "Transformer", "TransformerConfig", "RWKV", "RWKVConfig", "Hyena", "HyenaConfig", "StripedHyena"]


def make_model(name: str, input_size: int, hidden_size: int, **kwargs):
    """Build a baseline by name, e.g. make_model("mamba", 8, 64, expand=1, d_conv=2)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; valid names: {sorted(BASELINES)}")
    return BASELINES[name](input_size, hidden_size, **kwargs)
