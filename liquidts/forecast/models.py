"""Sequence encoders by name, and the network that turns one into a multi-horizon forecaster.

Any encoder following ``y, h = encoder(x, hx=None, timespans=None)`` works; the forecaster
reads the encoder's last output step and maps it, together with the inputs known in advance
for the next H steps, straight to all H steps at once (a direct multi-horizon head), so
errors do not compound as they would when feeding predictions back in.

Letters: B batch, L lookback, F input features, U encoder outputs, H horizon, T targets,
Q outputs per target (1, or the number of quantiles), Kf future-known features.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from liquidts.nn import LTC, CfC
from liquidts.wirings import AutoNCP

LIQUID_MODELS = ("cfc", "ltc", "ncp")


def _baselines() -> dict:
    try:
        from liquidts.baselines import BASELINES
    except ImportError:
        return {}
    return dict(BASELINES)


def available_models() -> list[str]:
    """Names ``model=`` accepts (the baselines appear once their package is importable)."""
    return list(LIQUID_MODELS) + sorted(_baselines())


def build_encoder(model, input_size: int, units: int, backbone_units: int, dropout: float) -> nn.Module:
    """Make the sequence encoder named by ``model``, or a private copy of a user's module."""
    if isinstance(model, nn.Module):
        # A copy, so fitting never changes the module the user passed as a parameter.
        return copy.deepcopy(model)
    if not isinstance(model, str):
        raise TypeError(f"model must be a name or a torch.nn.Module, got {type(model).__name__}")
    name = model.lower()
    if name in LIQUID_MODELS:
        if name == "cfc":
            return CfC(input_size, units, backbone_units=backbone_units, backbone_layers=1,
                       backbone_dropout=dropout, batch_first=True, return_sequences=True)
        if name == "ltc":
            return LTC(input_size, units, batch_first=True, return_sequences=True)
        wiring = AutoNCP(units, max(1, units // 4))
        return CfC(input_size, wiring, batch_first=True, return_sequences=True)
    baselines = _baselines()
    if name in baselines:
        return baselines[name](input_size, units)
    raise ValueError(f"unknown model {model!r}; valid names: {available_models()} or a torch.nn.Module")


def encoder_output_size(encoder: nn.Module, input_size: int) -> int:
    """Width of the encoder's output; probed with one dummy step when it has no ``output_size``."""
    size = getattr(encoder, "output_size", None)
    if isinstance(size, int):
        return size
    with torch.no_grad():
        y, _ = encoder(torch.zeros(1, 2, input_size), None, torch.ones(1, 2))
    return int(y.shape[-1])


class ForecastNet(nn.Module):
    """encoder -> last output step (B, U) ++ future-known inputs (B, H*Kf) -> linear -> (B, H, T, Q).

    A linear map from each target's own lookback to its horizon runs beside the encoder
    (the autoregressive highway of LSTNet): it carries the level and the recent trend, so
    the recurrent part learns what a linear model cannot.
    """

    def __init__(self, encoder: nn.Module, enc_out: int, lookback: int, horizon: int,
                 n_targets: int, n_future: int, n_outputs: int):
        super().__init__()
        self.encoder = encoder
        self.horizon, self.n_targets, self.n_outputs = horizon, n_targets, n_outputs
        self.n_future = n_future
        self.head = nn.Linear(enc_out + horizon * n_future, horizon * n_targets * n_outputs)
        self.highway = nn.Linear(lookback, horizon * n_outputs)

    def forward(self, x, timespans, future):
        """x (B, L, F), timespans (B, L), future (B, H, Kf) -> (B, H, T, Q)."""
        y, _ = self.encoder(x, None, timespans)
        last = y[:, -1] if y.dim() == 3 else y  # (B, U)
        z = torch.cat([last, future.flatten(1)], dim=1)  # (B, U + H*Kf)
        out = self.head(z).view(-1, self.horizon, self.n_targets, self.n_outputs)  # (B, H, T, Q)
        own = x[:, :, : self.n_targets].transpose(1, 2)  # (B, T, L): scaled target history
        ar = self.highway(own).view(-1, self.n_targets, self.horizon, self.n_outputs)  # (B, T, H, Q)
        return out + ar.transpose(1, 2)
