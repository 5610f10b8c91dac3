"""Every baseline advances one step at a time from a carried state and gives its whole-sequence output."""

import pytest
import torch

from liquidts.baselines import BASELINES, make_model
from liquidts.forecast import LiquidForecaster
from liquidts.forecast.cores import build_core


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_step_by_step_equals_whole_sequence(name):
    m = make_model(name, 3, 8, **({"n_heads": 2} if "transformer" in name or "striped" in name else {})).eval()
    x = torch.randn(2, 17, 3)
    y, _ = m(x)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = m.step(x[:, t], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["transformer", "rwkv", "hyena", "striped_hyena"])
def test_forecaster_builds_the_core_by_name(name):
    core = build_core(name, 16, 32)
    assert core.return_sequences is False
    y, _ = core(torch.randn(3, 5, 16), None, torch.ones(3, 5))
    assert y.shape == (3, 16)
    assert LiquidForecaster(model=name).model == name
