"""The readout's dropout(tanh(rows + cols)): the C kernel against its PyTorch reference (masks bit
for bit, values and gradients to float rounding), and the masks against what dropout means (keep
rate, scale, independence, seeding)."""

import math

import pytest
import torch

from liquidts.kernels.tanh_dropout import native, reference, tanh_dropout

# (R rows, M segments, D width, G blocks): widths off and on the vector width, one block for all
# rows and one per group of rows (the forecaster's two readouts), an ETTh1-720 batch.
CASES = [(1, 1, 1, 1), (7, 3, 1, 1), (15, 5, 17, 3), (64, 60, 64, 1), (896, 60, 64, 128)]
TOL = dict(rtol=1e-6, atol=1e-6)


def _inputs(R, M, D, G, scale=4.0, dtype=torch.float32):
    # Scaled well into tanh's saturation.
    return torch.randn(R, D, dtype=dtype) * scale, torch.randn(G, M, D, dtype=dtype) * scale


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.97])
@pytest.mark.parametrize("seed", [0, 12345, 2**62 - 1])
def test_c_kernel_computes_the_reference(case, p, seed):
    rows, cols = _inputs(*case)
    threshold, scale = reference.keep_threshold(p), reference.scale_of(p, torch.float32)
    y_c, keep_c = native.forward_native(rows, cols, seed, threshold, scale)
    y_ref, keep_ref = reference.forward_reference(reference.broadcast_sum(rows, cols), seed, threshold, scale)
    assert torch.equal(keep_c, keep_ref)
    # Values scaled by 1 / (1 - p): so is their rounding.
    scaled = dict(rtol=1e-6, atol=2e-6 * scale)
    torch.testing.assert_close(y_c, y_ref, **scaled)
    assert torch.equal(y_c == 0, ~keep_c | (y_ref == 0))
    grad = torch.randn(y_c.shape)
    d_rows, d_cols = native.backward_native(grad, y_c, keep_c, scale, case[3])
    ref_rows, ref_cols = reference.sum_gradients(reference.backward_reference(grad, y_ref, keep_ref, scale), case[3])
    # Sums over up to 896 rows: compared with their scale.
    torch.testing.assert_close(d_rows, ref_rows, rtol=1e-5, atol=1e-5 * scale * math.sqrt(case[1]))
    torch.testing.assert_close(d_cols, ref_cols, rtol=1e-5, atol=1e-5 * scale * math.sqrt(case[0] / case[3]))


def test_same_result_with_and_without_the_c_kernel(monkeypatch):
    rows = torch.randn(32, 16, requires_grad=True)
    cols = torch.randn(4, 9, 16, requires_grad=True)
    grad = torch.randn(32, 9, 16)

    def run():
        torch.manual_seed(3)
        y = tanh_dropout(rows, cols, 0.2, True)
        return (y.detach(), *torch.autograd.grad(y, (rows, cols), grad))

    monkeypatch.setenv("LIQUIDTS_NATIVE", "1")
    y1, r1, c1 = run()
    monkeypatch.setenv("LIQUIDTS_NATIVE", "0")
    y0, r0, c0 = run()
    assert torch.equal(y1 == 0, y0 == 0)
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(r1, r0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c1, c0, rtol=1e-5, atol=1e-5)


def test_it_is_dropout_of_tanh_of_the_broadcast_sum():
    """Against PyTorch's own operations: the sum of row r and block r // (R // G), its tanh, and
    the masks' zeros with the kept values scaled by 1 / (1 - p)."""
    rows, cols = _inputs(12, 5, 8, 3, scale=1.0)
    torch.manual_seed(0)
    y = tanh_dropout(rows, cols, 0.3, True)
    x = torch.stack([rows[r].view(1, -1) + cols[r // 4] for r in range(12)])  # (12, 5, 8)
    kept = y != 0
    torch.testing.assert_close(y[kept], (torch.tanh(x) / 0.7)[kept], **TOL)
    with torch.no_grad():
        torch.testing.assert_close(tanh_dropout(rows, cols, 0.3, False), torch.tanh(x), **TOL)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_rate_scale_and_independence(p):
    torch.manual_seed(0)
    n = 1 << 20
    y = tanh_dropout(torch.full((n, 1), 0.5), torch.zeros(1, 1, 1), p, True).view(-1)
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
    rows, cols = _inputs(100, 2, 5, 10)
    torch.manual_seed(7)
    a, b = tanh_dropout(rows, cols, 0.3, True), tanh_dropout(rows, cols, 0.3, True)
    torch.manual_seed(7)
    assert torch.equal(tanh_dropout(rows, cols, 0.3, True), a)
    assert not torch.equal(a, b)


def test_gradients_sum_the_tanh_derivative_where_kept():
    rows, cols = _inputs(50, 6, 40, 5, scale=1.0, dtype=torch.float64)
    rows.requires_grad_()
    cols.requires_grad_()
    grad = torch.randn(50, 6, 40, dtype=torch.float64)
    torch.manual_seed(1)
    y = tanh_dropout(rows, cols, 0.25, True)
    d_rows, d_cols = torch.autograd.grad(y, (rows, cols), grad)
    kept = y.detach() != 0
    x = reference.broadcast_sum(rows.detach(), cols.detach())
    g = torch.where(kept, grad / 0.75 * (1 - torch.tanh(x) ** 2), 0.0)
    torch.testing.assert_close(d_rows, g.sum(1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(d_cols, g.view(5, 10, 6, 40).sum(1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("native_on", ["1", "0"], ids=["c", "pytorch"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_outside_training_it_is_tanh_with_or_without_a_gradient(monkeypatch, native_on, case):
    """Without a gradient the C path's plain tanh; with one, autograd through fast_tanh. Inputs up
    to 1e30 and down to -1e30 stay finite."""
    monkeypatch.setenv("LIQUIDTS_NATIVE", native_on)
    rows, cols = _inputs(*case)
    rows[0, 0] = 1e30
    rows[-1, -1] = -1e30
    x = reference.broadcast_sum(rows, cols)
    with torch.no_grad():
        torch.testing.assert_close(tanh_dropout(rows, cols, 0.5, False), torch.tanh(x), **TOL)
    leaf = rows.clone().requires_grad_()
    (g,) = torch.autograd.grad(tanh_dropout(leaf, cols, 0.5, False).sum(), leaf)
    # A sum over the M segments: its rounding grows with M.
    torch.testing.assert_close(g, (1 - torch.tanh(x) ** 2).sum(1), rtol=1e-6, atol=1e-6 * case[1])


def test_not_training_is_tanh_and_bad_input_is_refused():
    rows, cols = _inputs(6, 2, 3, 2)
    x = reference.broadcast_sum(rows, cols)
    torch.testing.assert_close(tanh_dropout(rows, cols, 0.5, False), torch.tanh(x))
    torch.testing.assert_close(tanh_dropout(rows, cols, 0.0, True), torch.tanh(x))
    with pytest.raises(ValueError, match="dropout probability"):
        tanh_dropout(rows, cols, 1.0, True)
    with pytest.raises(ValueError, match="G dividing R"):
        tanh_dropout(rows, torch.zeros(4, 2, 3), 0.5, True)  # 4 blocks for 6 rows
    with pytest.raises(ValueError, match="G dividing R"):
        tanh_dropout(rows, torch.zeros(2, 2, 5), 0.5, True)  # widths 3 and 5
