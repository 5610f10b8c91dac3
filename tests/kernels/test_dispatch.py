"""The path decisions of ``liquidts.kernels.dispatch``, as pure functions: what a call runs on a GPU,
with or without Triton, is decided here without one."""

import functools

import pytest
import torch

from liquidts.kernels.dispatch import (C_MAX_STEP_WORK, TRITON_AUTO_INFER_TILE, TRITON_AUTO_TRAIN_WEIGHTS,
                                       TRITON_MAX_TILE, choose_cfc_path, choose_ltc_path, choose_ltc_sensory_path,
                                       choose_tanh_dropout_path, held_weights, largest_tile)


def _never():
    raise AssertionError("this machine fact should not be asked for this call")


def cfc(**changes):
    """An NCP CfC's streaming call on the CPU without gradient, as changed by ``changes``."""
    call = dict(device_type="cpu", dtype=torch.float32, backend="auto", mode="default", n_cells=3, n_hidden=0,
                has_backbone=False, activation="lecun_tanh", tile=1024, weights=4096, grad=False, mixed_memory=False,
                dropout_active=False,
                timespans_need_grad=False, step_work=1000, triton_reason=lambda: None, c_reason=lambda: None,
                c_train_reason=lambda: None)
    call.update(changes)
    return choose_cfc_path(**call)


ON_GPU = dict(device_type="cuda", c_reason=_never)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_auto_on_cuda_runs_triton_where_it_can(grad, dtype):
    assert cfc(**ON_GPU, grad=grad, dtype=dtype) == "triton"
    assert cfc(**ON_GPU, grad=grad, dtype=dtype, n_cells=1, n_hidden=2, has_backbone=True) == "triton"


@pytest.mark.parametrize("case", [
    dict(dtype=torch.float64), dict(dtype=torch.float16), dict(n_cells=4),
    dict(n_cells=1, has_backbone=True, n_hidden=3), dict(tile=65536),
    dict(triton_reason=lambda: "triton is not importable"),
], ids=["float64", "float16", "4_wiring_layers", "4_backbone_layers", "tile_too_big", "no_triton"])
@pytest.mark.parametrize("grad", [True, False])
def test_auto_on_cuda_falls_back_to_pytorch_where_triton_cannot(case, grad):
    assert cfc(**ON_GPU, **case, grad=grad) == ("scan" if grad else "inference")


@pytest.mark.parametrize("hidden_sizes,backbone_units,n_hidden,tile", [
    ([256], 128, 0, 256 * 128),  # the head blocks (H, K), padded
    ([7], 12, 0, 16 * 16),  # padded to tl.dot's 16
    ([32], 200, 1, 256 * 256),  # a second backbone layer (K, K)
    ([58, 38, 32], 0, 0, 64 * 64),  # a 3-layer NCP: recurrent (H, H) and inter-layer (H_l, H_l-1) blocks
    ([300], 0, 0, 512 * 512),
])
def test_largest_tile_pads_every_weight_block(hidden_sizes, backbone_units, n_hidden, tile):
    assert largest_tile(hidden_sizes, backbone_units, n_hidden) == tile
    if tile <= TRITON_MAX_TILE:
        assert cfc(**ON_GPU, backend="triton", tile=tile) == "triton"
    else:
        with pytest.raises(ValueError, match=f"this layer's largest has {tile}"):
            cfc(**ON_GPU, backend="triton", tile=tile)


def test_held_weights_counts_every_padded_block():
    assert held_weights([32], 128, 0, 4) == 128 * 32 * 5  # recurrent part of the backbone's matrix, 4 heads
    assert held_weights([32], 128, 2, 1) == 128 * 32 * 2 + 2 * 128 * 128  # pure mode: one head; 2 more layers
    assert held_weights([15, 9, 8], 0, 0, 4) == 4 * 16 * 16 * 5  # AutoNCP(32, 8): (H, H) and (H_l, H_l-1) blocks


@pytest.mark.parametrize("grad", [True, False])
def test_auto_on_cuda_takes_triton_only_where_it_was_measured_faster(grad):
    small = dict(tile=1024, weights=held_weights([15, 9, 8], 0, 0, 4))  # a 32-unit NCP: held on chip
    unwired = dict(n_cells=1, has_backbone=True, tile=128 * 128, weights=held_weights([128], 128, 0, 4))
    wide = dict(n_cells=1, has_backbone=True, tile=256 * 128, weights=held_weights([256], 128, 0, 4))
    assert small["weights"] <= TRITON_AUTO_TRAIN_WEIGHTS < unwired["weights"]
    assert unwired["tile"] <= TRITON_AUTO_INFER_TILE < wide["tile"] <= TRITON_MAX_TILE
    pytorch = "scan" if grad else "inference"
    assert cfc(**ON_GPU, **small, grad=grad) == "triton"
    assert cfc(**ON_GPU, **unwired, grad=grad, c_train_reason=_never) == (pytorch if grad else "triton")
    assert cfc(**ON_GPU, **wide, grad=grad, c_train_reason=_never) == pytorch
    assert cfc(**ON_GPU, **wide, grad=grad, backend="triton") == "triton"  # asked for: runs


