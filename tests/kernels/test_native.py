"""The C kernels (``kernels/*/*.c``) against their PyTorch paths, and how they are built and refused.

The LTC's fused solver in C must give the outputs and every gradient of ``scan.py`` (itself tested
against autograd); CfC inference in C must give ``inference.py``'s states; CfC training in C the
states and every gradient of autograd through ``cfc_reference``. Layers are compared with
the C kernels on and off (``LIQUIDTS_NATIVE=0``).
"""

import ctypes
import re
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

from liquidts.kernels import native
import torch.nn.functional as F

from liquidts.kernels.cfc import ACTIVATION_IDS, MODE_IDS, cfc_reference, effective
from liquidts.kernels.cfc import native as cfc_native
from liquidts.kernels.cfc import scan_native as cfc_scan_native
from liquidts.kernels.cfc.variants import TRAIN_ACTIVATIONS, TRAIN_MODES
from liquidts.kernels.ltc import native as ltc_native
from liquidts.kernels.ltc import Synapses, ltc_scan, ltc_scan_native
from liquidts.kernels.ltc import sensory as ltc_sensory
from liquidts.kernels.tanh_dropout import native as tanh_dropout_native
from liquidts.nn import LTC, CfC
from liquidts.wirings import NCP, AutoNCP, FullyConnected, Random

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="no C compiler on this machine")

TOL = dict(rtol=1e-5, atol=2e-6)


def _assert_grads_close(got, expected, name=""):
    """Gradients are float32 sums over every step and sample that each path accumulates in its own
    order: compared to 1e-5 of the largest entry (and 1e-4 of each)."""
    atol = 1e-5 * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=atol, msg=lambda m: f"gradient of {name}: {m}")


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


@pytest.mark.parametrize("shape", [(7, 3, 5), (2, 300, 4, 6), (0, 3, 2)], ids=["rows", "blocks", "empty"])
def test_ltc_sensory_kernel_matches_the_reference(shape):
    """Forward and every gradient; 600 rows span three of the backward's blocks of summed rows;
    a masked (zero) weight, and inputs of 1e30 that saturate the sigmoid, stay finite."""
    *lead, inputs, neurons = shape
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(*lead, inputs, generator=gen) * 2.0
    if x.numel():
        x.view(-1)[0] = 1e30
    w = torch.rand(inputs, neurons, generator=gen)
    w[0, 0] = 0.0  # a synapse the wiring leaves out
    params = [w, torch.rand(inputs, neurons, generator=gen) * 5 + 3, torch.rand(inputs, neurons, generator=gen),
              torch.randn(inputs, neurons, generator=gen)]
    leaves = [x] + params
    results = []
    for fn in (ltc_sensory.sensory_reference, ltc_sensory.sensory_terms):
        inputs_ = [t.clone().requires_grad_() for t in leaves]
        out = fn(*inputs_)
        probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(6))
        (out * probe).sum().backward()
        results.append((out.detach(), [t.grad for t in inputs_]))
    (ref, ref_grads), (got, got_grads) = results
    assert got.shape == (*lead, 2 * neurons) and torch.isfinite(got).all()
    torch.testing.assert_close(got, ref, **TOL)
    for name, a, b in zip(["x", "w", "sigma", "mu", "erev"], got_grads, ref_grads):
        if b.numel():
            _assert_grads_close(a, b, name)
        assert a.shape == b.shape, name


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


def test_ltc_layer_in_float64_takes_the_pytorch_scan():
    layer = LTC(3, AutoNCP(8, 2))
    x = torch.randn(2, 3, 3)
    expected, _ = layer(x)
    y, _ = layer.double()(x.double())  # the C kernel is float32 only: same function in PyTorch
    torch.testing.assert_close(y.float(), expected, **TOL)


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


def test_cfc_c_kernel_used_only_for_small_work(monkeypatch):
    calls = []
    kernel = cfc_native.cfc_inference_native
    monkeypatch.setattr(cfc_native, "cfc_inference_native", lambda *a: calls.append(1) or kernel(*a))
    with torch.no_grad():
        CfC(3, AutoNCP(10, 2))(torch.randn(1, 2, 3))
        assert calls == [1]
        CfC(8, 64)(torch.randn(64, 2, 8))  # 64 x 64-unit steps: PyTorch's matrix products are faster
        assert calls == [1]


