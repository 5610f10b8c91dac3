"""The Triton CfC kernels against the PyTorch path: compiled on a CUDA device where there is one,
else run on the CPU through Triton's interpreter (as in CI).

Outputs, final state and the gradients of the input, the initial state and every parameter are
compared across modes, backbone depths, activations, wired (NCP) and unwired layers, ragged batch
sizes, sequence lengths 1 and 33, with and without timespans, in float32 and bfloat16.
"""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

pytest.importorskip("triton")

from triton.runtime.errors import OutOfResources  # noqa: E402

from liquidts.kernels.cfc import triton as cfc_triton_module  # noqa: E402
from liquidts.kernels.dispatch import triton_unavailable_reason  # noqa: E402
from liquidts.nn import CfC  # noqa: E402
from liquidts.wirings import AutoNCP  # noqa: E402

if os.environ.get("TRITON_INTERPRET") == "1":
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    pytest.skip("without a CUDA device these tests run the kernels on CPU tensors, which needs TRITON_INTERPRET=1",
                allow_module_level=True)

INPUTS = 5
UNITS = 7  # widths that are not powers of two: the kernels pad them to 16


def _layer(wired, mode="default", dtype=torch.float32, **kw):
    torch.manual_seed(0)
    units = AutoNCP(12, 3) if wired else UNITS
    kw = {} if wired else {"backbone_units": 12, **kw}
    layer = CfC(INPUTS, units, mode=mode, **kw)
    if mode == "pure":
        # Nonzero w_tau, so its gradient (through sign(w_tau)) is exercised.
        with torch.no_grad():
            for cell in layer.cells:
                cell.w_tau.uniform_(-0.5, 0.5)
    return layer.to(DEVICE, dtype)


