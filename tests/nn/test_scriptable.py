"""torch.jit.script(layer) compiles the layer's TorchScript form (liquidts.nn.scriptable), which
computes the layer's function on the layer's own parameters."""

import io
import warnings

import pytest
import torch

from liquidts.nn import CfC, LTC
from liquidts.wirings import AutoNCP

LAYERS = [
    lambda: CfC(3, 8),
    lambda: CfC(3, 8, mode="pure"),
    lambda: CfC(3, 8, mode="no_gate", backbone_layers=2, activation="gelu"),
    lambda: CfC(3, 8, backbone_layers=0, activation="relu"),
    lambda: CfC(3, AutoNCP(12, 2)),
    lambda: CfC(3, 8, proj_size=2, return_sequences=False),
    lambda: CfC(3, 8, batch_first=False),
    lambda: LTC(3, 8),
    lambda: LTC(3, AutoNCP(12, 3), ode_unfolds=2),
    lambda: LTC(3, 8, return_sequences=False, implicit_param_constraints=False, input_mapping="linear",
                output_mapping=None),
]


def _script(layer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(layer)


@pytest.mark.parametrize("build", LAYERS)
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_scripted_equals_eager(build, dtype, tol):
    layer = build().to(dtype).eval()
    scripted = _script(layer)
    x = torch.randn(2, 9, 3, dtype=dtype)
    ts = torch.rand(2, 9, dtype=dtype) + 0.5
    h0 = 0.3 * torch.randn(2, layer.state_size, dtype=dtype)
    if not layer.batch_first:
        x, ts = x.transpose(0, 1), ts.t()
    with torch.no_grad():
        for args in ((x, h0, ts), (x, None, None)):
            for got, expected in zip(scripted(*args), layer(*args)):
                torch.testing.assert_close(got, expected, rtol=tol, atol=tol)


def test_scripted_shares_parameters_and_saves():
    layer = CfC(3, 8).eval()
    scripted = _script(layer)
    x = torch.randn(1, 4, 3)
    with torch.no_grad():
        layer.cell.head.bias.add_(0.5)  # training the layer changes the scripted module too
        torch.testing.assert_close(scripted(x)[0], layer(x)[0], rtol=1e-5, atol=1e-5)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    torch.testing.assert_close(loaded(x)[0], scripted(x)[0])


def test_what_is_not_scriptable_says_why():
    with pytest.raises(ValueError, match="mixed_memory"):
        _script(CfC(3, 8, mixed_memory=True))
    with pytest.raises(ValueError, match="semi_implicit"):
        _script(LTC(3, 8, solver="dopri5"))