# --- CfC training ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", TRAIN_MODES)
@pytest.mark.parametrize("activation", TRAIN_ACTIVATIONS)
@pytest.mark.parametrize("timespans", ["ones", "uniform", "random"])
@pytest.mark.parametrize("chunk_rows", [1024, 10, 1], ids=["one_chunk", "chunks_of_2_steps", "chunks_of_1_step"])
def test_cfc_training_kernel_matches_autograd_through_the_reference(monkeypatch, mode, activation, timespans,
                                                                    chunk_rows):
    """7 steps of batch 5: one chunk of head gradients, chunks of 2 steps (the last one short) or of
    1 step summed into the weight gradients. With one timespan for every sample and step (1, or
    2.5) the kernel folds the two time heads into one; the reference runs them apart."""
    monkeypatch.setattr(cfc_scan_native, "CHUNK_ROWS", chunk_rows)
    torch.manual_seed(0)
    layer = CfC(3, 6, mode=mode, activation=activation, backbone_units=10)
    batch, steps = 5, 7
    x = torch.randn(batch, steps, 3, requires_grad=True)
    h0 = torch.randn(batch, 6, requires_grad=True)
    ts = torch.rand(steps, batch, 1) * 2.0 if timespans == "random" else torch.ones(steps, batch, 1)
    if timespans == "random":
        ts[0, 0] = 0.0
    elif timespans == "uniform":
        ts.fill_(2.5)
    probe = torch.randn(steps, batch, 6)
    leaves = [x, h0, *layer.parameters()]
    results = []
    w = effective(layer.cell.weights())
    ref = cfc_reference(F.linear(x.transpose(0, 1), w.in_weight, w.bias), [h0], ts, [w], mode, activation)[0][0]
    results = [(ref.detach(), torch.autograd.grad((ref * probe).sum(), leaves))]
    # The kernel takes the inputs themselves (it multiplies them by their weights and adds the
    # bias); its states come out time- or batch-major.
    for batch_major in (False, True):
        w = effective(layer.cell.weights())
        (states,) = cfc_scan_native.cfc_scan_native(x.transpose(0, 1), [h0], ts, [w], mode, activation,
                                                    batch_major=batch_major)
        assert states.transpose(0, 1).is_contiguous() == batch_major
        results.append((states.detach(), torch.autograd.grad((states * probe).sum(), leaves)))
    (ref, ref_grads), *kernel_runs = results
    names = ["x", "h0"] + [n for n, _ in layer.named_parameters()]
    for got, got_grads in kernel_runs:
        torch.testing.assert_close(got, ref, **TOL)
        for name, a, b in zip(names, got_grads, ref_grads):
            _assert_grads_close(a, b, name)
            assert a.abs().sum() > 0, name


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("loss", ["square", "sum"])
@pytest.mark.parametrize("timespans", ["random", "none", "uniform"])
def test_cfc_layer_trains_on_the_c_kernel_with_the_same_gradients(monkeypatch, batch_first, return_sequences,
                                                                  loss, timespans):
    """Through the layer, whose states the kernel hands out in the caller's layout; the gradient of
    ``y.sum()`` reaches the kernel as an expanded (stride 0) tensor. Without timespans, or with one
    for all, the kernel folds the time heads, and both heads' weights get the same gradients as on
    the PyTorch scan."""
    calls = []
    kernel = cfc_scan_native.cfc_scan_native
    monkeypatch.setattr(cfc_scan_native, "cfc_scan_native", lambda *a, **k: calls.append(1) or kernel(*a, **k))
    layer = CfC(4, 8, backbone_units=12, return_sequences=return_sequences, batch_first=batch_first)
    x, ts = torch.randn(3, 9, 4), torch.rand(3, 9)
    if not batch_first:
        x, ts = x.transpose(0, 1), ts.transpose(0, 1)

    def loss_and_grads():
        layer.zero_grad()
        y, h = layer(x, timespans={"random": ts, "none": None, "uniform": torch.full_like(ts, 0.7)}[timespans])
        (y.square().sum() + h.sum() if loss == "square" else y.sum()).backward()
        return y.detach(), [p.grad.clone() for p in layer.parameters()]

    (y1, g1), (y0, g0) = _both_ways(monkeypatch, loss_and_grads)
    assert calls == [1]  # the C kernel ran once, with LIQUIDTS_NATIVE=1 only
    torch.testing.assert_close(y1, y0, **TOL)
    for a, b in zip(g1, g0):
        _assert_grads_close(a, b)


@pytest.mark.skipif(cfc_scan_native._mkl_pack_addresses()[0] is None,
                    reason="PyTorch's BLAS here is not MKL: the kernel has no packed products to compare")
