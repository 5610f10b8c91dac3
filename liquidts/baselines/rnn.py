"""LSTM and GRU baselines: torch.nn.LSTM / torch.nn.GRU behind the liquidts sequence signature.

    y, h = model(x, hx=None, timespans=None)

x: (B, T, F) with batch_first=True (the default), y: (B, T, H) or (B, H) when return_sequences=False.
`timespans` is accepted and ignored: these cells assume evenly spaced steps.
The state is PyTorch's: (h, c) for the LSTM, h for the GRU, each (num_layers, B, H), so feeding a
sequence in chunks with the returned state gives the same output as feeding it whole.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ._input import check_sequence, finish_output


@dataclass
class RNNConfig:
    input_size: int
    hidden_size: int
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers, as in torch.nn.LSTM
    bias: bool = True


class _TorchRNN(nn.Module):
    _rnn_class: type = None

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bias: bool = True, return_sequences: bool = True, batch_first: bool = True):
        super().__init__()
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(f"input_size, hidden_size and num_layers must be >= 1, got "
                             f"{input_size}, {hidden_size}, {num_layers}")
        self.config = RNNConfig(input_size, hidden_size, num_layers, dropout, bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.rnn = self._rnn_class(input_size, hidden_size, num_layers=num_layers, bias=bias,
                                   dropout=dropout, batch_first=True)

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        y, h = self.rnn(x, hx)  # (B, T, H)
        return finish_output(y, self.return_sequences, self.batch_first), h

    def step(self, x, hx=None):
        """One step: x (B, F) -> y (B, H), new state."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        y, h = self.rnn(x.unsqueeze(1), hx)
        return y[:, 0], h


class LSTM(_TorchRNN):
    """torch.nn.LSTM with the liquidts signature; the state is (h, c), each (num_layers, B, H)."""

    _rnn_class = nn.LSTM


class GRU(_TorchRNN):
    """torch.nn.GRU with the liquidts signature; the state is h, (num_layers, B, H)."""

    _rnn_class = nn.GRU
