"""``from_ncps``: a converted ncps layer computes the same outputs, states and gradients.

ncps 1.0.1 reads per-sample ``timespans`` correctly only for batch 1, so runs with timespans are
compared one sample at a time; ``test_cfc.py``/``test_ltc.py`` check that liquidts's batched result
equals each sample run alone.
"""

import pytest
import torch
from ncps import torch as ncps_torch
from ncps import wirings as ncps_wirings

from liquidts import wirings
from liquidts.nn import CfC, LTC, from_ncps

TOL = dict(rtol=1e-5, atol=1e-5)
HEADS = ("ff1", "ff2", "time_a", "time_b")


def _ncps_wiring(kind):
    return {
        "fully_connected": lambda: ncps_wirings.FullyConnected(5, 2),
        "random": lambda: ncps_wirings.Random(6, 3, sparsity_level=0.5, random_seed=7),
        "ncp": lambda: ncps_wirings.NCP(4, 3, 2, 2, 2, 3, 2, seed=3),
        "auto_ncp": lambda: ncps_wirings.AutoNCP(9, 2, seed=5),
    }[kind]()


def _liquid_grad(ref, model, name):
    """The liquidts gradient of the parameter ncps calls ``name``."""
    top, _, rest = name.partition(".")
    if top == "lstm":
        return model.memory.get_parameter(rest).grad
    if top == "fc":
        return model.fc.get_parameter(rest).grad
    if isinstance(model, LTC):
        return model.cell.get_parameter(rest).grad
    parts = rest.split(".")
    cell = model.cells[0]
    if parts[0].startswith("layer_"):
        cell = model.cells[int(parts[0][len("layer_"):])]
        parts = parts[1:]
    if parts[0] in HEADS:
        k, size = HEADS.index(parts[0]), cell.hidden_size
        return getattr(cell.head, parts[1]).grad[k * size: (k + 1) * size]
    if parts[0] == "backbone":
        linears = [m for m in ref.rnn_cell.backbone if isinstance(m, torch.nn.Linear)]
        k = linears.index(ref.rnn_cell.backbone[int(parts[1])])
        return getattr(cell.backbone[k], parts[2]).grad
    return getattr(cell, parts[0]).grad.reshape(1, -1)  # pure mode's w_tau, A: (1, H) in ncps


def _run(model, x, hx, ts, weights):
    """Forward, then backward of a fixed random projection of the outputs and final state."""
    y, h = model(x, hx, ts)
    states = h if isinstance(h, tuple) else (h,)
    loss = (y * weights[0]).sum() + sum((s * w).sum() for s, w in zip(states, weights[1:]))
    loss.backward()
    return y, states


def assert_same_as_ncps(ref, *, batch=3, steps=7, timespans=False, hx=False):
    """Compare ``from_ncps(ref)`` with ``ref`` on one random input (and state/timespans)."""
    ref.zero_grad(set_to_none=True)
    model = from_ncps(ref)
    torch.manual_seed(1)
    shape = (batch, steps) if ref.batch_first else (steps, batch)
    x = torch.randn(*shape, ref.input_size)
    ts = torch.rand(*shape) * 2.0 if timespans else None
    state = None
    if hx:
        h0 = torch.randn(batch, ref.state_size)
        state = (h0, torch.randn(batch, ref.state_size)) if ref.use_mixed else h0
    with torch.no_grad():
        y_shape = model(x, state, ts)[0].shape
    n_states = 2 if ref.use_mixed else 1
    weights = [torch.randn(y_shape)] + [torch.randn(batch, ref.state_size) for _ in range(n_states)]

    def leaf(t):
        return None if t is None else t.clone().requires_grad_(True)

    x_ref, x_lt = leaf(x), leaf(x)
    s_ref = tuple(leaf(s) for s in state) if isinstance(state, tuple) else leaf(state)
    s_lt = tuple(leaf(s) for s in state) if isinstance(state, tuple) else leaf(state)
    y_ref, h_ref = _run(ref, x_ref, s_ref, ts, weights)
    y_lt, h_lt = _run(model, x_lt, s_lt, ts, weights)

    assert y_lt.shape == y_ref.shape
    torch.testing.assert_close(y_lt, y_ref, **TOL)
    for a, b in zip(h_lt, h_ref):
        torch.testing.assert_close(a, b, **TOL)
    torch.testing.assert_close(x_lt.grad, x_ref.grad, **TOL)
    if hx:
        for a, b in zip(s_lt if isinstance(s_lt, tuple) else (s_lt,), s_ref if isinstance(s_ref, tuple) else (s_ref,)):
            torch.testing.assert_close(a.grad, b.grad, **TOL)
    checked = 0
    for name, p in ref.named_parameters():
        if not p.requires_grad:
            continue
        grad = _liquid_grad(ref, model, name)
        torch.testing.assert_close(grad, p.grad, **TOL, msg=lambda m: f"gradient of {name}: {m}")
        checked += 1
    assert checked == sum(p.requires_grad for p in ref.parameters())
    # Every liquidts parameter is some ncps parameter (none left untested).
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in ref.parameters() if p.requires_grad)
    return model


