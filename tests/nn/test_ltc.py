"""LTC layer and cell: state carrying, per-sample timespans, the cell, constraints, training."""

import io

import pytest
import torch

from liquidts.nn import LTC, LTCCell
from liquidts.wirings import NCP, AutoNCP, FullyConnected, Wiring

from ._helpers import TOL, assert_chunks_and_steps_equal_whole, assert_batch_equals_each_sample, make_data

CONFIGS = {
    "units": lambda: LTC(3, 5),
    "ncp": lambda: LTC(3, NCP(4, 3, 2, 2, 2, 3, 2)),
    "mixed": lambda: LTC(3, AutoNCP(8, 2), mixed_memory=True),
    "linear_maps": lambda: LTC(3, 4, input_mapping="linear", output_mapping=None, ode_unfolds=2),
}


def _data(batch=3, steps=8, **kw):
    return make_data(batch, steps, **kw)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_chunks_and_single_steps_equal_whole(config):
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data()
    assert_chunks_and_steps_equal_whole(model, x, ts, [(0, 2), (2, 3), (3, 8)])


@pytest.mark.parametrize("config", ["units", "mixed"])
def test_per_sample_timespans_equal_each_sample_alone(config):
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data(batch=4)
    assert_batch_equals_each_sample(model, x, ts)


def test_timespans_forms_and_layouts():
    torch.manual_seed(0)
    model = LTC(3, 4)
    x, ts = _data(batch=2, steps=5)
    y = model(x)[0]
    torch.testing.assert_close(model(x, timespans=1.0)[0], y)
    torch.testing.assert_close(model(x, timespans=torch.ones(2, 5, 1))[0], y)
    time_major = LTC(3, 4, batch_first=False, return_sequences=False)
    time_major.load_state_dict(model.state_dict())
    last, h_tm = time_major(x.transpose(0, 1), timespans=ts.t())
    y_bm, h_bm = model(x, timespans=ts)
    torch.testing.assert_close(last, y_bm[:, -1])
    torch.testing.assert_close(h_tm, h_bm)
    y1, h1 = model(x[0], timespans=ts[0])  # unbatched (T, F)
    torch.testing.assert_close(y1, y_bm[0])
    torch.testing.assert_close(h1, h_bm[0])


def test_cell_step_equals_first_step_of_layer():
    torch.manual_seed(0)
    model = LTC(3, NCP(4, 3, 2, 2, 2, 3, 2), ode_unfolds=4)
    cell = model.cell
    assert isinstance(cell, LTCCell)
    assert (cell.state_size, cell.sensory_size, cell.motor_size) == (9, 3, 2)
    x, ts = _data(steps=2)
    v0 = torch.randn(3, 9)
    y, h = model(x[:, :1], v0, ts[:, :1])
    for step_ts in (ts[:, 0], ts[:, :1]):
        out, v = cell(x[:, 0], v0, step_ts)
        torch.testing.assert_close(v, h, **TOL)
        torch.testing.assert_close(out, y[:, 0], **TOL)
    torch.testing.assert_close(cell(x[:, 0], v0)[1], model(x[:, :1], v0)[1], **TOL)


def test_fused_step_is_the_semi_implicit_euler_update():
    """One unfold by hand: v' = (cm v + h (gleak vleak + sum w a E)) / (cm + h (gleak + sum w a))."""
    torch.manual_seed(0)
    wiring = FullyConnected(3)
    cell = LTCCell(wiring, 2, input_mapping=None, output_mapping=None, ode_unfolds=1, epsilon=0.0,
                   implicit_param_constraints=False)
    x, v, dt = torch.randn(1, 2), torch.randn(1, 3), 0.7
    a_in = cell.sensory_w * torch.sigmoid(cell.sensory_sigma * (x.T - cell.sensory_mu))  # (I, N)
    a = cell.w * torch.sigmoid(cell.sigma * (v.T - cell.mu))  # (N, N)
    num = cell.gleak * cell.vleak + (a_in * cell.sensory_erev).sum(0) + (a * cell.erev).sum(0)
    den = cell.gleak + a_in.sum(0) + a.sum(0)
    expected = (cell.cm * v + dt * num) / (cell.cm + dt * den)
    out, v_new = cell(x, v, dt)
    torch.testing.assert_close(v_new, expected)
    torch.testing.assert_close(out, v_new)


def test_weight_constraints():
    torch.manual_seed(0)
    cell = LTCCell(FullyConnected(3), 2, implicit_param_constraints=False)
    with torch.no_grad():
        for p in (cell.w, cell.sensory_w, cell.cm, cell.gleak, cell.vleak):
            p.sub_(2.0)
    cell.apply_weight_constraints()
    for p in (cell.w, cell.sensory_w, cell.cm, cell.gleak):
        assert (p >= 0).all()
    assert (cell.vleak < 0).all()  # not a positive parameter: untouched
    wiring = FullyConnected(3)
    soft = LTCCell(wiring, 2, implicit_param_constraints=True)
    with torch.no_grad():
        soft.w.fill_(-3.0)
    soft.apply_weight_constraints()  # implicit: the raw values stay, softplus makes them positive
    assert (soft.w == -3.0).all()
    hard = LTCCell(wiring, 2, implicit_param_constraints=False)
    with torch.no_grad():
        for name, p in soft.named_parameters():
            positive = name in ("w", "sensory_w", "cm", "gleak")
            hard.get_parameter(name).copy_(torch.nn.functional.softplus(p) if positive else p)
    x, v = torch.randn(4, 2), torch.randn(4, 3)
    torch.testing.assert_close(soft(x, v, 0.8)[1], hard(x, v, 0.8)[1])


