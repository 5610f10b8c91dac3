"""LTC solvers: the fused semi-implicit default and torchdiffeq's fixed-step, adaptive and adjoint."""

import pytest
import torch
import torch.nn.functional as F

from liquidts.nn import LTC
from liquidts.wirings import NCP, FullyConnected

F64 = torch.float64


def _layer(solver="semi_implicit", wiring=None, **kwargs):
    torch.manual_seed(0)
    return LTC(2, wiring or NCP(3, 3, 2, 2, 2, 2, 2), solver=solver, **kwargs).to(F64)


def _data(batch=3, steps=4):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, steps, 2, generator=gen, dtype=F64)
    ts = 0.2 + torch.rand(batch, steps, generator=gen, dtype=F64)
    return x, ts, torch.randn(batch, 8, generator=gen, dtype=F64) * 0.5


def _currents(cell, x_mapped, v):
    """(drive, conductance) with cm dv/dt = drive - v * conductance, from the cell's parameters."""
    pos = F.softplus
    a_in = pos(cell.sensory_w) * torch.sigmoid(cell.sensory_sigma * (x_mapped.unsqueeze(-1) - cell.sensory_mu))
    a_in = a_in * cell.sensory_sparsity_mask  # (B, I, N)
    a = pos(cell.w) * torch.sigmoid(cell.sigma * (v.unsqueeze(-1) - cell.mu)) * cell.sparsity_mask  # (B, N, N)
    drive = pos(cell.gleak) * cell.vleak + (a_in * cell.sensory_erev).sum(1) + (a * cell.erev).sum(1)
    conductance = pos(cell.gleak) + a_in.sum(1) + a.sum(1)
    return drive, conductance


def _rhs(cell, x_mapped, v):
    """dv/dt of the LTC ODE written out from the cell's parameters (softplus constraints)."""
    drive, conductance = _currents(cell, x_mapped, v)
    return (drive - v * conductance) / F.softplus(cell.cm)


def _by_hand(layer, x, ts, v, step, rhs=_rhs):
    """Integrate with ``step(f, v, h)`` taking ode_unfolds steps per input step; returns (outputs, v)."""
    cell = layer.cell
    outs = []
    for t in range(x.shape[1]):
        xm = cell.map_inputs(x[:, t])
        h = ts[:, t: t + 1] / cell.ode_unfolds
        for _ in range(cell.ode_unfolds):
            v = step(lambda u: rhs(cell, xm, u), v, h)
        outs.append(cell.map_outputs(v))
    return torch.stack(outs, 1), v


def test_default_solver_is_fused_semi_implicit():
    layer = LTC(2, 4)
    assert layer.solver == "semi_implicit" and not layer.adjoint


@pytest.mark.parametrize("wiring", [None, FullyConnected(8, 3)], ids=["ncp", "fully_connected"])
def test_fused_solver_takes_ode_unfolds_semi_implicit_steps(wiring):
    """v' = (cm v + h drive(v)) / (cm + h (conductance(v) + epsilon)), ode_unfolds times per step."""
    layer = _layer(wiring=wiring, ode_unfolds=3, epsilon=1e-3)
    x, ts, v0 = _data()
    cm, eps = F.softplus(layer.cell.cm), layer.cell.epsilon

    def semi_implicit(currents, v, h):
        drive, conductance = currents(v)
        return (cm * v + h * drive) / (cm + h * (conductance + eps))

    y, h = layer(x, v0, ts)
    y_ref, h_ref = _by_hand(layer, x, ts, v0, semi_implicit, rhs=_currents)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(y, y_ref)


def test_euler_takes_ode_unfolds_explicit_steps():
    layer = _layer("euler", ode_unfolds=3)
    x, ts, v0 = _data()
    y, h = layer(x, v0, ts)
    y_ref, h_ref = _by_hand(layer, x, ts, v0, lambda f, v, h: v + h * f(v))
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(y, y_ref)


def test_rk4_takes_ode_unfolds_fourth_order_steps():
    layer = _layer("rk4", ode_unfolds=2)
    x, ts, v0 = _data()

    def rk4_three_eighths(f, v, h):  # torchdiffeq's "rk4" is the 3/8-rule Runge-Kutta method
        k1 = f(v)
        k2 = f(v + h * k1 / 3)
        k3 = f(v + h * (k2 - k1 / 3))
        k4 = f(v + h * (k1 - k2 + k3))
        return v + h * (k1 + 3 * (k2 + k3) + k4) / 8

    y, h = layer(x, v0, ts)
    y_ref, h_ref = _by_hand(layer, x, ts, v0, rk4_three_eighths)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(y, y_ref)


def _fine_rk4(layer, x, ts, v0):
    fine = _layer("rk4", ode_unfolds=64)
    fine.load_state_dict(layer.state_dict())
    return fine(x, v0, ts)


def test_dopri5_matches_a_fine_rk4_solution():
    layer = _layer("dopri5", rtol=1e-8, atol=1e-10)
    x, ts, v0 = _data()
    y, h = layer(x, v0, ts)
    y_ref, h_ref = _fine_rk4(layer, x, ts, v0)
    torch.testing.assert_close(h, h_ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-7)
    loose = _layer("dopri5", rtol=1e-3, atol=1e-4)
    assert (loose(x, v0, ts)[1] - h_ref).abs().max() < 1e-2


