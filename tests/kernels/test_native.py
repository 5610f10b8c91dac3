"""The C kernels (``kernels/*/*.c``) against their PyTorch paths, and how they are built and refused.

The LTC's fused solver in C must give the outputs and every gradient of ``scan.py`` (itself tested
against autograd); CfC inference in C must give ``inference.py``'s states. Layers are compared with
the C kernels on and off (``LIQUIDTS_NATIVE=0``).
"""

import shutil
import subprocess
import sys

import pytest
import torch

from liquidts.kernels import native
from liquidts.kernels.cfc import native as cfc_native
from liquidts.kernels.ltc import Synapses, ltc_scan, ltc_scan_native, native_unavailable_reason
from liquidts.nn import LTC, CfC
from liquidts.wirings import NCP, AutoNCP, FullyConnected, Random

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")

TOL = dict(rtol=1e-5, atol=2e-6)


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch):
    monkeypatch.delenv("LIQUIDTS_NATIVE", raising=False)


def _both_ways(monkeypatch, fn):
    """fn() with the C kernels, then with the PyTorch paths."""
    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    with_c = fn()
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    without = fn()
    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    return with_c, without


# --- LTC fused solver -------------------------------------------------------------------------

def _edge_matrices(n, syn):
    """scan.py's gather/scatter form of a synapse list."""
    e = syn.src.numel()
    gather = torch.zeros(n, e)
    gather[syn.src, torch.arange(e)] = 1.0
    scatter = torch.zeros(e, 2 * n)
    scatter[torch.arange(e), syn.dst] = 1.0
    scatter[torch.arange(e), syn.dst + n] = 1.0
    return gather * syn.sigma, syn.bias, scatter * torch.stack([syn.werev, syn.w], 1).repeat_interleave(n, 1)


@pytest.mark.parametrize("wiring", [AutoNCP(12, 2), FullyConnected(5), Random(8, 3, sparsity_level=0.6)],
                         ids=["autoncp", "full", "random"])
@pytest.mark.parametrize("batch,steps,unfolds", [(1, 1, 1), (5, 7, 6), (3, 4, 2)])
def test_ltc_scan_matches_pytorch_scan(wiring, batch, steps, unfolds):
    layer = LTC(3, wiring)
    cell, n = layer.cell, wiring.units
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, steps, 3, generator=gen)
    dt = torch.rand(steps, batch, 1, generator=gen) * 2.0
    dt[0, 0] = 0.0  # no elapsed time: the state must pass through unchanged
    d = cell.dynamics()
    base = cell.with_epsilon(d["leak"] + cell.input_terms(cell.map_inputs(x))).transpose(0, 1)
    leaves = [base.detach(), torch.randn(batch, n, generator=gen), d["cm"].detach(),
              *(t.detach() for t in cell.synapses()[2:])]
    for t in leaves:
        t.requires_grad_(True)
    base, v0, cm, sigma, bias, werev, w = leaves
    syn = Synapses(cell.edge_src, cell.edge_dst, sigma, bias, werev, w)
    h = dt / unfolds

    ref = ltc_scan(v0, base, h, cm, *_edge_matrices(n, syn), unfolds)
    out = ltc_scan_native(v0, base, h, cm, syn, unfolds)
    torch.testing.assert_close(out, ref, **TOL)
    if steps == 1:
        torch.testing.assert_close(out[0, 0], v0[0].detach(), **TOL)
    probe = torch.randn(ref.shape, generator=gen)
    expected = torch.autograd.grad((ref * probe).sum(), leaves)
    got = torch.autograd.grad((out * probe).sum(), leaves)
    for name, g, e in zip(["base", "v0", "cm", "sigma", "bias", "werev", "w"], got, expected):
        torch.testing.assert_close(g, e, **TOL, msg=lambda m, name=name: f"d {name}: {m}")


@pytest.mark.parametrize("wiring", [NCP(3, 2, 2, 2, 2, 1, 2), FullyConnected(6)], ids=["ncp", "full"])
def test_ltc_layer_same_with_and_without_c(monkeypatch, wiring):
    layer = LTC(3, wiring)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 9, 3, generator=gen)
    ts = torch.rand(4, 9, generator=gen) * 2.0

    def run():
        layer.zero_grad()
        y, h = layer(x, timespans=ts)
        (y.square().sum() + h.sum()).backward()
        return y.detach(), h.detach(), [p.grad.clone() for p in layer.parameters()]

    (y1, h1, g1), (y0, h0, g0) = _both_ways(monkeypatch, run)
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(h1, h0, **TOL)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_ltc_inference_without_grad_equals_training_forward():
    """Without a gradient to compute, the kernel keeps nothing for the backward: same outputs."""
    layer = LTC(3, AutoNCP(10, 2))
    x, ts = torch.randn(3, 8, 3), torch.rand(3, 8) + 0.5
    y, h = layer(x, timespans=ts)
    with torch.no_grad():
        y0, h0 = layer(x, timespans=ts)
    assert y.requires_grad and not y0.requires_grad
    torch.testing.assert_close(y0, y.detach(), rtol=0, atol=0)
    torch.testing.assert_close(h0, h.detach(), rtol=0, atol=0)