@pytest.mark.parametrize("mode", TRAIN_MODES)
def test_cfc_training_kernel_gives_the_same_with_and_without_mkl_packed_weights(monkeypatch, mode):
    """The forward multiplies by weights packed once (MKL's sgemm_pack) where it can; where
    PyTorch's BLAS is not MKL it calls sgemm_ every step. Both are the same products."""
    calls = []
    kernel = cfc_scan_native.cfc_scan_native
    monkeypatch.setattr(cfc_scan_native, "cfc_scan_native", lambda *a, **k: calls.append(1) or kernel(*a, **k))
    torch.manual_seed(0)
    layer = CfC(5, 16, mode=mode, backbone_units=24)
    x, ts = torch.randn(6, 11, 5), torch.rand(6, 11)

    def states_and_grads():
        layer.zero_grad()
        y, _ = layer(x, timespans=ts)
        y.square().sum().backward()
        return y.detach(), [p.grad.clone() for p in layer.parameters()]

    packed = states_and_grads()
    monkeypatch.setattr(cfc_scan_native, "_mkl_pack_addresses", lambda: (None, None, None))
    plain = states_and_grads()
    assert calls == [1, 1]
    torch.testing.assert_close(packed[0], plain[0], rtol=1e-6, atol=1e-7)
    for a, b in zip(packed[1], plain[1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cfc_training_without_a_blas_symbol_says_so_and_trains_on_the_pytorch_scan(monkeypatch):
    monkeypatch.setattr(cfc_scan_native, "_sgemm_address", lambda: None)
    assert "exports no sgemm_" in cfc_scan_native.unavailable_reason()
    calls = []
    monkeypatch.setattr(cfc_scan_native, "cfc_scan_native", lambda *a: calls.append(1))
    layer = CfC(4, 8, backbone_units=12)
    y, _ = layer(torch.randn(2, 5, 4))
    y.sum().backward()
    assert calls == [] and layer.cell.head.weight.grad.abs().sum() > 0


# --- finite for every finite input and timespan ------------------------------------------------

def _gaps_and_outliers(batch, steps, features, seed=4):
    """Inputs with a sample of huge values, and timespans with a long gap, a huge one, a tiny one
    and a zero."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, features, generator=gen)
    x[0, 3] *= 1e30
    ts = torch.ones(batch, steps)
    ts[:, 2] = 100.0
    ts[1, 4] = 1e30
    ts[0, 5] = 1e-30
    ts[1, 1] = 0.0
    return x, ts


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("units,activation", [("ncp", "lecun_tanh")] + [("backbone", a) for a in ACTIVATION_IDS])
def test_cfc_c_kernel_is_finite_after_long_gaps_and_huge_inputs(monkeypatch, mode, units, activation):
    """Compiled with -ffast-math, 1 / (1 + expf(-x)) was NaN once expf overflowed: a gap of 100 made
    17 of a CfC(4, 8)'s 80 outputs NaN, where PyTorch gives finite values."""
    torch.manual_seed(0)
    kwargs = dict(backbone_units=8, activation=activation) if units == "backbone" else {}
    layer = CfC(4, AutoNCP(10, 2) if units == "ncp" else 8, mode=mode, **kwargs).eval()
    with torch.no_grad():
        for p in layer.parameters():  # pure mode starts with w_tau = 0, A = 1
            p.add_(0.3 * torch.randn_like(p))
    x, ts = _gaps_and_outliers(2, 6, 4)
    with torch.no_grad():
        (y1, h1), (y0, h0) = _both_ways(monkeypatch, lambda: layer(x, timespans=ts))
    assert torch.isfinite(y0).all() and torch.isfinite(h0).all()
    assert torch.isfinite(y1).all() and torch.isfinite(h1).all()
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(h1, h0, **TOL)


@pytest.mark.parametrize("mode", TRAIN_MODES)
@pytest.mark.parametrize("activation", TRAIN_ACTIVATIONS)
def test_cfc_training_kernel_is_finite_after_long_gaps_and_huge_inputs(monkeypatch, mode, activation):
    torch.manual_seed(0)
    layer = CfC(4, 8, mode=mode, activation=activation, backbone_units=8)
    x, ts = _gaps_and_outliers(2, 6, 4)

    def grads():
        layer.zero_grad()
        y, _ = layer(x, timespans=ts)
        y.sum().backward()
        return y.detach(), [p.grad.clone() for p in layer.parameters()]

    (y1, g1), (y0, g0) = _both_ways(monkeypatch, grads)
    for t in (y1, *g1):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(y1, y0, **TOL)
    for a, b in zip(g1, g0):
        _assert_grads_close(a, b)


@pytest.mark.parametrize("huge", [1e30, 3e38], ids=["1e30", "3e38"])
def test_ltc_c_kernel_is_finite_after_long_gaps_and_huge_inputs(huge):
    """3e38: the denominator of a solver step passes 2^126, where a -ffast-math float division
    (a reciprocal estimate, in the loops vectorised over a batch of 16) gives 0, not the quotient."""
    layer = LTC(3, AutoNCP(8, 2))
    cell = layer.cell
    x, ts = _gaps_and_outliers(16, 6, 3)
    ts[1:, 4] = huge
    dt = ts.t().unsqueeze(-1)  # (T, B, 1)
    d = cell.dynamics()
    base = cell.with_epsilon(d["leak"] + cell.input_terms(cell.map_inputs(x))).transpose(0, 1).detach()
    v0 = torch.randn(16, 8).requires_grad_(True)
    syn = Synapses(cell.edge_src, cell.edge_dst, *(t.detach() for t in cell.synapses()[2:]))
    h = dt / cell.ode_unfolds
    ref = ltc_scan(v0, base, h, d["cm"].detach(), *_edge_matrices(8, syn), cell.ode_unfolds)
    out = ltc_scan_native(v0, base, h, d["cm"].detach(), syn, cell.ode_unfolds)
    assert torch.isfinite(ref).all()
    torch.testing.assert_close(out, ref, **TOL)
    probe = torch.randn(ref.shape)
    expected, = torch.autograd.grad((ref * probe).sum(), [v0])
    got, = torch.autograd.grad((out * probe).sum(), [v0])
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(got, expected, **TOL)


# --- what the Python side hands to C ----------------------------------------------------------

@pytest.mark.parametrize("module,modes,activations", [
    (cfc_native, MODE_IDS, ACTIVATION_IDS), (cfc_scan_native, TRAIN_MODES, TRAIN_ACTIVATIONS)], ids=["inference", "train"])
def test_c_enums_are_the_variants_table(module, modes, activations):
    """Mode and activation ids: each CfC C kernel's enums and variants.py, which Triton reads too."""
    enums = re.findall(r"enum \{([^}]*)\}", module._SOURCE.code.decode())
    parsed = [{name.strip(): int(value) for name, value in (item.split("=") for item in enum.split(","))}
              for enum in enums]
    assert parsed == [{k.upper(): MODE_IDS[k] for k in modes}, {k.upper(): ACTIVATION_IDS[k] for k in activations}]


@pytest.mark.parametrize("module", [cfc_native, cfc_scan_native, ltc_native, ltc_sensory, tanh_dropout_native],
                         ids=["cfc", "cfc_train", "ltc", "ltc_sensory", "tanh_dropout"])
def test_every_c_function_has_a_ctypes_signature_of_its_arity(module):
    prototypes = dict(re.findall(r"^void (\w+)\(([^)]*)\)", module._SOURCE.code.decode(), re.M))
    assert set(prototypes) == set(module._SIGNATURES)
    library = module.library()
    for name, params in prototypes.items():
        function = getattr(library, name)
        assert function.restype is None
        assert len(function.argtypes) == len(params.split(",")), name


def test_every_tensor_handed_to_c_is_checked():
    t = torch.zeros(2, 3)
    assert native.address(t, "x") == t.data_ptr() and native.address(None, "x") is None
    assert native.address(torch.zeros(2, dtype=torch.int64), "src", torch.int64) is not None
    with pytest.raises(TypeError, match="x is torch.float64 on cpu"):
        native.address(t.double(), "x")
    with pytest.raises(ValueError, match="x is torch.float32 on cpu, not contiguous"):
        native.address(t.t(), "x")
    with pytest.raises(ValueError, match="x is torch.float32 on meta"):  # any memory but the CPU's
        native.address(torch.zeros(2, device="meta"), "x")


# --- building -------------------------------------------------------------------------------

def test_build_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    signatures = {"answer": (ctypes.c_int, [])}
    assert native.load(source, signatures).answer() == 42
    built = list((tmp_path / "native").glob("answer-*.so"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    native._libraries.pop(source)
    native.load(source, signatures)
    assert built[0].stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_a_kernel_builds_the_source_it_read_at_import_not_a_later_file(tmp_path, monkeypatch):
    """A kernel module reads its source when imported; the file replaced afterwards (a package
    upgraded under a running process) must not be what that process compiles and calls."""
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    path = tmp_path / "version.c"
    path.write_text('#include "stable_math.h"\nint version(void) { return 1; }\n')
    read_at_import = native.source(path)
    path.write_text("int version(int changed_signature) { return 2; }\n")
    library = native.load(read_at_import, {"version": (ctypes.c_int, [])})
    assert library.version() == 1
    native._libraries.pop(path)


def test_build_failure_and_opt_out_give_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    with pytest.warns(RuntimeWarning, match="broken.c is not available"):
        assert native.load(broken, {}) is None
    assert "failed on broken.c" in native.unavailable_reason(broken, {})
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    assert native.unavailable_reason(broken, {}) == "disabled by LIQUIDTS_NATIVE=0"


def test_loading_the_kernels_leaves_subnormal_numbers_alone():
    """Linked with -ffast-math, a library would switch the whole process to flush-to-zero."""
    script = (
        "import torch\n"
        "from liquidts.kernels.cfc import native as cfc\n"
        "from liquidts.kernels.ltc import native as ltc\n"
        "assert cfc.library() is not None and ltc.library() is not None\n"
        "print((torch.tensor([1e-39]) * 1.0).item())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert float(out) > 0.0


def test_the_kernels_flush_subnormals_only_while_they_run():
    """Each kernel call sets flush-to-zero for its own duration (denormals.h) and restores the
    caller's setting: subnormal arithmetic in PyTorch afterwards is unchanged."""
    from liquidts.kernels.tanh_dropout import tanh_dropout

    x = torch.randn(2, 5, 3)
    for layer in (LTC(3, 6), CfC(3, 8)):  # the LTC's solver and input synapses; the CfC training kernel
        y, _ = layer(x)
        y.sum().backward()
    with torch.no_grad():
        CfC(3, AutoNCP(8, 2))(x)  # the CfC inference kernel
    tanh_dropout(torch.randn(64, 4, requires_grad=True), torch.randn(2, 3, 4), 0.5, True).sum().backward()
    assert (torch.tensor([1e-39]) * 1.0).item() > 0.0


def test_a_traced_call_records_pytorch_operations_not_a_kernel():
    """Under torch.jit.trace (ONNX export traces) no C kernel runs: its ctypes call would vanish
    from the trace and leave an unwritten output. The trace then computes what eager computes on
    inputs it never saw."""
    from liquidts.kernels.tanh_dropout import tanh_dropout

    class Outputs(torch.nn.Module):
        def __init__(self, layer=None):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            if self.layer is None:  # rows (10, 3), two blocks of two segments
                return tanh_dropout(x.reshape(-1, 3), x[:, :2].reshape(2, 2, 3), 0.3, False)
            return self.layer(x)[0]

    gen = torch.Generator().manual_seed(8)
    modules = {"cfc": Outputs(CfC(3, AutoNCP(8, 2))), "ltc": Outputs(LTC(3, 6)), "tanh": Outputs()}
    for name, module in modules.items():
        with torch.no_grad():
            traced = torch.jit.trace(module.eval(), torch.randn(2, 5, 3, generator=gen), check_trace=False)
            x = torch.randn(2, 5, 3, generator=gen)
            torch.testing.assert_close(traced(x), module(x), **TOL, msg=lambda m, name=name: f"{name}: {m}")


def _fake_compiler(tmp_path, script: str):
    cc = tmp_path / "fake-cc"
    cc.write_text("#!/bin/sh\n" + script + "\n")
    cc.chmod(0o755)
    return str(cc)


def test_a_hanging_compiler_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", _fake_compiler(tmp_path, "exec sleep 30"))
    monkeypatch.setattr(native, "BUILD_TIMEOUT_S", 0.5)
    source = tmp_path / "slow.c"
    source.write_text("int f(void) { return 1; }\n")
    with pytest.warns(RuntimeWarning, match="did not finish slow.c within 0.5 s"):
        assert native.load(source, {}) is None


def test_an_unbuildable_kernel_warns_once_per_process_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setattr(native, "_failures", {})
    monkeypatch.setenv("LIQUIDTS_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", _fake_compiler(tmp_path, "echo 'cc: no licence' >&2; exit 1"))
    ltc, cfc = LTC(3, AutoNCP(8, 2)), CfC(3, AutoNCP(8, 2))
    x = torch.randn(2, 4, 3)
    with pytest.warns(RuntimeWarning) as caught:
        with torch.no_grad():
            results = [layer(x)[0] for layer in (ltc, cfc, ltc, cfc)]
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3, messages  # the CfC's inference kernel, the LTC's solver and its input synapses
    assert "inference.c is not available" in messages[0] and "no licence" in messages[0]
    assert "scan.c is not available" in messages[1]
    assert "sensory.c is not available" in messages[2]
    monkeypatch.setattr(native, "_libraries", {})
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # opting out is silent
        with torch.no_grad():
            torch.testing.assert_close(ltc(x)[0], results[0])
            torch.testing.assert_close(cfc(x)[0], results[1])