def _run(layer, backend, batch, steps, timespans, dtype=torch.float32):
    """Outputs, final state and every gradient (x, hx, then the parameters) of one backend."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, steps, INPUTS, generator=gen).to(DEVICE, dtype).requires_grad_()
    hx = (0.5 * torch.randn(batch, layer.state_size, generator=gen)).to(DEVICE, dtype).requires_grad_()
    ts = (0.2 + 1.5 * torch.rand(batch, steps, generator=gen)).to(DEVICE, dtype) if timespans else None
    weights = torch.randn(batch, steps, layer.output_size, generator=gen).to(DEVICE, dtype)
    layer.backend = backend
    layer.zero_grad()
    y, h = layer(x, hx, ts)
    # Weights on every output and on the whole final state, so every cell's gradient path is used.
    loss = (y * weights).sum() + (h * h).sum()
    loss.backward()
    grads = [x.grad, hx.grad] + [p.grad for p in layer.parameters()]
    return [y.detach(), h.detach()] + grads


def _compare(got, want, rtol, names=None):
    for i, (a, b) in enumerate(zip(got, want)):
        name = names[i] if names else str(i)
        assert a is not None and b is not None, f"{name}: missing gradient"
        assert torch.isfinite(a).all(), f"{name}: non-finite values from the Triton kernel"
        a, b = a.double(), b.double()
        scale = max(b.abs().max().item(), 1e-3)
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * scale, msg=lambda m: f"{name}: {m}")


def _names(layer):
    return ["y", "h", "x.grad", "hx.grad"] + [n + ".grad" for n, _ in layer.named_parameters()]


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
@pytest.mark.parametrize("wired", [False, True], ids=["unwired", "ncp"])
def test_matches_torch_across_modes(mode, wired):
    layer = _layer(wired, mode)
    _compare(_run(layer, "triton", 17, 6, True), _run(layer, "torch", 17, 6, True), 1e-5, _names(layer))


@pytest.mark.parametrize("backbone_layers,activation,mode", [
    (0, "lecun_tanh", "no_gate"),
    (2, "tanh", "default"),
    (2, "relu", "pure"),
    (3, "silu", "default"),
    (1, "gelu", "no_gate"),
])
def test_matches_torch_backbones_and_activations(backbone_layers, activation, mode):
    layer = _layer(False, mode, backbone_layers=backbone_layers, activation=activation)
    _compare(_run(layer, "triton", 3, 4, False), _run(layer, "torch", 3, 4, False), 1e-5, _names(layer))


@pytest.mark.parametrize("wired", [False, True], ids=["unwired", "ncp"])
@pytest.mark.parametrize("steps,timespans", [(1, True), (33, False)])
def test_matches_torch_short_and_long_sequences(wired, steps, timespans):
    layer = _layer(wired)
    got, want = _run(layer, "triton", 3, steps, timespans), _run(layer, "torch", 3, steps, timespans)
    _compare(got, want, 1e-5, _names(layer))


@pytest.mark.parametrize("wired", [False, True], ids=["unwired", "ncp"])
def test_bfloat16_close_to_float32(wired):
    layer = _layer(wired, "default")
    want = _run(layer, "torch", 17, 8, True)
    got = _run(layer.to(torch.bfloat16), "triton", 17, 8, True, torch.bfloat16)
    assert all(g.dtype == torch.bfloat16 for g in got)
    _compare(got, want, 5e-2, _names(layer))


class _Everything(set):
    def __contains__(self, key):
        return True


@pytest.mark.parametrize("mode", ["default", "pure"])
@pytest.mark.parametrize("wired", [False, True], ids=["unwired", "ncp"])
def test_weights_reread_every_step_match_torch(monkeypatch, mode, wired):
    # The form _launch takes where a cell's weights do not fit in shared memory, forced here.
    monkeypatch.setattr(cfc_triton_module, "_WEIGHTS_TOO_BIG", _Everything())
    layer = _layer(wired, mode)
    got, want = _run(layer, "triton", 5, 6, True), _run(layer, "torch", 5, 6, True)
    _compare(got, want, 1e-5, _names(layer))


def test_launch_rereads_the_weights_where_holding_them_runs_out_of_shared_memory(monkeypatch):
    launches = []

    class Kernel:  # stands for a jitted kernel whose held form needs more shared memory than the GPU has
        fn = SimpleNamespace(__name__="held_too_big")

        def __getitem__(self, grid):
            def launch(*args, RELOAD, PREC, num_warps, num_stages=None, **meta):
                launches.append((RELOAD, PREC, num_stages))
                if not RELOAD:
                    raise OutOfResources(368768, 232448, "shared memory")
            return launch

    monkeypatch.setattr(cfc_triton_module, "_WEIGHTS_TOO_BIG", set())
    for _ in range(2):
        cfc_triton_module._launch(Kernel(), (4,), ["x", 64, 32], 40960, torch.float32, MODE=0)
    # held first (40,960 float32 weights: 3xTF32 by _precision), refused, re-read; then re-read at once
    assert launches == [(False, "tf32x3", None), (True, "tf32x3", 1), (True, "tf32x3", 1)]


def test_wiring_mask_applied_in_kernel():
    layer = _layer(True)
    cell = layer.cells[1]
    off = cell.head_mask == 0
    assert off.any()
    before = _run(layer, "triton", 5, 4, False)
    with torch.no_grad():  # raw weights where the wiring has no synapse must not matter
        cell.head.weight[off] = 3.0
    after = _run(layer, "triton", 5, 4, False)
    _compare(after[:4], before[:4], 1e-6)
    grad = cell.head.weight.grad
    assert (grad[off] == 0).all() and (grad[~off] != 0).any()


def test_backend_triton_runs_the_kernel(monkeypatch):
    calls = []
    forward = cfc_triton_module._forward
    monkeypatch.setattr(cfc_triton_module, "_forward", lambda *a: calls.append(1) or forward(*a))
    layer = _layer(False)
    layer.backend = "triton"
    y, h = layer(torch.randn(2, 3, INPUTS, device=DEVICE))
    assert calls and y.shape == (2, 3, UNITS) and h.shape == (2, UNITS)
    layer.backend = "auto"  # auto takes the kernel for CUDA tensors and keeps PyTorch for CPU ones
    layer(torch.randn(2, 3, INPUTS, device=DEVICE))
    assert len(calls) == (2 if DEVICE == "cuda" else 1)


def test_chunked_sequence_equals_whole():
    layer = _layer(True)
    layer.backend = "triton"
    x = torch.randn(3, 10, INPUTS, device=DEVICE)
    y, h = layer(x)
    y1, h1 = layer(x[:, :4])
    y2, h2 = layer(x[:, 4:], h1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(h2, h, rtol=1e-6, atol=1e-6)


def test_out_of_scope_raises_clearly():
    layer = _layer(False, backbone_layers=4)
    with pytest.raises(ValueError, match="backbone_layers"):
        layer.backend = "triton"
        layer(torch.randn(2, 3, INPUTS, device=DEVICE))
    wide = CfC(INPUTS, 300, backbone_units=128).to(DEVICE)  # a (512, 128) head tile, padded
    wide.backend = "triton"
    with pytest.raises(ValueError, match="tiles of up to 32768 elements"):
        wide(torch.randn(2, 3, INPUTS, device=DEVICE))
    layer64 = _layer(False).double()
    layer64.backend = "triton"
    with pytest.raises(TypeError, match="backend='triton' cannot run this call: .*float32 or bfloat16"):
        layer64(torch.randn(2, 3, INPUTS, device=DEVICE, dtype=torch.float64))


def test_unavailable_reason_without_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    reason = triton_unavailable_reason("cpu")
    assert "CUDA" in reason and "TRITON_INTERPRET=1" in reason
    layer = _layer(False).cpu()
    layer.backend = "triton"
    with pytest.raises(RuntimeError, match="backend='triton' cannot run: the Triton kernel runs on CUDA"):
        layer(torch.randn(2, 1, INPUTS))


# The interpreter runs the kernels as Python, so it misses what only the compiler rejects (a
# loop-carried value changing shape, say, or more shared memory than a GPU has); compile the
# hardest variants for sm_90, which needs Triton's bundled ptxas but no GPU.
_COMPILE = r"""
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from liquidts.kernels.cfc import triton as K

