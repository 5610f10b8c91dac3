"""liquidts.activations: the fast tanh against torch.tanh, values and gradients."""

import pytest
import torch

from liquidts.activations import fast_tanh


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-14)])
def test_fast_tanh_is_torch_tanh(dtype, tol):
    edges = torch.tensor([0.0, -0.0, 1e-30, 88.0, -88.0], dtype=dtype)
    x = torch.cat([torch.linspace(-30, 30, 2001, dtype=dtype), edges])
    x.requires_grad_(True)
    probe = torch.randn(x.shape, dtype=dtype)
    got = fast_tanh(x)
    expected = torch.tanh(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=tol)
    (g_got,) = torch.autograd.grad((got * probe).sum(), x)
    (g_expected,) = torch.autograd.grad((expected * probe).sum(), x)
    torch.testing.assert_close(g_got, g_expected, rtol=0, atol=4 * tol)
    assert torch.isfinite(fast_tanh(torch.tensor([float("1e38"), float("-1e38")], dtype=dtype))).all()


def test_fast_tanh_passes_gradcheck():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast_tanh, (x,))
