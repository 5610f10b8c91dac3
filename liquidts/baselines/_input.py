"""Checks shared by the baseline sequence models, applied once at the public boundary."""

import torch


def check_sequence(x, input_size: int, batch_first: bool) -> torch.Tensor:
    """Validate a (B, T, F) input (or (T, B, F) when not batch_first); return it batch first."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        layout = "(B, T, F)" if batch_first else "(T, B, F)"
        raise ValueError(f"x must be 3-D {layout}, got shape {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"x has {x.shape[-1]} features, the model expects input_size={input_size}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating point tensor, got {x.dtype}")
    return x if batch_first else x.transpose(0, 1)


def finish_output(y: torch.Tensor, return_sequences: bool, batch_first: bool) -> torch.Tensor:
    """(B, T, H) -> the layout the caller asked for."""
    if not return_sequences:
        return y[:, -1]
    return y if batch_first else y.transpose(0, 1)
