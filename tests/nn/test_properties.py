"""Properties of every layer call, over calls drawn by hypothesis.

Drawn: the layer (CfC unwired with 0-2 backbone layers and any activation, or on an NCP,
AutoNCP, fully connected or random wiring; every mode; memory cell; projection; LTC with any
mapping, unfolds, wiring and a few torchdiffeq solvers), the call (batch 1-4 or unbatched, 1-5
steps, batch- or time-major, inputs up to 1e30, timespans absent, a number or per sample and step,
from 0 and 1e-30 to 1e30, hx given or not), training or not; for each dtype (float32, float64,
float16, bfloat16) with and without gradient; and bad values mixed in (negative, NaN or infinite
timespans, a state or an input of another dtype). Explicit torchdiffeq solvers get gaps below 10:
an explicit step over a long gap diverges, by the nature of the method.

Each call either raises the layer's own ValueError/TypeError naming the problem (exactly when
something is wrong), or returns finite outputs and states of the right shapes, which equal the
reference path's (the autograd step loop: ``cfc_reference`` for a CfC, ``LTCCell.fused_steps``
for an LTC) to the dtype's tolerance, whichever path (C kernel, PyTorch inference loop,
hand-written backward) the call took.
"""

import math
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquidts.activations import ACTIVATIONS
from liquidts.kernels import dispatch
from liquidts.kernels.cfc import MODES
from liquidts.nn import LTC, CfC
from liquidts.wirings import NCP, AutoNCP, FullyConnected, Random

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
GOOD_TIMESPANS = [0.0, 1e-30, 0.5, 1.0, 2.0, 100.0, 1e30]
BAD_TIMESPANS = [-1.0, math.nan, math.inf]
# Relative tolerance, and absolute tolerance as a share of the largest reference value.
TOLERANCE = {torch.float64: 1e-7, torch.float32: 1e-4, torch.float16: 3e-2, torch.bfloat16: 1e-1}


def _wiring(draw):
    kind = draw(st.sampled_from(["autoncp", "ncp", "full", "random"]))
    if kind == "autoncp":
        return AutoNCP(draw(st.integers(5, 10)), draw(st.integers(1, 2)), seed=draw(st.integers(0, 99)))
    if kind == "ncp":
        return NCP(3, 2, draw(st.integers(1, 2)), 2, 2, 2, 1, seed=draw(st.integers(0, 99)))
    if kind == "full":
        return FullyConnected(draw(st.integers(1, 5)), erev_init_seed=draw(st.integers(0, 99)))
    return Random(draw(st.integers(2, 6)), sparsity_level=0.5, random_seed=draw(st.integers(0, 99)))


@st.composite
def cfcs(draw, inputs):
    options = dict(mode=draw(st.sampled_from(MODES)), mixed_memory=draw(st.integers(0, 3)) == 3,
                   proj_size=draw(st.sampled_from([None, None, 2])), return_sequences=draw(st.booleans()),
                   batch_first=draw(st.booleans()))
    if draw(st.booleans()):
        return CfC(inputs, _wiring(draw), **options)
    return CfC(inputs, draw(st.integers(1, 6)), activation=draw(st.sampled_from(sorted(ACTIVATIONS))),
               backbone_units=draw(st.integers(1, 6)), backbone_layers=draw(st.integers(0, 2)),
               backbone_dropout=draw(st.sampled_from([0.0, 0.3])), **options)


@st.composite
def ltcs(draw, inputs):
    solver = draw(st.sampled_from(["semi_implicit", "semi_implicit", "semi_implicit", "rk4", "euler", "dopri5"]))
    return LTC(inputs, _wiring(draw) if draw(st.booleans()) else draw(st.integers(1, 5)),
               mixed_memory=draw(st.integers(0, 3)) == 3, return_sequences=draw(st.booleans()),
               batch_first=draw(st.booleans()), input_mapping=draw(st.sampled_from(["affine", "linear", None])),
               output_mapping=draw(st.sampled_from(["affine", "linear", None])),
               ode_unfolds=draw(st.integers(1, 6)), implicit_param_constraints=draw(st.booleans()),
               solver=solver, rtol=1e-3, atol=1e-4)


