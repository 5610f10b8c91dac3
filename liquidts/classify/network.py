"""The classification network: step features -> sequence core -> state at each subject's last
step, beside the static descriptors -> a small MLP head -> class logits.

Sequences are padded at the end; every core is causal, so the output at a subject's last real
step never sees the padding. Letters: B batch, T steps, F features, H core output, S static.
"""

from __future__ import annotations

import torch
from torch import nn

from liquidts.classify.data import Batch


class ClassifierNetwork(nn.Module):
    def __init__(self, core: nn.Module, core_size: int, n_static: int, units: int, n_classes: int,
                 dropout: float, readout: str = "last"):
        super().__init__()
        self.core = core
        self.readout = readout
        self.static = nn.Sequential(nn.Linear(n_static, units), nn.ReLU()) if n_static else None
        width = core_size * (2 if readout == "last+mean" else 1) + (units if n_static else 0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(units, n_classes))

    def forward(self, batch: Batch) -> torch.Tensor:
        y, _ = self.core(batch.x, None, batch.dt)  # (B, T, H)
        last = y[torch.arange(len(y), device=y.device), batch.lengths - 1]  # (B, H)
        if self.readout == "last+mean":
            real = (torch.arange(y.shape[1], device=y.device)[None, :] < batch.lengths[:, None]).to(y.dtype)  # (B, T)
            mean = (y * real[..., None]).sum(1) / batch.lengths[:, None].to(y.dtype)
            last = torch.cat([last, mean], dim=-1)
        if self.static is not None:
            last = torch.cat([last, self.static(batch.static)], dim=-1)
        return self.head(last)  # (B, C)
