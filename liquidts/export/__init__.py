"""Export to ONNX: ``liquidts.export.to_onnx(obj, path, streaming=False)``.

What can be exported, and the graph's inputs and outputs (float32; B batch, T time, any size):

==========================  ===========================================  =================================
object                      inputs                                       outputs
==========================  ===========================================  =================================
CfC, LTC layer              x (B, T, I), timespans (B, T)                y (B, T, out) or (B, out)
  streaming=True            x, timespans, state (B, S)                   y, state (B, S)
RecurrentPolicy (control)   obs (B, T, *obs_shape)                       out (B, T, A), action (B, T[, A])
  streaming=True            obs, state (B, S)                            out, action, state
fitted LiquidForecaster     values (B, L, C), timespans (B, L),          forecast (B, H, T, Q), scaled
                            calendar (B, L, K), future (B, H, Kf)
==========================  ===========================================  =================================

(With ``batch_first=False`` a layer's x, timespans and y have time first.) The recurrence is exported
as an ONNX ``Loop`` whose trip count is the input's length, so one file takes any batch size and
any sequence length; the CfC and LTC go through their TorchScript forms
(``liquidts.nn.scriptable``: the fused fixed-step solver for the LTC, no ``mixed_memory``).
A streaming graph carries the recurrent state in and out: feed it one step (T = 1) or a chunk at a
time and pass the state back, as with the layer's ``step``.

A policy's ``out`` is its action head (logits, or the Gaussian mean for continuous actions) and
``action`` the deterministic action in the environment's units (:meth:`RecurrentPolicy.act`).
A forecaster's network reads one lookback window per row, built by
:meth:`LiquidForecaster.forecast_window` (see :func:`forecaster_inputs`), normalises it by its own
statistics and forecasts all H steps at once: each forecast starts afresh from its window, so
there is no state to stream and ``streaming=True`` is refused for forecasters.

Needs the ``onnx`` package at export time and ``onnxruntime`` to run the file (extra ``export``).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liquidts.nn import CfC, LTC

__all__ = ["to_onnx", "forecaster_inputs"]

OPSET = 17


class _Layer(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, timespans: torch.Tensor) -> torch.Tensor:
        return self.layer(x, None, timespans)[0]


class _StreamingLayer(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, timespans: torch.Tensor, state: torch.Tensor):
        return self.layer(x, state, timespans)


class _Policy(nn.Module):
    """obs (B, T, ...) [, state] -> action head output, deterministic env action [, state]."""

    def __init__(self, policy, streaming: bool):
        super().__init__()
        self.encoder = policy.encoder
        core = policy.core
        self.core = torch.jit.script(core) if isinstance(core, (CfC, LTC)) else core
        self.action_head = policy.action_head
        self.dt = policy.config.dt
        self.discrete = policy.config.action_type == "discrete"
        if not self.discrete:
            self.register_buffer("low", policy.action_low.clone())
            self.register_buffer("high", policy.action_high.clone())
        self.state_size = policy.state_size
        self.streaming = streaming

    def forward(self, obs, state=None):
        B, T = obs.shape[0], obs.shape[1]
        x = self.encoder(obs.float())  # (B, T, F)
        if state is None:
            state = x.new_zeros(B, self.state_size)
        ts = None if self.dt is None else torch.full_like(x[..., 0], float(self.dt))  # (B, T)
        y, h = self.core(x, state, ts)
        out = self.action_head(y)  # (B, T, A)
        if self.discrete:
            action = out.argmax(-1)
        else:
            action = self.low + (out.clamp(-1, 1) + 1) * 0.5 * (self.high - self.low)
        return (out, action, h) if self.streaming else (out, action)


class _Forecaster(nn.Module):
    def __init__(self, net):
        super().__init__()
        from liquidts.forecast.windows import Batch

        self._batch = Batch
        self.net = copy.deepcopy(net).eval()
        if isinstance(self.net.core, (CfC, LTC)):
            self.net.core = torch.jit.script(self.net.core)

    def forward(self, values, timespans, calendar, future):
        return self.net(self._batch(values, timespans, calendar, future, None))


def _kind(obj) -> str:
    if isinstance(obj, (CfC, LTC)):
        return "layer"
    from liquidts.control.policy import RecurrentPolicy
    from liquidts.forecast import LiquidForecaster

    if isinstance(obj, RecurrentPolicy):
        return "policy"
    if isinstance(obj, LiquidForecaster):
        if not hasattr(obj, "net_"):
            raise ValueError("fit the forecaster before exporting it")
        return "forecaster"
    raise TypeError(f"to_onnx exports CfC and LTC layers, RecurrentPolicy and fitted LiquidForecaster objects, "
                    f"got {type(obj).__name__}")


def to_onnx(obj, path, streaming: bool = False, opset: int = OPSET) -> Path:
    """Write ``obj`` (a CfC or LTC layer, a control ``RecurrentPolicy`` or a fitted
    ``LiquidForecaster``) to the ONNX file ``path``; see the module docstring for the graph's inputs
    and outputs. ``streaming=True`` adds the recurrent state as an input and an output (layers and
    policies). Batch and sequence-length axes are dynamic. Returns the path."""
    with warnings.catch_warnings():
        # torch.jit and the TorchScript-based exporter announce their deprecation at every call
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="no signature found")  # a traced module has no Python signature
        return _export(obj, Path(path), streaming, opset)


def _export(obj, path: Path, streaming: bool, opset: int) -> Path:
    kind = _kind(obj)
    if kind == "forecaster" and streaming:
        raise ValueError("a forecaster cannot be exported for streaming: each forecast normalises its own "
                         "lookback window and reads it whole, so no state carries from one forecast to the next; "
                         "export with streaming=False and feed it windows (forecaster_inputs)")
    batch, time = {0: "batch"}, {0: "batch", 1: "time"}
    if kind == "layer":
        layer = copy.deepcopy(obj).float().eval()
        module = torch.jit.script(_StreamingLayer(layer) if streaming else _Layer(layer))
        seq = time if layer.batch_first else {0: "time", 1: "batch"}
        x = torch.randn(2, 3, layer.input_size)
        ts = torch.ones(2, 3)
        if not layer.batch_first:
            x, ts = x.transpose(0, 1), ts.t()
        args = (x, ts)
        names, outputs = ["x", "timespans"], ["y"]
        axes = {"x": seq, "timespans": seq, "y": seq if layer.return_sequences else batch}
        if streaming:
            args += (torch.zeros(2, layer.state_size),)
            names.append("state")
            outputs.append("state_out")
            axes.update(state=batch, state_out=batch)
    elif kind == "policy":
        policy = copy.deepcopy(obj).float().eval()
        module = _Policy(policy, streaming)
        obs = torch.zeros(2, 3, *policy.config.obs_shape)
        args = (obs, torch.zeros(2, policy.state_size)) if streaming else (obs,)
        names, outputs = (["obs", "state"] if streaming else ["obs"]), ["out", "action"]
        axes = {"obs": time, "out": time, "action": time}
        if streaming:
            outputs.append("state_out")
            axes.update(state=batch, state_out=batch)
    else:
        module = _Forecaster(obj.net_)
        c = obj.net_.config
        args = (torch.zeros(2, c.lookback, c.n_targets + c.n_covariates), torch.ones(2, c.lookback),
                torch.zeros(2, c.lookback, c.n_calendar), torch.zeros(2, c.horizon, c.n_future))
        names, outputs = ["values", "timespans", "calendar", "future"], ["forecast"]
        axes = {name: batch for name in names + outputs}
    with torch.no_grad():
        if not isinstance(module, torch.jit.ScriptModule):
            # Traced here (the scripted core keeps its loop): the exporter's own tracing refuses
            # scripted submodules of a traced module.
            module = torch.jit.trace(module, args, check_trace=False)
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset, input_names=names,
                          output_names=outputs, dynamic_axes=axes)
    return path


def forecaster_inputs(est, df=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """The exported forecaster's inputs for the forecast from the end of each series of ``df``
    (default: the training history), as float32 arrays by input name, with each series' scaler
    ``mean``, ``std`` (S, C): ``forecast * std[:, None, :T, None] + mean[:, None, :T, None]`` is the
    forecast in the series' units (T targets)."""
    batch, mean, std = est.forecast_window(df)
    inputs = {name: getattr(batch, name).numpy().astype(np.float32)
              for name in ("values", "timespans", "calendar", "future")}
    return inputs, mean, std