def test_fused_solver_converges_to_the_same_ode_solution():
    """Semi-implicit Euler is first order: the error to the exact solution shrinks ~ 1/ode_unfolds."""
    x, ts, v0 = _data()
    _, exact = _fine_rk4(_layer(), x, ts, v0)
    errors = []
    for unfolds in (4, 64):
        layer = _layer(ode_unfolds=unfolds)
        errors.append((layer(x, v0, ts)[1] - exact).abs().max().item())
    assert errors[1] < errors[0] / 8 and errors[1] < 5e-3, errors


@pytest.mark.parametrize("wiring", [None, FullyConnected(8, 2)], ids=["ncp", "fully_connected"])
def test_adjoint_gradients_match_direct(wiring):
    """With tight tolerances the adjoint's backward solve gives the direct gradients."""
    kwargs = dict(rtol=1e-9, atol=1e-10, wiring=wiring)
    direct, adjoint = _layer("dopri5", **kwargs), _layer("dopri5", adjoint=True, **kwargs)
    adjoint.load_state_dict(direct.state_dict())
    x, ts, v0 = _data(steps=3)
    grads = []
    for layer in (direct, adjoint):
        xs, v = x.clone().requires_grad_(True), v0.clone().requires_grad_(True)
        y, h = layer(xs, v, ts)
        (y.square().sum() + h.sum()).backward()
        grads.append([xs.grad, v.grad] + [p.grad for p in layer.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[1][:2])


def test_one_state_dict_loads_into_every_solver():
    x, ts, v0 = _data()
    base = _layer()
    state = base.state_dict()
    _, exact = _fine_rk4(base, x, ts, v0)
    for solver, kwargs in [("euler", {}), ("rk4", {}), ("dopri5", dict(rtol=1e-7, atol=1e-9)),
                           ("semi_implicit", dict(ode_unfolds=12))]:
        torch.manual_seed(5)
        layer = LTC(2, NCP(3, 3, 2, 2, 2, 2, 2), solver=solver, **kwargs).to(F64)
        layer.load_state_dict(state)
        assert set(layer.state_dict()) == set(state)
        _, h = layer(x, v0, ts)
        assert (h - exact).abs().max() < 0.05, solver


@pytest.mark.parametrize("solver", ["semi_implicit", "euler", "dopri5"])
def test_zero_timespans_leave_the_state_unchanged(solver):
    layer = _layer(solver)
    x, _, v0 = _data()
    y, h = layer(x, v0, torch.zeros(3, 4, dtype=F64))
    torch.testing.assert_close(h, v0, rtol=0, atol=1e-12)
    torch.testing.assert_close(y, layer.cell.map_outputs(v0).unsqueeze(1).expand_as(y), rtol=0, atol=1e-12)
    ts = torch.ones(3, 4, dtype=F64)
    ts[1, 2] = 0.0  # one sample pauses for one step: its state then is its state of the step before
    y, _ = layer(x, v0, ts)
    torch.testing.assert_close(y[1, 2], y[1, 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["rk4", "dopri5"])
def test_torchdiffeq_per_sample_timespans(solver):
    """odeint integrates one time grid; the layer rescales time so each sample gets its own dt."""
    layer = _layer(solver, rtol=1e-9, atol=1e-10)
    x, ts, v0 = _data()
    y, h = layer(x, v0, ts)
    for b in range(3):
        yb, hb = layer(x[b: b + 1], v0[b: b + 1], ts[b: b + 1])
        torch.testing.assert_close(hb, h[b: b + 1], rtol=1e-7, atol=1e-8)
        torch.testing.assert_close(yb, y[b: b + 1], rtol=1e-7, atol=1e-8)


def test_dense_wiring_with_a_torchdiffeq_solver():
    torch.manual_seed(0)
    layer = LTC(2, FullyConnected(4, 2), solver="euler", ode_unfolds=2).to(F64)
    x, ts, _ = _data()
    v0 = torch.zeros(3, 4, dtype=F64)
    y, h = layer(x, v0, ts)
    y_ref, h_ref = _by_hand(layer, x, ts, v0, lambda f, v, h: v + h * f(v))
    torch.testing.assert_close(h, h_ref)
    assert y.shape == (3, 4, 2)


def test_solver_names_are_torchdiffeqs():
    """liquidts lists torchdiffeq's methods itself (its table is private); they must stay the same."""
    from torchdiffeq._impl.odeint import SOLVERS
    from torchdiffeq._impl.solvers import FixedGridODESolver

    from liquidts.nn.ode import ADAPTIVE, FIXED_GRID

    usable = {name for name in SOLVERS if name != "scipy_solver"}  # scipy's needs numpy arrays, no autograd
    assert set(ADAPTIVE) | set(FIXED_GRID) == usable
    assert {n for n in usable if issubclass(SOLVERS[n], FixedGridODESolver)} == set(FIXED_GRID)
