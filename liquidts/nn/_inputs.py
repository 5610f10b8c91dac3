"""One place where sequence layers check and normalise ``(x, hx, timespans)``.

Internal code after :func:`prepare_sequence` assumes ``x`` is (B, T, F) and ``timespans`` is
``None`` or (B, T), whatever layout the caller used, and that the input, the state, the timespans
and the layer's parameters share one dtype and one device: the input and the state must match the
parameters (a clear error otherwise; converting silently would hide a lost precision or a copy
between devices), while timespans, often built from numpy or integers, are converted to the
input's dtype and device.
"""

from __future__ import annotations

import math
import numbers

import torch


def prepare_sequence(layer: str, x, timespans, input_size: int, batch_first: bool, parameter: torch.Tensor):
    """Return ``(x (B, T, F), timespans (B, T) or None, unbatched)``.

    ``x`` may be (B, T, F) (or (T, B, F) when ``batch_first=False``) or an unbatched (T, F), in the
    dtype and on the device of the layer's ``parameter``. ``timespans`` may be a number, a tensor
    shaped like the batch and time axes of ``x``, or that shape with a trailing 1; finite and >= 0.
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
    if x.dtype is not parameter.dtype:
        raise TypeError(f"{layer}: the input is {x.dtype} but the layer's parameters are {parameter.dtype}; "
                        f"convert one of them (x.to({parameter.dtype}) or layer.to({x.dtype}))")
    if x.device != parameter.device:
        raise ValueError(f"{layer}: the input is on {x.device} but the layer's parameters are on "
                         f"{parameter.device}; move one of them")
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
        if not math.isfinite(timespans):
            raise ValueError(f"{layer}: timespans must be finite, got {timespans}")
        if timespans < 0:
            raise ValueError(f"{layer}: timespans must be >= 0, got {timespans}")
        if timespans > torch.finfo(x.dtype).max:
            raise ValueError(f"{layer}: timespans must be finite numbers; {timespans} is infinite in the input's "
                             f"dtype, {x.dtype}")
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
    ts = ts.to(dtype=x.dtype, device=x.device)
    _check_timespan_values(layer, ts)
    return x, ts, unbatched


def _check_timespan_values(layer: str, ts: torch.Tensor) -> None:
    """Refuse negative, NaN or infinite elapsed times (in the input's dtype: a float64 1e300 is
    infinite in float32); one pass over the values when they are fine."""
    if ts.numel() == 0:
        return
    low, high = (float(v) for v in torch.aminmax(ts.detach()))  # NaN anywhere makes both NaN
    if low >= 0 and high < math.inf:
        return
    if bool(torch.isnan(ts).any()):
        raise ValueError(f"{layer}: timespans must be finite numbers (elapsed time between steps); found NaN")
    if low < 0:
        raise ValueError(f"{layer}: timespans must be >= 0 (elapsed time between steps); found negative values")
    raise ValueError(f"{layer}: timespans must be finite numbers (elapsed time between steps); found inf "
                     f"(in the input's dtype, {ts.dtype})")


def check_state(layer: str, hx, x: torch.Tensor, size: int, unbatched: bool, mixed: bool):
    """Validate a user-given state for the input ``x`` (B, T, F): its shape, and the dtype and
    device of ``x``; returns (h, c) with a batch axis (c is None unless mixed)."""
    batch = x.shape[0]
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
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{layer}: state {name} must be a tensor, got {type(t).__name__}")
        if tuple(t.shape) != expected:
            raise ValueError(f"{layer}: state {name} must have shape {expected}, got {tuple(t.shape)}")
        if t.dtype is not x.dtype:
            raise TypeError(f"{layer}: state {name} is {t.dtype} but the input is {x.dtype}; "
                            "pass the state in the input's dtype")
        if t.device != x.device:
            raise ValueError(f"{layer}: state {name} is on {t.device} but the input is on {x.device}")
    if unbatched:
        h = h.unsqueeze(0)
        c = None if c is None else c.unsqueeze(0)
    return h, c


def prepare_call(layer: str, x, hx, timespans, input_size: int, batch_first: bool, state_size: int,
                 mixed: bool, parameter: torch.Tensor):
    """:func:`prepare_sequence` plus the initial state: ``(x, timespans, h, c, unbatched)``.

    Without ``hx`` the state starts at zero; ``c`` is the memory cell's state (None unless mixed).
    ``parameter``: one of the layer's parameters, whose dtype and device the call must use.
    """
    x, ts, unbatched = prepare_sequence(layer, x, timespans, input_size, batch_first, parameter)
    if hx is None:
        h = x.new_zeros(x.shape[0], state_size)
        return x, ts, h, (torch.zeros_like(h) if mixed else None), unbatched
    h, c = check_state(layer, hx, x, state_size, unbatched, mixed)
    return x, ts, h, c, unbatched


def one_step(layer, x: torch.Tensor, hx, timespans):
    """``layer.step``: one step of a CfC or LTC layer as a sequence of length 1 (see ``CfC.step``)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"step expects x of shape (B, {layer.input_size}), got {shape}")
    axis = 1 if layer.batch_first else 0  # where the time axis of one step goes
    if isinstance(timespans, torch.Tensor):
        timespans = timespans.reshape(-1).unsqueeze(axis)
    y, h = layer(x.unsqueeze(axis), hx, timespans)
    return (y.squeeze(axis) if layer.return_sequences else y), h
