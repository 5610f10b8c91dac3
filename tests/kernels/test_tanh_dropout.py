"""The readout's dropout(tanh(x)): the C kernel against its PyTorch reference (masks bit for bit,
values and gradients to float rounding), and the masks against what dropout means (keep rate,
scale, independence, seeding)."""

import math

import pytest
import torch

from liquidts.kernels.tanh_dropout import native, reference, tanh_dropout

SHAPES = [(1,), (7,), (3, 5, 17), (64, 60, 64)]  # lengths off and on the vector width
TOL = dict(rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.97])
@pytest.mark.parametrize("seed", [0, 12345, 2**62 - 1])
def test_c_kernel_computes_the_reference(shape, p, seed):
    x = torch.randn(shape) * 4  # well into tanh's saturation
    threshold, scale = reference.keep_threshold(p), reference.scale_of(p, torch.float32)
    y_c, t_c, keep_c = native.forward_native(x, seed, threshold, scale)
    y_ref, t_ref, keep_ref = reference.forward_reference(x, seed, threshold, scale)
    assert torch.equal(keep_c, keep_ref)
    torch.testing.assert_close(t_c, t_ref, **TOL)
    # Values scaled by 1 / (1 - p): so is their rounding.
    scaled = dict(rtol=1e-6, atol=2e-6 * scale)
    torch.testing.assert_close(y_c, y_ref, **scaled)
    assert torch.equal(y_c == 0, ~keep_c | (t_c == 0))
    grad = torch.randn(shape)
    torch.testing.assert_close(native.backward_native(grad, t_c, keep_c, scale),
                               reference.backward_reference(grad, t_ref, keep_ref, scale), **scaled)


def test_same_result_with_and_without_the_c_kernel(monkeypatch):
    x = torch.randn(32, 9, 16, requires_grad=True)
    grad = torch.randn(32, 9, 16)

    def run():
        torch.manual_seed(3)
        y = tanh_dropout(x, 0.2, True)
        (g,) = torch.autograd.grad(y, x, grad)
        return y.detach(), g

    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    y1, g1 = run()
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    y0, g0 = run()
    assert torch.equal(y1 == 0, y0 == 0)
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(g1, g0, **TOL)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_scale_and_independence(p):
    torch.manual_seed(0)
    n = 1 << 20
    x = torch.full((n,), 0.5)
    y = tanh_dropout(x, p, True)
    kept = y != 0
    # The keep rate within 5 binomial standard deviations of 1 - p.
    assert abs(kept.double().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # Kept elements: tanh(x) scaled as torch.nn.functional.dropout scales.
    expected = torch.nn.functional.dropout(torch.tanh(torch.full((4096,), 0.5)), p, True).max()
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], expected.item()), **TOL)
    # Neighbouring elements (index-adjacent, as a hash of the index must keep apart) uncorrelated.
    k = kept.double()
    lag1 = torch.corrcoef(torch.stack([k[:-1], k[1:]]))[0, 1].item()
    assert abs(lag1) < 5 / math.sqrt(n)


def test_seeded_by_torch_and_new_masks_per_call():
    x = torch.randn(1000)
    torch.manual_seed(7)
    a, b = tanh_dropout(x, 0.3, True), tanh_dropout(x, 0.3, True)
    torch.manual_seed(7)
    assert torch.equal(tanh_dropout(x, 0.3, True), a)
    assert not torch.equal(a, b)


def test_gradient_is_tanh_derivative_where_kept():
    x = torch.randn(50, 40, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(50, 40, dtype=torch.float64)
    torch.manual_seed(1)
    y = tanh_dropout(x, 0.25, True)
    (g,) = torch.autograd.grad(y, x, grad)
    kept = y.detach() != 0
    assert torch.equal(g == 0, ~kept)
    expected = grad / 0.75 * (1 - torch.tanh(x.detach()) ** 2)
    torch.testing.assert_close(g[kept], expected[kept], rtol=1e-12, atol=0)


@pytest.mark.parametrize("native_on", ["1", "0"], ids=["c", "pytorch"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_outside_training_it_is_tanh_with_or_without_a_gradient(monkeypatch, native_on, shape):
    """Without a gradient the C path's plain tanh; with one, autograd through fast_tanh. Inputs up
    to 1e30 and down to -1e30 stay finite."""
    monkeypatch.setenv("LIQUIDTS_NATIVE", native_on)
    x = torch.randn(shape) * 4
    x.view(-1)[0] = 1e30
    x.view(-1)[-1] = -1e30
    with torch.no_grad():
        torch.testing.assert_close(tanh_dropout(x, 0.5, False), torch.tanh(x), **TOL)
    leaf = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(tanh_dropout(leaf, 0.5, False).sum(), leaf)
    torch.testing.assert_close(g, 1 - torch.tanh(x) ** 2, **TOL)


def test_not_training_is_tanh_and_bad_p_is_refused():
    x = torch.randn(5)
    torch.testing.assert_close(tanh_dropout(x, 0.5, False), torch.tanh(x))
    torch.testing.assert_close(tanh_dropout(x, 0.0, True), torch.tanh(x))
    with pytest.raises(ValueError, match="dropout probability"):
        tanh_dropout(x, 1.0, True)
