"""Dropout with counter-based masks: the C kernel against its PyTorch reference, bit for bit, and
the masks against what dropout means (keep rate, scale, independence, gradient, seeding)."""

import math

import pytest
import torch

from liquidts.kernels.dropout import dropout, native, reference

SHAPES = [(1,), (7,), (3, 5, 17), (64, 60, 64)]  # lengths off and on the vector width


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.97])
@pytest.mark.parametrize("seed", [0, 12345, 2**62 - 1])
def test_c_kernel_draws_the_reference_masks(shape, p, seed):
    x = torch.randn(shape)
    threshold, scale = reference.keep_threshold(p), reference.scale_of(p, torch.float32)
    y_c, keep_c = native.apply_native(x, seed, threshold, scale)
    y_ref, keep_ref = reference.apply_reference(x, seed, threshold, scale)
    assert torch.equal(keep_c, keep_ref)
    assert torch.equal(y_c, y_ref)
    grad = torch.randn(shape)
    assert torch.equal(native.backward_native(grad, keep_c, scale), reference.backward_reference(grad, keep_ref, scale))


def test_same_result_with_and_without_the_c_kernel(monkeypatch):
    x = torch.randn(32, 9, 16, requires_grad=True)
    grad = torch.randn(32, 9, 16)

    def run():
        torch.manual_seed(3)
        y = dropout(x, 0.2, True)
        (g,) = torch.autograd.grad(y, x, grad)
        return y.detach(), g

    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    y1, g1 = run()
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    y0, g0 = run()
    assert torch.equal(y1, y0) and torch.equal(g1, g0)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_scale_and_independence(p):
    torch.manual_seed(0)
    n = 1 << 20
    x = torch.ones(n)
    y = dropout(x, p, True)
    kept = y != 0
    # The keep rate within 5 binomial standard deviations of 1 - p.
    assert abs(kept.double().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # Kept elements scaled as torch.nn.functional.dropout scales them.
    scale = torch.nn.functional.dropout(torch.ones(4096), p, True).max()
    assert torch.equal(y[kept], torch.full_like(y[kept], scale.item()))
    # Neighbouring elements (index-adjacent, as a hash of the index must keep apart) uncorrelated.
    k = kept.double()
    lag1 = torch.corrcoef(torch.stack([k[:-1], k[1:]]))[0, 1].item()
    assert abs(lag1) < 5 / math.sqrt(n)


def test_seeded_by_torch_and_new_masks_per_call():
    x = torch.randn(1000)
    torch.manual_seed(7)
    a, b = dropout(x, 0.3, True), dropout(x, 0.3, True)
    torch.manual_seed(7)
    assert torch.equal(dropout(x, 0.3, True), a)
    assert not torch.equal(a, b)


def test_gradient_passes_only_where_kept():
    x = torch.randn(50, 40, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(50, 40, dtype=torch.float64)
    torch.manual_seed(1)
    y = dropout(x, 0.25, True)
    (g,) = torch.autograd.grad(y, x, grad)
    kept = y.detach() != 0
    assert torch.equal(g == 0, ~kept)
    torch.testing.assert_close(g[kept], grad[kept] / 0.75, rtol=1e-15, atol=0)


def test_identity_when_not_training_or_p_zero():
    x = torch.randn(5)
    assert dropout(x, 0.5, False) is x and dropout(x, 0.0, True) is x
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(x, 1.0, True)
