import pytest
import torch

from liquidts.baselines import RWKV
from liquidts.baselines.rwkv import wkv_parallel, wkv_recurrent

from ._tasks import delayed_copy_loss


def _wkv_by_hand(w, u, k, v):
    """wkv_t = (Σ_{i<t} e^{-(t-1-i)w + k_i} v_i + e^{u+k_t} v_t) / (the same without v), unstabilised."""
    B, T, D = k.shape
    out = torch.zeros(B, T, D, dtype=k.dtype)
    for t in range(T):
        num = torch.exp(u + k[:, t]) * v[:, t]
        den = torch.exp(u + k[:, t])
        for i in range(t):
            e = torch.exp(-(t - 1 - i) * w + k[:, i])
            num, den = num + e * v[:, i], den + e
        out[:, t] = num / den
    return out


def _empty(B, D, dtype=torch.float64):
    return torch.zeros(B, D, dtype=dtype), torch.zeros(B, D, dtype=dtype), torch.full((B, D), float("-inf"), dtype=dtype)


@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_wkv_forms_agree_with_the_formula(chunk):
    g = torch.Generator().manual_seed(0)
    B, T, D = 2, 11, 5
    w = torch.rand(D, generator=g, dtype=torch.float64) * 2
    u = torch.randn(D, generator=g, dtype=torch.float64)
    k, v = (torch.randn(B, T, D, generator=g, dtype=torch.float64) for _ in range(2))
    ref = _wkv_by_hand(w, u, k, v)
    rec, s_rec = wkv_recurrent(w, u, k, v, _empty(B, D))
    par, s_par = wkv_parallel(w, u, k, v, _empty(B, D), chunk)
    torch.testing.assert_close(rec, ref)
    torch.testing.assert_close(par, ref)
    for a, b in zip(s_par, s_rec):
        torch.testing.assert_close(a, b)
    # large exponents stay finite through the stabiliser
    par_big, _ = wkv_parallel(w, u, 80 * k, v, _empty(B, D), chunk)
    rec_big, _ = wkv_recurrent(w, u, 80 * k, v, _empty(B, D))
    assert torch.isfinite(par_big).all()
    torch.testing.assert_close(par_big, rec_big)


def test_parallel_gradients_match_recurrent():
    g = torch.Generator().manual_seed(1)
    B, T, D = 2, 9, 4
    inputs = [torch.rand(D, generator=g, dtype=torch.float64).requires_grad_(),
              torch.randn(D, generator=g, dtype=torch.float64).requires_grad_(),
              torch.randn(B, T, D, generator=g, dtype=torch.float64).requires_grad_(),
              torch.randn(B, T, D, generator=g, dtype=torch.float64).requires_grad_()]
    weight = torch.randn(B, T, D, dtype=torch.float64)
    g_par = torch.autograd.grad((wkv_parallel(*inputs, _empty(B, D), 4)[0] * weight).sum(), inputs)
    g_rec = torch.autograd.grad((wkv_recurrent(*inputs, _empty(B, D))[0] * weight).sum(), inputs)
    for a, b in zip(g_par, g_rec):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_model_parallel_recurrent_chunks_and_steps_agree(dtype, tol):
    m = RWKV(3, 16, chunk=5).to(dtype)
    x = torch.randn(2, 23, 3, dtype=dtype)
    y, h = m(x)
    assert h.shape == (2, 5, 2, 16)
    m.config.mode = "recurrent"
    y_rec, h_rec = m(x)
    torch.testing.assert_close(y_rec, y, rtol=tol, atol=tol)
    torch.testing.assert_close(h_rec, h, rtol=tol, atol=tol)
    m.config.mode = "parallel"
    ya, ha = m(x[:, :9])
    yb, hb = m(x[:, 9:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y, rtol=tol, atol=tol)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = m.step(x[:, t], state)
        ys.append(y_t)
        assert state.shape == h.shape  # the state never grows
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=tol, atol=tol)


def test_learns_delayed_copy():
    first, last = delayed_copy_loss(lambda: RWKV(1, 16, n_layers=2), steps=120)
    assert first > 0.8 and last < 0.2


def test_bad_config_and_state():
    with pytest.raises(ValueError, match="mode"):
        RWKV(3, 8, mode="cuda")
    m = RWKV(3, 8)
    with pytest.raises(ValueError, match="hx"):
        m(torch.randn(2, 5, 3), hx=torch.zeros(3, 5, 2, 8))