def test_ltc_c_kernel_refuses_other_dtypes_and_devices():
    assert native_unavailable_reason(torch.zeros(1)) is None
    assert "float32" in native_unavailable_reason(torch.zeros(1, dtype=torch.float64))
    layer = LTC(3, AutoNCP(8, 2))
    x = torch.randn(2, 3, 3)
    expected, _ = layer(x)
    y, _ = layer.double()(x.double())  # falls back to the PyTorch scan, same function
    torch.testing.assert_close(y.float(), expected, **TOL)
    # Every tensor the kernel reads must be float32, not only the input.
    assert "float64" in native_unavailable_reason(torch.zeros(1), torch.zeros(1, dtype=torch.float64))


# --- CfC inference ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("units", ["ncp", "backbone"])
@pytest.mark.parametrize("batch,steps", [(1, 1), (3, 6)])
def test_cfc_inference_same_with_and_without_c(monkeypatch, mode, units, batch, steps):
    kwargs = {} if units == "ncp" else dict(backbone_units=6, backbone_layers=2)
    layer = CfC(3, AutoNCP(10, 2) if units == "ncp" else 5, mode=mode, **kwargs).eval()
    with torch.no_grad():
        for p in layer.parameters():  # pure mode starts with w_tau = 0, A = 1
            p.add_(0.3 * torch.randn_like(p))
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(batch, steps, 3, generator=gen)
    ts = torch.rand(batch, steps, generator=gen) * 2.0
    h0 = torch.randn(batch, layer.state_size, generator=gen)
    for timespans in (None, ts):
        with torch.no_grad():
            (y1, h1), (y0, h0_) = _both_ways(monkeypatch, lambda ts=timespans: layer(x, h0, ts))
        torch.testing.assert_close(y1, y0, **TOL)
        torch.testing.assert_close(h1, h0_, **TOL)


@pytest.mark.parametrize("activation", ["lecun_tanh", "tanh", "relu", "silu", "gelu"])
def test_cfc_inference_c_kernel_activations(monkeypatch, activation):
    layer = CfC(3, 4, activation=activation, backbone_units=5).eval()
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        (y1, h1), (y0, h0) = _both_ways(monkeypatch, lambda: layer(x))
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(h1, h0, **TOL)


def test_cfc_streaming_step_by_step_equals_whole_sequence():
    layer = CfC(3, AutoNCP(12, 3)).eval()
    x = torch.randn(1, 20, 3)
    with torch.no_grad():
        y, h = layer(x)
        state, outs = None, []
        for t in range(x.shape[1]):
            out, state = layer(x[:, t: t + 1], state)
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), y, **TOL)
    torch.testing.assert_close(state, h, **TOL)


def test_cfc_c_kernel_used_only_for_small_work():
    small = CfC(3, AutoNCP(10, 2))
    big = CfC(8, 64)
    with torch.no_grad():
        assert cfc_native.worth_it(small._packed_weights()[1], 1)
        assert not cfc_native.worth_it(big._packed_weights()[1], 64)
    cells = small._packed_weights()[1]
    assert cfc_native.unavailable_reason(torch.zeros(1), "lecun_tanh", cells) is None
    assert "activation" in cfc_native.unavailable_reason(torch.zeros(1), "softsign", cells)
    assert "float32" in cfc_native.unavailable_reason(torch.zeros(1, dtype=torch.float64), "tanh", cells)
    with torch.no_grad():
        doubled = small.double()._packed_weights()[1]
    assert "weights of torch.float64" in cfc_native.unavailable_reason(torch.zeros(1), "tanh", doubled)


# --- building -------------------------------------------------------------------------------

def test_build_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    assert native.load(source).answer() == 42
    built = list((tmp_path / "native").glob("answer-*.so"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    native._libraries.pop(source)
    native.load(source)
    assert built[0].stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_build_failure_and_opt_out_give_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    assert native.load(broken) is None
    assert "failed on broken.c" in native.unavailable_reason(broken)
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    assert native.unavailable_reason(broken) == "disabled by LIQUIDTS_NATIVE=0"


def test_loading_the_kernels_leaves_subnormal_numbers_alone():
    """Linked with -ffast-math, a library would switch the whole process to flush-to-zero."""
    script = (
        "import torch\n"
        "from liquidts.kernels import native\n"
        "from liquidts.kernels.cfc.native import _SOURCE as cfc\n"
        "from liquidts.kernels.ltc.native import _SOURCE as ltc\n"
        "assert native.load(cfc) is not None and native.load(ltc) is not None\n"
        "print((torch.tensor([1e-39]) * 1.0).item())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert float(out) > 0.0