SM90_SHARED_BYTES = 232448  # what an H100/H200 block may opt in to

def build(kernel, num_stages=3, num_warps=4, **constexprs):
    fn = kernel.fn
    ints = {"T", "B", "H", "K", "H0", "H1", "H2"}
    sig = {n: "constexpr" if n in constexprs else ("i32" if n in ints else "*fp32") for n in fn.arg_names}
    options = {"num_warps": num_warps, "num_stages": num_stages}
    return triton.compile(ASTSource(fn, sig, constexprs), target=GPUTarget("cuda", 90, 32), options=options)

wired = dict(N_CELLS=3, MODE=0, HAS_MASK=True, HP0=32, HP1=16, HP2=16, BB=16, PREC="ieee", RELOAD=False)
build(K._cfc_fwd_cascade_kernel, **wired)
build(K._cfc_bwd_cascade_kernel, **wired)
build(K._cfc_bwd_backbone_kernel, N_HIDDEN=2, MODE=2, ACT=4, HP=16, KP=32, BB=16, PREC="tf32x3", RELOAD=False)
# The form _launch falls back to (weights re-read every step, 3xTF32, one stage) keeps shared
# memory small where the held form takes 8 bytes per weight: a hidden-64 cell on a 128-unit
# backbone (the held form needs about 700 KB, over the 227 KB of an sm_90 block).
fallback = build(K._cfc_bwd_backbone_kernel, num_stages=1, num_warps=8, N_HIDDEN=0, MODE=0, ACT=0, HP=64,
                 KP=128, BB=16, PREC="tf32x3", RELOAD=True)
assert fallback.metadata.shared <= 2 * 64 * 128 * 4, fallback.metadata.shared
"""


def test_kernels_compile_for_a_gpu():
    from triton.backends import backends

    if "nvidia" not in backends:
        pytest.skip("this triton build has no NVIDIA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", _COMPILE], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
