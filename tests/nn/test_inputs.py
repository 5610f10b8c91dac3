"""Bad input to the liquid layers: a ValueError/TypeError whose message names the problem."""

import pytest
import torch

from liquidts.nn import CfC, CfCCell, LTC, LTCCell, WiredCfCCell
from liquidts.wirings import NCP, AutoNCP, FullyConnected

LAYERS = {
    "CfC": lambda **kw: CfC(3, 4, backbone_units=8, **kw),
    "wired CfC": lambda **kw: CfC(3, NCP(3, 2, 4, 2, 2, 2, 2), **kw),
    "LTC": lambda **kw: LTC(3, 4, **kw),
}


@pytest.fixture(params=sorted(LAYERS))
def make(request):
    return LAYERS[request.param]


def _name(layer):
    return type(layer).__name__


def test_input_rank(make):
    layer = make()
    for shape in [(3,), (2, 5, 3, 1)]:
        with pytest.raises(ValueError, match=rf"{_name(layer)}: input must be 3-D \(batch, time, features\) or 2-D"):
            layer(torch.randn(*shape))


def test_feature_count(make):
    layer = make()
    with pytest.raises(ValueError, match=r"expected 3 input features, got 5 \(input shape \(2, 4, 5\)\)"):
        layer(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="expected 3 input features, got 2"):
        layer(torch.randn(4, 2))  # unbatched (T, F)


def test_input_type(make):
    layer = make()
    with pytest.raises(TypeError, match="input must be a torch.Tensor, got ndarray"):
        layer(torch.randn(2, 4, 3).numpy())
    with pytest.raises(TypeError, match="input must be a floating point tensor, got torch.int64"):
        layer(torch.ones(2, 4, 3, dtype=torch.long))


def test_empty_sequence(make):
    with pytest.raises(ValueError, match=r"empty \(0 time steps\)"):
        make()(torch.randn(2, 0, 3))


def test_timespans_shape(make):
    layer = make()
    x = torch.randn(2, 5, 3)
    for bad in [torch.ones(5), torch.ones(2, 4), torch.ones(5, 2), torch.ones(2, 5, 2), torch.ones(1, 2, 5)]:
        with pytest.raises(ValueError, match=r"timespans must have shape \(2, 5\).*got " + str(tuple(bad.shape))
                           .replace("(", r"\(").replace(")", r"\)")):
            layer(x, timespans=bad)
    time_major = make(batch_first=False)
    with pytest.raises(ValueError, match=r"timespans must have shape \(5, 2\)"):
        time_major(x.transpose(0, 1), timespans=torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"timespans must have shape \(5,\)"):
        layer(x[0], timespans=torch.ones(1, 5))


def test_timespans_negative_or_wrong_type(make):
    layer = make()
    x = torch.randn(2, 5, 3)
    ts = torch.ones(2, 5)
    ts[1, 3] = -0.1
    with pytest.raises(ValueError, match="timespans must be >= 0.*negative"):
        layer(x, timespans=ts)
    with pytest.raises(ValueError, match=r"timespans must be >= 0, got -1.0"):
        layer(x, timespans=-1.0)
    with pytest.raises(TypeError, match="timespans must be None, a number or a tensor, got list"):
        layer(x, timespans=[1.0] * 5)


def test_state_shape_and_type(make):
    layer = make()
    x = torch.randn(2, 5, 3)
    size = layer.state_size
    with pytest.raises(ValueError, match=rf"state h must have shape \(2, {size}\), got \(3, {size}\)"):
        layer(x, torch.zeros(3, size))
    with pytest.raises(ValueError, match=rf"state h must have shape \(2, {size}\), got \(2, {size + 1}\)"):
        layer(x, torch.zeros(2, size + 1))
    with pytest.raises(ValueError, match=rf"state h must have shape \({size},\), got \(1, {size}\)"):
        layer(x[0], torch.zeros(1, size))  # unbatched input takes an unbatched state
    with pytest.raises(TypeError, match=rf"hx must be a tensor of shape \(batch, {size}\), got tuple"):
        layer(x, (torch.zeros(2, size), torch.zeros(2, size)))


def test_mixed_memory_state(make):
    layer = make(mixed_memory=True)
    x = torch.randn(2, 5, 3)
    size = layer.state_size
    with pytest.raises(TypeError, match=r"with mixed_memory=True, hx must be a tuple \(h, c\)"):
        layer(x, torch.zeros(2, size))
    with pytest.raises(ValueError, match=rf"state c must have shape \(2, {size}\), got \(2, 1\)"):
        layer(x, (torch.zeros(2, size), torch.zeros(2, 1)))


def test_wiring_built_for_another_input_size():
    wiring = AutoNCP(8, 2)
    CfC(3, wiring)
    with pytest.raises(ValueError, match="AutoNCP wiring was built for 3 input features and cannot be reused for 5"):
        CfC(5, wiring)
    with pytest.raises(ValueError, match="built for 3 input features and cannot be reused for 4"):
        LTC(4, wiring)
    ncp = NCP(3, 2, 1, 2, 2, 2, 1)
    LTC(2, ncp)
    with pytest.raises(ValueError, match="NCP wiring was built for 2 input features and cannot be reused for 6"):
        WiredCfCCell(6, ncp)
    with pytest.raises(ValueError, match="built for 2 input features and cannot be reused for 3"):
        LTCCell(ncp, 3)


