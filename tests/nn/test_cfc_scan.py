"""The hand-written CfC backward (``scan.py``) against autograd through ``cfc_reference``.

Both run on the same weights; every output and every gradient (inputs, initial states, each
weight of each cell) must agree. Float64 for a tight tolerance, then float32 and bfloat16.
"""

import sys

import pytest
import torch
import torch.nn.functional as F

from liquidts.activations import ACTIVATIONS
from liquidts.kernels.cfc import cfc_reference, cfc_scan, effective
from liquidts.nn import CfC, CfCCell, WiredCfCCell
from liquidts.wirings import NCP, AutoNCP, Random

INPUTS = 3


def _perturb(module):
    """Non-trivial values for parameters initialised to constants (pure mode's w_tau = 0, A = 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("w_tau") or name.endswith(".A") or name == "A":
                p.copy_(torch.randn_like(p))


def _cells(module):
    return list(module.layers) if isinstance(module, WiredCfCCell) else [module]


def _grads_both_ways(module, batch, steps, mode, activation, timespans, dtype=torch.float64, seed=0):
    """(outputs, gradients) of the reference and of the scan, on identical inputs and weights."""
    gen = torch.Generator().manual_seed(seed)
    module = module.to(dtype)
    cells = _cells(module)

    def randn(*shape):  # drawn in float64 so every dtype sees the same values
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)

    x = randn(batch, steps, INPUTS).requires_grad_(True)
    h0 = [randn(batch, c.hidden_size).requires_grad_(True) for c in cells]
    if timespans:
        ts = (torch.rand(steps, batch, 1, generator=gen, dtype=torch.float64) * 2.0).to(dtype)
        ts[0, 0] = 0.0  # an elapsed time of zero is legal
    else:
        ts = torch.ones(steps, batch, 1, dtype=dtype)
    weights_out = [randn(steps, batch, c.hidden_size) for c in cells]
    leaves = [x, *h0, *module.parameters()]
    results = []
    for run in ("reference", "scan"):
        w = [c.weights() for c in cells]
        x_proj = F.linear(x.transpose(0, 1), w[0].in_weight, w[0].bias)  # (T, B, K0)
        if run == "reference":
            states, _ = cfc_reference(x_proj, h0, ts, w, mode, activation)
        else:
            states = cfc_scan(x_proj, h0, ts, [effective(c) for c in w], mode, activation)
        loss = sum((s * r).sum() for s, r in zip(states, weights_out))
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        results.append(([s.detach() for s in states], grads))
    names = ["x"] + [f"h0[{i}]" for i in range(len(cells))] + [n for n, _ in module.named_parameters()]
    return results, names


def _assert_agree(results, names, **tol):
    (ref_states, ref_grads), (scan_states, scan_grads) = results
    for a, b in zip(scan_states, ref_states):
        torch.testing.assert_close(a, b, **tol)
    for name, a, b in zip(names, scan_grads, ref_grads):
        assert (a is None) == (b is None), name
        if a is not None:
            torch.testing.assert_close(a, b, **tol, msg=lambda m: f"gradient of {name}: {m}")
            assert a.abs().sum() > 0 or b.abs().sum() == 0, name


TIGHT = dict(rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("layers", [0, 1, 2])
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_unwired_every_mode_depth_activation(mode, layers, activation):
    torch.manual_seed(0)
    cell = CfCCell(INPUTS, 5, mode, activation, backbone_units=6, backbone_layers=layers)
    _perturb(cell)
    results, names = _grads_both_ways(cell, batch=3, steps=33, mode=mode, activation=activation, timespans=True)
    _assert_agree(results, names, **TIGHT)


@pytest.mark.parametrize("timespans", [False, True])
@pytest.mark.parametrize("steps,batch", [(1, 1), (1, 5), (33, 1), (33, 7), (4, 2)])
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_shapes_and_timespans(mode, steps, batch, timespans):
    torch.manual_seed(1)
    cell = CfCCell(INPUTS, 4, mode, "lecun_tanh", backbone_units=5, backbone_layers=1)
    _perturb(cell)
    results, names = _grads_both_ways(cell, batch, steps, mode, "lecun_tanh", timespans)
    _assert_agree(results, names, **TIGHT)


@pytest.mark.parametrize("steps", [1, 33])
@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("wiring", [
    lambda: NCP(4, 3, 2, 2, 2, 3, 2, seed=1), lambda: AutoNCP(9, 2, seed=2), lambda: Random(5, 2, 0.5)],
    ids=["ncp", "auto_ncp", "random"])
def test_wired_cascade(wiring, mode, steps):
    torch.manual_seed(2)
    cell = WiredCfCCell(INPUTS, wiring(), mode)
    _perturb(cell)
    results, names = _grads_both_ways(cell, batch=3, steps=steps, mode=mode, activation="lecun_tanh",
                                      timespans=True)
    _assert_agree(results, names, **TIGHT)
    # Masked-out synapses get no gradient (the wiring stays sparse under training).
    for layer, grad in zip(cell.layers, (g for n, g in zip(names, results[1][1]) if n.endswith("head.weight"))):
        rows = 2 * layer.hidden_size if mode != "pure" else layer.hidden_size
        assert (grad[:rows][layer.head_mask[:rows] == 0] == 0).all()


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_float32(mode):
    torch.manual_seed(3)
    cell = CfCCell(INPUTS, 8, mode, "silu", backbone_units=16, backbone_layers=2)
    _perturb(cell)
    results, names = _grads_both_ways(cell, 5, 33, mode, "silu", True, dtype=torch.float32)
    _assert_agree(results, names, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_bfloat16_loose(mode):
    """bfloat16 keeps ~3 significant digits: compare with the float64 reference loosely."""
    torch.manual_seed(4)
    cell = CfCCell(INPUTS, 8, mode, "lecun_tanh", backbone_units=16, backbone_layers=1)
    _perturb(cell)
    ref64 = CfCCell(INPUTS, 8, mode, "lecun_tanh", backbone_units=16, backbone_layers=1)
    with torch.no_grad():
        cell.to(torch.bfloat16)
        ref64.load_state_dict({k: v.to(torch.float64) for k, v in cell.state_dict().items()})
        ref64.to(torch.float64)
    low, names = _grads_both_ways(cell, 4, 12, mode, "lecun_tanh", True, dtype=torch.bfloat16)
    high, _ = _grads_both_ways(ref64, 4, 12, mode, "lecun_tanh", True, dtype=torch.float64)
    scan_states, scan_grads = low[1]
    ref_states, ref_grads = high[0]
    assert all(s.dtype == torch.bfloat16 for s in scan_states)
    for a, b in zip(scan_states, ref_states):
        torch.testing.assert_close(a.double(), b, rtol=0.05, atol=0.05)
    for name, a, b in zip(names, scan_grads, ref_grads):
        scale = b.abs().max().clamp(min=1.0)
        assert (a.double() - b).abs().max() <= 0.06 * scale, name


def test_layer_uses_the_scan_and_agrees_with_its_autograd_path():
    """The layer routes to the scan normally and to the reference when timespans need a gradient."""
    torch.manual_seed(5)
    model = CfC(INPUTS, NCP(4, 3, 2, 2, 2, 3, 2), mode="default").double()
    x = torch.randn(3, 9, INPUTS, dtype=torch.float64)
    ts = torch.rand(3, 9, dtype=torch.float64)
    y1, h1 = model(x, timespans=ts)
    g1 = torch.autograd.grad(y1.square().sum() + h1.sum(), list(model.parameters()))
    y2, h2 = model(x, timespans=ts.clone().requires_grad_(True))
    g2 = torch.autograd.grad(y2.square().sum() + h2.sum(), list(model.parameters()))
    torch.testing.assert_close(y1, y2, **TIGHT)
    torch.testing.assert_close(h1, h2, **TIGHT)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, **TIGHT)


def test_triton_backend_on_cpu_explains_itself(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    model = CfC(INPUTS, 4, backbone_units=4, backend="triton")
    with pytest.raises(RuntimeError, match="backend='triton' cannot run.*TRITON_INTERPRET=1"):
        model(torch.randn(2, 3, INPUTS))


def test_without_triton_auto_runs_and_triton_explains(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` now raises ImportError
    x = torch.randn(2, 3, INPUTS)
    model = CfC(INPUTS, 4, backbone_units=4)
    expected = model(x)[0]
    model.backend = "triton"
    with pytest.raises(RuntimeError, match="backend='triton' cannot run: triton is not importable"):
        model(x)
    model.backend = "auto"
    torch.testing.assert_close(model(x)[0], expected)
