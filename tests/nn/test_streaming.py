"""Streaming: a liquid layer advanced one step at a time from its carried state gives the output of
one call over the whole sequence, with a state (and memory) that does not grow with the steps."""

import tracemalloc

import pytest
import torch

from liquidts.nn import CfC, LTC
from liquidts.wirings import AutoNCP

STEPS = 10_000


def _stream(layer, x, ts):
    state, ys, sizes = None, [], set()
    for t in range(x.shape[1]):
        y, state = layer.step(x[:, t], state, ts[:, t])
        ys.append(y)
        sizes.add(state.nbytes)
    return torch.stack(ys, 1), state, sizes


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_ten_thousand_cfc_steps_equal_the_whole_sequence(dtype, tol):
    """The forecaster's default core (a CfC with a one-layer backbone) over 10,000 irregular steps.
    float32 allows 1e-4 for rounding that accumulates over the steps (the CfC state is bounded and
    forgets, so it cannot grow); on the CPU both calls run the same kernel and agree exactly."""
    torch.manual_seed(0)
    layer = CfC(4, 16, backbone_units=32, backbone_layers=1).to(dtype).eval()
    x = torch.randn(2, STEPS, 4, dtype=dtype)
    ts = torch.rand(2, STEPS, dtype=dtype) + 0.5
    with torch.no_grad():
        y, h = layer(x, timespans=ts)
        ys, state, sizes = _stream(layer, x, ts)
    torch.testing.assert_close(ys, y, rtol=tol, atol=tol)
    torch.testing.assert_close(state, h, rtol=tol, atol=tol)
    assert sizes == {2 * 16 * x.element_size()}  # the state is (B, 16) after every step


def test_streaming_memory_stays_flat():
    """Python-side allocations after 1,000 steps and after 10,000 are the same (nothing accumulates),
    and the state is one fixed-size tensor."""
    layer = CfC(4, 16).eval()
    x = torch.randn(1, 4)
    state = None
    with torch.no_grad():
        for _ in range(200):  # warm up caches (kernel tables, dispatch)
            _, state = layer.step(x, state, 1.0)
        tracemalloc.start()
        for _ in range(1_000):
            _, state = layer.step(x, state, 1.0)
        early, _ = tracemalloc.get_traced_memory()
        for _ in range(STEPS - 1_000):
            _, state = layer.step(x, state, 1.0)
        late, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert late - early < 20_000, (early, late)
    assert state.shape == (1, 16)


@pytest.mark.parametrize("build", [lambda: LTC(3, 8), lambda: LTC(3, AutoNCP(10, 2)),
                                   lambda: CfC(3, AutoNCP(10, 2)), lambda: CfC(3, 8, mixed_memory=True),
                                   lambda: CfC(3, 8, proj_size=2, batch_first=False),
                                   lambda: LTC(3, 8, return_sequences=False)])
def test_every_liquid_layer_steps(build):
    layer = build().double().eval()
    x = torch.randn(2, 300, 3, dtype=torch.float64)
    ts = torch.rand(2, 300, dtype=torch.float64) + 0.5
    with torch.no_grad():
        if layer.batch_first:
            y, h = layer(x, timespans=ts)
        else:
            y, h = layer(x.transpose(0, 1), timespans=ts.t())
            y = y.transpose(0, 1)
        state, ys = None, []
        for t in range(x.shape[1]):
            y_t, state = layer.step(x[:, t], state, ts[:, t])
            ys.append(y_t)
    expected = y if layer.return_sequences else y
    got = torch.stack(ys, 1) if layer.return_sequences else ys[-1]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    for a, b in zip(state if isinstance(state, tuple) else (state,), h if isinstance(h, tuple) else (h,)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