@pytest.mark.parametrize("build,match", [
    (lambda: CfC(3, 4, mode="fast"), r"unknown mode 'fast'; valid options are \['default', 'no_gate', 'pure'\]"),
    (lambda: CfCCell(3, 4, mode="gated"), "unknown mode 'gated'; valid options"),
    (lambda: CfC(3, 4, activation="sigmoid"), "unknown activation 'sigmoid'; valid options are .*lecun_tanh"),
    (lambda: CfC(3, 4, backend="cuda"), r"unknown backend 'cuda'; valid options are \['auto', 'torch', 'triton'\]"),
    (lambda: LTC(3, 4, solver="rk45"), "unknown solver 'rk45'; valid options are .*semi_implicit.*dopri5"),
    (lambda: LTC(3, 4, input_mapping="relu"), "unknown input_mapping 'relu'; valid options"),
    (lambda: LTC(3, 4, output_mapping="scale"), "unknown output_mapping 'scale'; valid options"),
    (lambda: LTC(3, 4, ode_unfolds=0), "ode_unfolds must be a positive integer, got 0"),
    (lambda: CfC(0, 4), "input_size must be a positive integer, got 0"),
    (lambda: LTC(2.5, 4), "input_size must be a positive integer, got 2.5"),
    (lambda: CfC(3, 4, backbone_dropout=1.0), r"backbone_dropout must be in \[0, 1\)"),
    (lambda: CfC(3, 4, backbone_layers=-1), "backbone_layers must be >= 0"),
    (lambda: CfC(3, NCP(3, 2, 1, 2, 2, 2, 1), backbone_units=8), "a wired CfC has no backbone"),
    (lambda: LTCCell(FullyConnected(3)), "the wiring has no input size: pass in_features"),
])
def test_bad_construction_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("cls", [CfC, LTC])
@pytest.mark.parametrize("units", [0, "8", 4.0])
def test_bad_units(cls, units):
    with pytest.raises(TypeError, match=r"units must be a positive int or a Wiring, got"):
        cls(3, units)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_timespans_not_finite(make, bad):
    layer = make()
    x = torch.randn(2, 5, 3)
    ts = torch.ones(2, 5)
    ts[1, 2] = bad
    with pytest.raises(ValueError, match=f"timespans must be finite numbers.*found {'NaN' if bad != bad else 'inf'}"):
        layer(x, timespans=ts)
    with pytest.raises(ValueError, match=f"timespans must be finite, got {bad}"):
        layer(x, timespans=bad)
    with torch.no_grad(), pytest.raises(ValueError, match="timespans must be finite numbers"):
        layer(x, timespans=ts)
    # Finite in float64 but infinite in the input's float32.
    with pytest.raises(ValueError, match=r"found inf \(in the input's dtype, torch.float32\)"):
        layer(x, timespans=torch.full((2, 5), 1e300, dtype=torch.float64))


def test_timespans_of_another_dtype_are_converted(make):
    layer = make()
    x = torch.randn(2, 5, 3)
    expected = layer(x, timespans=torch.full((2, 5), 2.0))[0]
    for ts in (torch.full((2, 5), 2.0, dtype=torch.float64), torch.full((2, 5), 2, dtype=torch.int64)):
        torch.testing.assert_close(layer(x, timespans=ts)[0], expected)


def test_input_dtype_must_match_the_parameters(make):
    layer = make()
    with pytest.raises(TypeError, match=r"the input is torch.float64 but the layer's parameters are torch.float32; "
                                        r"convert one of them \(x.to\(torch.float32\) or layer.to\(torch.float64\)\)"):
        layer(torch.randn(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="the input is on meta but the layer's parameters are on cpu"):
        layer(torch.randn(2, 5, 3, device="meta"))


def test_state_dtype_and_device_must_match_the_input(make):
    layer = make()
    x = torch.randn(2, 5, 3)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            with pytest.raises(TypeError, match="state h is torch.float64 but the input is torch.float32"):
                layer(x, torch.zeros(2, layer.state_size, dtype=torch.float64))
            with pytest.raises(ValueError, match="state h is on meta but the input is on cpu"):
                layer(x, torch.zeros(2, layer.state_size, device="meta"))
    mixed = make(mixed_memory=True)
    with pytest.raises(TypeError, match="state c is torch.float16 but the input is torch.float32"):
        mixed(x, (torch.zeros(2, layer.state_size), torch.zeros(2, layer.state_size, dtype=torch.float16)))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-5), (torch.float16, 2e-2), (torch.bfloat16, 1e-1)])
def test_every_float_dtype_runs_through_pytorch(make, dtype, tol):
    """float64 (exact), float16 and bfloat16 (on the CPU: slower than float32, no C kernel) all run,
    with and without gradient, and agree with float32 to their precision."""
    torch.manual_seed(0)
    layer = make()
    x, ts = torch.randn(2, 5, 3), torch.rand(2, 5) + 0.5
    expected = layer(x, timespans=ts)[0]
    low = make()
    low.load_state_dict(layer.state_dict())
    low.to(dtype)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            y, h = low(x.to(dtype), torch.zeros(2, low.state_size, dtype=dtype), ts)
        assert y.dtype == h.dtype == dtype
        torch.testing.assert_close(y.float(), expected.detach(), rtol=tol, atol=tol)


def test_adaptive_solver_refuses_float16():
    layer = LTC(3, 4, solver="dopri5").half()
    with pytest.raises(TypeError, match="the adaptive solver 'dopri5' cannot step in float16"):
        layer(torch.randn(2, 5, 3, dtype=torch.float16))
    LTC(3, 4, solver="rk4").half()(torch.randn(2, 5, 3, dtype=torch.float16))  # fixed steps work
