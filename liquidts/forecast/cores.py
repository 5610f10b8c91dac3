"""Sequence cores by name: the part of the forecasting network that reads the lookback's segments.

Any module following ``y, h = core(x, hx=None, timespans=None)`` works as a core; the names
build the liquid layers (``cfc``, ``ltc``, ``ncp``) and the baselines (``lstm``, ``gru``,
``mamba``, ``xlstm``, ``transformer``, ``rwkv``, ``hyena``, ``striped_hyena``) at the same width, so benchmarks compare cells inside one network.
``"linear"`` is the ablation: no core, the network is its linear path alone.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from liquidts.baselines import BASELINES
from liquidts.nn import LTC, CfC
from liquidts.wirings import AutoNCP

LIQUID_CORES = ("cfc", "ltc", "ncp")
NO_CORE = "linear"


def available_models() -> list[str]:
    """Names ``model=`` accepts."""
    return [*LIQUID_CORES, *sorted(BASELINES), NO_CORE]


def build_core(model, width: int, backbone_units: int) -> nn.Module | None:
    """The core named by ``model`` reading ``width`` features per segment (None for ``"linear"``),
    or a private copy of a user's module."""
    if isinstance(model, nn.Module):
        # A copy, so fitting never changes the module the user passed as a parameter.
        return copy.deepcopy(model)
    if not isinstance(model, str):
        raise TypeError(f"model must be a name or a torch.nn.Module, got {type(model).__name__}")
    name = model.lower()
    if name == NO_CORE:
        return None
    if name == "cfc":
        return CfC(width, width, backbone_units=backbone_units, backbone_layers=1, return_sequences=False)
    if name == "ltc":
        return LTC(width, width, return_sequences=False)
    if name == "ncp":
        # A sparse NCP of `width` neurons whose motor layer (a quarter of them) is the output.
        return CfC(width, AutoNCP(width, max(1, width // 4)), return_sequences=False)
    if name in BASELINES:
        return BASELINES[name](width, width, return_sequences=False)
    raise ValueError(f"unknown model {model!r}; valid names: {available_models()} or a torch.nn.Module")


def core_output_size(core: nn.Module, width: int) -> int:
    """Width of the core's output; probed with one dummy step when it has no ``output_size``."""
    size = getattr(core, "output_size", None)
    if isinstance(size, int):
        return size
    with torch.no_grad():
        y, _ = core(torch.zeros(1, 2, width), None, torch.ones(1, 2))
    return int(y.shape[-1])


def last_output(y: torch.Tensor) -> torch.Tensor:
    """The core's output at the last segment, (N, U), whether it returned sequences or not."""
    return y[:, -1] if y.dim() == 3 else y
