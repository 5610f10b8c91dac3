"""One place where sequence layers check and normalise ``(x, hx, timespans)``.

Internal code after :func:`prepare_sequence` assumes ``x`` is (B, T, F) and ``timespans`` is
``None`` or (B, T), whatever layout the caller used.
"""

from __future__ import annotations

import numbers

import torch


def prepare_sequence(layer: str, x, timespans, input_size: int, batch_first: bool):
    """Return ``(x (B, T, F), timespans (B, T) or None, unbatched)``.

    ``x`` may be (B, T, F) (or (T, B, F) when ``batch_first=False``) or an unbatched (T, F).
    ``timespans`` may be a number, a tensor shaped like the batch and time axes of ``x``, or that
    shape with a trailing 1.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (2, 3):
        raise ValueError(
            f"{layer}: input must be 3-D (batch, time, features) or 2-D (time, features) for one "
            f"unbatched sequence, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{layer}: input must be a floating point tensor, got {x.dtype}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{layer}: expected {input_size} input features, got {x.shape[-1]} (input shape {tuple(x.shape)})")
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    elif not batch_first:
        x = x.transpose(0, 1)
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        raise ValueError(f"{layer}: the input sequence is empty (0 time steps)")
    if timespans is None:
        return x, None, unbatched
    if isinstance(timespans, numbers.Real):
        if timespans < 0:
            raise ValueError(f"{layer}: timespans must be >= 0, got {timespans}")
        return x, torch.full((batch, steps), float(timespans), dtype=x.dtype, device=x.device), unbatched
    if not isinstance(timespans, torch.Tensor):
        raise TypeError(f"{layer}: timespans must be None, a number or a tensor, got {type(timespans).__name__}")
    ts = timespans
    expected = (steps,) if unbatched else ((batch, steps) if batch_first else (steps, batch))
    if ts.dim() == len(expected) + 1 and ts.shape[-1] == 1:
        ts = ts.squeeze(-1)
    if tuple(ts.shape) != expected:
        raise ValueError(
            f"{layer}: timespans must have shape {expected} (the batch and time axes of the input, "
            f"optionally with a trailing 1), got {tuple(timespans.shape)}"
        )
    if unbatched:
        ts = ts.unsqueeze(0)
    elif not batch_first:
        ts = ts.transpose(0, 1)
    if bool((ts < 0).any()):
        raise ValueError(f"{layer}: timespans must be >= 0 (elapsed time between steps); found negative values")
    return x, ts.to(dtype=x.dtype), unbatched


def check_state(layer: str, hx, batch: int, size: int, unbatched: bool, mixed: bool):
    """Validate a user-given state; returns (h, c) with a batch axis (c is None unless mixed)."""
    if mixed:
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{layer}: with mixed_memory=True, hx must be a tuple (h, c)")
        h, c = hx
    else:
        if not isinstance(hx, torch.Tensor):
            raise TypeError(f"{layer}: hx must be a tensor of shape (batch, {size}), got {type(hx).__name__}")
        h, c = hx, None
    for name, t in (("h", h), ("c", c)):
        if t is None:
            continue
        expected = (size,) if unbatched else (batch, size)
        if tuple(t.shape) != expected:
            raise ValueError(f"{layer}: state {name} must have shape {expected}, got {tuple(t.shape)}")
    if unbatched:
        h = h.unsqueeze(0)
        c = None if c is None else c.unsqueeze(0)
    return h, c


def prepare_call(layer: str, x, hx, timespans, input_size: int, batch_first: bool, state_size: int,
                 mixed: bool):
    """:func:`prepare_sequence` plus the initial state: ``(x, timespans, h, c, unbatched)``.

    Without ``hx`` the state starts at zero; ``c`` is the memory cell's state (None unless mixed).
    """
    x, ts, unbatched = prepare_sequence(layer, x, timespans, input_size, batch_first)
    if hx is None:
        h = x.new_zeros(x.shape[0], state_size)
        return x, ts, h, (torch.zeros_like(h) if mixed else None), unbatched
    h, c = check_state(layer, hx, x.shape[0], state_size, unbatched, mixed)
    return x, ts, h, c, unbatched