@pytest.mark.parametrize("case,error,match", [
    (dict(dtype=torch.float64), TypeError, "float32 or bfloat16 inputs, got torch.float64"),
    (dict(dtype=torch.float16), TypeError, "got torch.float16"),
    (dict(n_cells=4), ValueError, "1 to 3 cascaded cells"),
    (dict(n_cells=1, has_backbone=True, n_hidden=3), ValueError, "backbone_layers <= 3, got 4"),
    (dict(tile=65536), ValueError, "tiles of up to 32768 elements .* largest has 65536"),
    (dict(triton_reason=lambda: "triton is not importable (x)"), RuntimeError, "triton is not importable"),
])
@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
def test_explicit_triton_raises_naming_why(case, error, match, device_type):
    with pytest.raises(error, match="backend='triton' cannot run.*" + match):
        cfc(device_type=device_type, backend="triton", c_reason=_never, **case)


@pytest.mark.parametrize("backend", ["auto", "torch", "triton"])
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("case", [dict(mixed_memory=True), dict(dropout_active=True), dict(timespans_need_grad=True)],
                         ids=["memory", "dropout", "timespans_grad"])
@pytest.mark.parametrize("grad", [True, False])
def test_only_the_reference_has_memory_dropout_and_timespan_gradients(backend, device_type, case, grad):
    """Dropout in training, in particular, must not be skipped under torch.no_grad() (Monte Carlo dropout)."""
    assert cfc(backend=backend, device_type=device_type, grad=grad, triton_reason=_never, c_reason=_never,
               **case) == "reference"


def test_cpu_paths():
    assert cfc() == "c"
    assert cfc(grad=True, c_reason=_never) == "scan"
    assert cfc(step_work=C_MAX_STEP_WORK + 1, c_reason=_never) == "inference"
    assert cfc(c_reason=lambda: "no C compiler found") == "inference"
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        assert cfc(dtype=dtype, c_reason=_never) == "inference"
    assert cfc(backend="torch") == "c"
    # A wired CfC ignores its activation (no backbone); an unwired one needs the kernel to have it.
    assert cfc(activation="softsign") == "c"
    assert cfc(activation="softsign", has_backbone=True, n_cells=1, c_reason=_never) == "inference"
    # backend="torch" on a GPU never asks for Triton.
    assert cfc(**ON_GPU, backend="torch", triton_reason=_never) == "inference"
    # On the CPU, explicit Triton runs the interpreter when the machine allows it.
    assert cfc(backend="triton", c_reason=_never) == "triton"


UNWIRED = dict(n_cells=1, has_backbone=True, n_hidden=0)


def test_cpu_training_takes_the_c_kernel_only_for_what_it_implements():
    assert cfc(**UNWIRED, grad=True, c_reason=_never) == "c_train"
    assert cfc(**UNWIRED, grad=True, mode="no_gate", activation="relu", backend="torch", c_reason=_never) == "c_train"
    assert cfc(**UNWIRED, grad=True, c_train_reason=lambda: "no sgemm_", c_reason=_never) == "scan"
    for case in (dict(mode="pure"), dict(activation="silu"), dict(activation="gelu"), dict(n_hidden=1),
                 dict(dtype=torch.float64), dict(device_type="cuda", backend="torch")):
        assert cfc(**{**UNWIRED, **case}, grad=True, c_reason=_never, c_train_reason=_never) == "scan", case
    # Wired cells (no backbone, cascaded) stay with the PyTorch scan; so does a call without gradient.
    assert cfc(grad=True, c_reason=_never, c_train_reason=_never) == "scan"
    assert cfc(**UNWIRED, c_train_reason=_never) == "c"


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        cfc(backend="cuda")


def ltc(**changes):
    call = dict(device_type="cpu", dtype=torch.float32, solver="semi_implicit", mixed_memory=False,
                timespans_need_grad=False, sparse=True, c_reason=lambda: None)
    call.update(changes)
    return choose_ltc_path(**call)


def test_ltc_paths():
    assert ltc() == "c"
    assert ltc(c_reason=lambda: "disabled by LIQUIDTS_NATIVE=0") == "scan"
    assert ltc(c_reason=lambda: "no compiler", sparse=False) == "loop"
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        assert ltc(dtype=dtype, c_reason=_never) == "scan"
    assert ltc(device_type="cuda", c_reason=_never) == "scan"
    assert ltc(mixed_memory=True, c_reason=_never) == "loop"
    assert ltc(timespans_need_grad=True, c_reason=_never) == "loop"
    for solver in ("dopri5", "rk4"):
        assert ltc(solver=solver, c_reason=_never) == "ode"
        assert ltc(solver=solver, mixed_memory=True, c_reason=_never) == "ode"


def _check_c_or_reference(choose):
    assert choose(device_type="cpu", dtype=torch.float32, c_reason=lambda: None) == "c"
    assert choose(device_type="cpu", dtype=torch.float32, c_reason=lambda: "no compiler") == "reference"
    for dtype in (torch.float64, torch.bfloat16):
        assert choose(device_type="cpu", dtype=dtype, c_reason=_never) == "reference"
    assert choose(device_type="cuda", dtype=torch.float32, c_reason=_never) == "reference"


def test_ltc_sensory_paths():
    _check_c_or_reference(choose_ltc_sensory_path)


def test_tanh_dropout_paths():
    _check_c_or_reference(functools.partial(choose_tanh_dropout_path, training=True, grad=True))
    _check_c_or_reference(functools.partial(choose_tanh_dropout_path, training=False, grad=False))
    # Outside training the C path is a tanh without a backward.
    assert choose_tanh_dropout_path(device_type="cpu", dtype=torch.float32, training=False, grad=True,
                                    c_reason=_never) == "reference"