def test_sizes_and_defaults():
    model = LTC(3, 6)
    assert isinstance(model.wiring, FullyConnected)
    assert model.output_size == model.motor_size == 6 and model.state_size == 6
    assert model.solver == "semi_implicit" and model.cell.ode_unfolds == 6
    assert model.cell.implicit_param_constraints
    y, h = LTC(3, AutoNCP(10, 2), return_sequences=False)(torch.randn(4, 5, 3))
    assert y.shape == (4, 2) and h.shape == (4, 10)
    y, (h, c) = CONFIGS["mixed"]()(torch.randn(4, 5, 3))
    assert y.shape == (4, 5, 2) and h.shape == c.shape == (4, 8)


def test_state_dict_and_wiring_round_trip_rebuild_the_same_layer():
    torch.manual_seed(0)
    wiring = AutoNCP(8, 2, seed=3)
    model = LTC(3, wiring, mixed_memory=True)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(99)
    copy = LTC(3, Wiring.from_dict(wiring.to_dict()), mixed_memory=True)
    copy.load_state_dict(torch.load(buffer, weights_only=True))
    x, ts = _data()
    torch.testing.assert_close(copy(x, timespans=ts)[0], model(x, timespans=ts)[0])


@pytest.mark.parametrize("units", ["dense", "wired"])
def test_ltc_learns(units):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    ts = 0.5 + torch.rand(16, 16, generator=gen)
    t = ts.cumsum(1)
    phase = torch.rand(16, 1, generator=gen) * 6.0
    x = torch.sin(t + phase).unsqueeze(-1)
    target = 0.5 * torch.cos(t + phase).unsqueeze(-1)
    model = LTC(1, FullyConnected(6, 1) if units == "dense" else AutoNCP(8, 1), ode_unfolds=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, timespans=ts)[0], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("config", ["units", "ncp"])
def test_timespans_gradient(config):
    """Gradients w.r.t. timespans (the autograd path) are right, and the other gradients agree
    with those of the path taken when timespans need none."""
    torch.manual_seed(0)
    model = CONFIGS[config]().double()
    x, ts = _data(batch=2, steps=3)
    x, ts = x.double(), ts.double() + 0.1
    y1, h1 = model(x, timespans=ts)
    g1 = torch.autograd.grad(y1.square().sum() + h1.sum(), list(model.parameters()))
    ts_leaf = ts.clone().requires_grad_(True)
    y2, h2 = model(x, timespans=ts_leaf)
    g2 = torch.autograd.grad(y2.square().sum() + h2.sum(), list(model.parameters()))
    torch.testing.assert_close(y2, y1)
    for a, b in zip(g2, g1):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda t: model(x, timespans=t)[0], (ts_leaf,))


@pytest.mark.parametrize("steps,batch", [(1, 1), (33, 5), (6, 2)])
@pytest.mark.parametrize("wiring,options", [
    (lambda: NCP(4, 3, 2, 2, 2, 3, 2), {}),
    (lambda: AutoNCP(10, 3, sparsity_level=0.7), dict(implicit_param_constraints=False, ode_unfolds=2)),
    (lambda: FullyConnected(5, 2), dict(input_mapping="linear", output_mapping=None, epsilon=1e-2)),
], ids=["ncp", "auto_ncp_clip", "fully_connected"])
def test_fast_fused_path_matches_autograd_loop(wiring, options, steps, batch):
    """The layer's fast path for the fused solver equals the step loop differentiated by autograd
    (taken when timespans need a gradient): outputs, state and every gradient, zero timespans included."""
    torch.manual_seed(0)
    model = LTC(3, wiring(), **options).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, steps, 3, generator=gen, dtype=torch.float64)
    ts = torch.rand(batch, steps, generator=gen, dtype=torch.float64) * 2.0
    ts[0, 0] = 0.0
    v0 = torch.randn(batch, model.state_size, generator=gen, dtype=torch.float64)
    results = []
    for ts_grad in (False, True):
        xs, vs = x.clone().requires_grad_(True), v0.clone().requires_grad_(True)
        y, h = model(xs, vs, ts.clone().requires_grad_(ts_grad))
        leaves = [xs, vs, *model.parameters()]
        grads = torch.autograd.grad((y * y.detach().cos()).sum() + h.sum(), leaves)
        results.append((y, h, grads))
    (y1, h1, g1), (y2, h2, g2) = results
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-12)
    names = ["x", "hx"] + [n for n, _ in model.named_parameters()]
    for name, a, b in zip(names, g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m: f"gradient of {name}: {m}")