# Hypothesis prefers small integers and the first entry of a list: below, the common case comes
# first and a rare one (a bad value) is the largest.
@st.composite
def calls(draw, layers, dtype, grad):
    """(layer, x, hx, timespans, grad, the problem the call has or None, dtype)."""
    torch.manual_seed(draw(st.integers(0, 2 ** 16)))
    inputs = draw(st.integers(1, 4))
    layer = draw(layers(inputs)).train(draw(st.booleans()))
    layer.to(dtype)
    explicit_ode = isinstance(layer, LTC) and layer.solver != "semi_implicit"
    if explicit_ode and dtype is torch.float16:
        layer.to(torch.float32)  # adaptive solvers refuse float16 (tested in test_inputs.py)
        dtype = torch.float32
    batch, steps = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    unbatched = batch == 1 and draw(st.booleans())
    problem = None

    huge = dtype in (torch.float32, torch.float64) and not explicit_ode
    scale = draw(st.sampled_from([1.0, 1.0, 1e30])) if huge else 1.0
    x = torch.randn(batch, steps, inputs, dtype=torch.float64) * scale
    x_dtype = dtype
    if draw(st.integers(0, 9)) == 9:
        x_dtype, problem = (torch.float64 if dtype is not torch.float64 else torch.float32), "input"
    x = x.to(x_dtype)

    good = [v for v in GOOD_TIMESPANS if v < 10 or not explicit_ode]  # explicit solvers diverge on long gaps
    values = good + BAD_TIMESPANS if draw(st.integers(0, 5)) == 5 else good
    form = draw(st.sampled_from(["none", "number", "tensor", "tensor"]))
    if form == "none":
        ts = None
    elif form == "number":
        ts = draw(st.sampled_from(values))
    else:
        ts = torch.tensor(draw(st.lists(st.sampled_from(values), min_size=batch * steps, max_size=batch * steps)),
                          dtype=draw(st.sampled_from([torch.float32, torch.float64]))).reshape(batch, steps)
    ts_values = [] if ts is None else [ts] if not isinstance(ts, torch.Tensor) else ts.flatten().tolist()
    in_dtype = torch.tensor(ts_values, dtype=torch.float64).to(x_dtype)
    if problem is None and ts_values and not (bool((in_dtype >= 0).all()) and bool(torch.isfinite(in_dtype).all())):
        problem = "timespans"

    hx = None
    if draw(st.booleans()):
        h_dtype = dtype
        if draw(st.integers(0, 9)) == 9 and problem is None:
            h_dtype, problem = (torch.float64 if dtype is not torch.float64 else torch.float32), "state"
        hx = torch.randn(batch, layer.state_size, dtype=torch.float64).to(h_dtype)
        if layer.mixed_memory:
            hx = (hx, torch.randn(batch, layer.state_size, dtype=torch.float64).to(dtype))
    if not layer.batch_first and not unbatched:
        x = x.transpose(0, 1)
        ts = ts.t() if isinstance(ts, torch.Tensor) else ts
    if unbatched:
        x = x[0]
        ts = ts[0] if isinstance(ts, torch.Tensor) else ts
        hx = None if hx is None else tuple(h[0] for h in hx) if isinstance(hx, tuple) else hx[0]
    return layer, x, hx, ts, grad, problem, dtype


def _ltc_reference_path(**call):
    """The fused solver's autograd step loop; a torchdiffeq solver has only its own path."""
    return "loop" if call["solver"] == "semi_implicit" else "ode"


def _reference(layer, x, hx, ts):
    """The layer's output computed by its reference path."""
    if isinstance(layer, CfC):
        with mock.patch.object(dispatch, "choose_cfc_path", lambda **_: "reference"):
            return layer(x, hx, ts)
    with mock.patch.object(dispatch, "choose_ltc_path", _ltc_reference_path):
        return layer(x, hx, ts)


def _states(h):
    return h if isinstance(h, tuple) else (h,)


def _check(call):
    layer, x, hx, ts, grad, problem, dtype = call
    name = type(layer).__name__
    seed = torch.seed()
    with torch.set_grad_enabled(grad):
        try:
            y, h = layer(x, hx, ts)
        except (ValueError, TypeError) as err:
            assert problem is not None, f"refused a good call: {err}"
            assert str(err).startswith(f"{name}: ") and problem in str(err), str(err)
            return
        assert problem is None, f"accepted a call with a bad {problem}"
        torch.manual_seed(seed)  # the same dropout masks for the reference
        y_ref, h_ref = _reference(layer, x, hx, ts)
    unbatched = x.dim() == 2
    if unbatched:
        batch, steps, leading = 1, x.shape[0], [x.shape[0]]
    else:
        batch, steps = (x.shape[0], x.shape[1]) if layer.batch_first else (x.shape[1], x.shape[0])
        leading = [batch, steps] if layer.batch_first else [steps, batch]
    if not layer.return_sequences:
        leading = [] if unbatched else [batch]
    out_shape = leading + [layer.output_size]
    assert list(y.shape) == out_shape and y.dtype == dtype
    for got, want in zip((y, *_states(h)), (y_ref, *_states(h_ref))):
        assert torch.isfinite(got).all(), f"non-finite output: {got}"
        assert got.shape == want.shape and got.dtype == want.dtype
        scale = max(1.0, want.detach().abs().max().item())
        tol = TOLERANCE[dtype]
        torch.testing.assert_close(got.detach(), want.detach(), rtol=tol, atol=tol * scale)
    for s in _states(h):
        assert s.shape == ((layer.state_size,) if unbatched else (batch, layer.state_size))


# dtype and gradient choose the path (C kernel, inference loop, hand-written backward), so each
# pair gets its own examples.
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("layers", [cfcs, ltcs], ids=["cfc", "ltc"])
def test_calls(layers, dtype, grad):
    SETTINGS(given(calls(layers, dtype, grad))(_check))()


def test_the_properties_can_fail():
    """A fast path that computed something else, or a bad call let through, must be caught."""
    layer = CfC(2, 3, backbone_units=4).eval()
    x = torch.randn(2, 3, 2)
    with mock.patch.object(dispatch, "choose_cfc_path", lambda **_: "inference"), \
            mock.patch("liquidts.nn.cfc.cfc_inference", lambda x, h0, ts, *a: [torch.zeros(x.shape[1], x.shape[0], 3)]):
        with pytest.raises(AssertionError):
            _check((layer, x, None, None, False, None, torch.float32))
    with pytest.raises(AssertionError, match="accepted a call with a bad timespans"):
        _check((layer, x, None, 1.0, False, "timespans", torch.float32))
