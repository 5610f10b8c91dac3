"""The LSTM-style memory cell that ``mixed_memory=True`` runs before a liquid cell at each step.

Mixing a gated memory into the state helps liquid networks keep information over long horizons
(Lechner & Hasani, 2020). Gates as in ``ncps``: the forget gate's pre-activation is shifted by +1.
"""

from __future__ import annotations

import torch
from torch import nn


class MemoryCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.input_map = nn.Linear(input_size, 4 * hidden_size)
        self.recurrent_map = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        nn.init.xavier_uniform_(self.input_map.weight)
        nn.init.uniform_(self.input_map.bias, -0.1, 0.1)
        nn.init.orthogonal_(self.recurrent_map.weight)

    def forward(self, x: torch.Tensor, state: tuple) -> tuple:
        h, c = state
        z = self.input_map(x) + self.recurrent_map(h)  # (B, 4H)
        candidate, input_gate, forget_gate, output_gate = z.chunk(4, dim=-1)
        c = c * torch.sigmoid(forget_gate + 1.0) + torch.tanh(candidate) * torch.sigmoid(input_gate)
        h = torch.tanh(c) * torch.sigmoid(output_gate)
        return h, c