UNWIRED = [(mode, layers, act) for mode, act_cycle in
           [("default", ["lecun_tanh", "relu", "silu"]), ("no_gate", ["tanh", "gelu", "lecun_tanh"]),
            ("pure", ["silu", "tanh", "gelu"])]
           for layers, act in zip((0, 1, 2), act_cycle)]


@pytest.mark.parametrize("timespans", [False, True], ids=["ts_none", "ts_batch1"])
@pytest.mark.parametrize("mode,layers,activation", UNWIRED)
def test_cfc_unwired(mode, layers, activation, timespans):
    torch.manual_seed(0)
    ref = ncps_torch.CfC(3, 5, mode=mode, activation=activation, backbone_units=8, backbone_layers=layers)
    model = assert_same_as_ncps(ref, batch=1 if timespans else 3, timespans=timespans, hx=timespans)
    assert model.cell.backbone_layers == layers
    if layers:  # without a backbone ncps keeps no trace of the activation, and none is used
        assert model.cell.activation == activation


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("kind", ["fully_connected", "random", "ncp", "auto_ncp"])
def test_cfc_wired(kind, mode):
    torch.manual_seed(0)
    ref = ncps_torch.CfC(3, _ncps_wiring(kind), mode=mode)
    model = assert_same_as_ncps(ref)
    assert model.output_size == ref.output_size
    assert len(model.cells) == ref.wiring.num_layers
    assert_same_as_ncps(ref, batch=1, timespans=True, hx=True)


@pytest.mark.parametrize("wired", [False, True])
def test_cfc_mixed_memory(wired):
    torch.manual_seed(0)
    units = _ncps_wiring("ncp") if wired else 5
    kwargs = {} if wired else dict(backbone_units=8)
    ref = ncps_torch.CfC(3, units, mixed_memory=True, **kwargs)
    assert_same_as_ncps(ref)
    assert_same_as_ncps(ref, batch=1, timespans=True, hx=True)


@pytest.mark.parametrize("wired", [False, True])
def test_cfc_last_output_projection_time_major(wired):
    torch.manual_seed(0)
    units = _ncps_wiring("auto_ncp") if wired else 5
    kwargs = {} if wired else dict(backbone_units=8, backbone_layers=2)
    for options in (dict(return_sequences=False), dict(proj_size=4), dict(batch_first=False),
                    dict(return_sequences=False, proj_size=2, batch_first=False)):
        ref = ncps_torch.CfC(3, units, **options, **kwargs)
        model = assert_same_as_ncps(ref, hx=True)
        # ncps reports the unprojected size as output_size; liquidts the size of what it returns.
        assert model.output_size == options.get("proj_size", ref.output_size)
    assert_same_as_ncps(ref, batch=1, timespans=True)


def test_cfc_backbone_dropout_is_copied():
    ref = ncps_torch.CfC(3, 5, backbone_units=8, backbone_layers=2, backbone_dropout=0.3).eval()
    model = from_ncps(ref)
    assert model.cell.backbone_dropout == 0.3
    model.eval()
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(model(x)[0], ref(x)[0], **TOL)


@pytest.mark.parametrize("timespans", [False, True], ids=["ts_none", "ts_batch1"])
@pytest.mark.parametrize("kind", ["units", "fully_connected", "random", "ncp", "auto_ncp"])
def test_ltc(kind, timespans):
    torch.manual_seed(0)
    ref = ncps_torch.LTC(3, 4 if kind == "units" else _ncps_wiring(kind))
    assert_same_as_ncps(ref, batch=1 if timespans else 3, timespans=timespans, hx=timespans)


@pytest.mark.parametrize("options", [
    dict(mixed_memory=True), dict(return_sequences=False, batch_first=False), dict(batch_first=False),
    dict(input_mapping="linear", output_mapping=None, ode_unfolds=3, implicit_param_constraints=False),
    dict(input_mapping=None, output_mapping="linear", epsilon=1e-3),
], ids=["mixed", "last_time_major", "time_major", "linear_clip", "no_input_map"])
def test_ltc_options(options):
    torch.manual_seed(0)
    ref = ncps_torch.LTC(3, _ncps_wiring("ncp"), **options)
    model = assert_same_as_ncps(ref, hx=True)
    assert model.cell.ode_unfolds == ref.rnn_cell._ode_unfolds
    assert_same_as_ncps(ref, batch=1, timespans=True)


def test_ltc_weight_constraints_match():
    torch.manual_seed(0)
    ref = ncps_torch.LTC(3, 4, implicit_param_constraints=False)
    with torch.no_grad():
        for p in ref.parameters():
            p.sub_(0.7)
    model = from_ncps(ref)
    ref.rnn_cell.apply_weight_constraints()
    model.cell.apply_weight_constraints()
    clipped = 0
    for name, p in ref.rnn_cell.named_parameters():
        torch.testing.assert_close(getattr(model.cell, name).detach(), p.detach())
        clipped += int((p == 0).any())
    assert clipped == 4  # w, sensory_w, cm, gleak


def test_converted_wiring_and_parameters_are_copies():
    ref = ncps_torch.CfC(3, _ncps_wiring("ncp"))
    model = from_ncps(ref)
    assert isinstance(model.wiring, wirings.NCP)
    assert (model.wiring.adjacency_matrix == ref.wiring.adjacency_matrix).all()
    assert (model.wiring.sensory_adjacency_matrix == ref.wiring.sensory_adjacency_matrix).all()
    with torch.no_grad():
        model.cells[0].head.weight.add_(1.0)
    assert not torch.equal(model.cells[0].head.weight[:2], ref.rnn_cell.layer_0.ff1.weight[:2])


def test_rejects_other_modules():
    with pytest.raises(TypeError, match="ncps.torch.CfC or ncps.torch.LTC.*GRU"):
        from_ncps(torch.nn.GRU(3, 4))
    assert isinstance(from_ncps(ncps_torch.LTC(2, 3)), LTC)
    assert isinstance(from_ncps(ncps_torch.CfC(2, 3, backbone_units=4)), CfC)


def test_ltc_large_dense_wiring():
    """Dense wirings of many neurons take another code path than small or sparse ones."""
    torch.manual_seed(0)
    ref = ncps_torch.LTC(2, 140, ode_unfolds=2)
    assert_same_as_ncps(ref, batch=2, steps=3, hx=True)


@pytest.mark.parametrize("make", [lambda: ncps_torch.CfC(3, _ncps_wiring("ncp"), mixed_memory=True),
                                  lambda: ncps_torch.LTC(3, _ncps_wiring("auto_ncp"))], ids=["cfc", "ltc"])
def test_unbatched_sequences(make):
    torch.manual_seed(0)
    ref = make()
    model = from_ncps(ref)
    x, ts = torch.randn(6, 3), torch.rand(6)
    with torch.no_grad():
        for args in [(x,), (x, None, ts)]:
            y_ref, h_ref = ref(*args)
            y, h = model(*args)
            torch.testing.assert_close(y, y_ref, **TOL)
            for a, b in zip(h if isinstance(h, tuple) else (h,), h_ref if isinstance(h_ref, tuple) else (h_ref,)):
                assert a.shape == b.shape and a.dim() == 1
                torch.testing.assert_close(a, b, **TOL)
