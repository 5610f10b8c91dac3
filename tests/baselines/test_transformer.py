import math

import pytest
import torch

from liquidts.baselines import Transformer
from liquidts.baselines.transformer import kv_cache_bytes, rotate

from ._tasks import delayed_copy_loss


def _steps(model, x):
    state, ys = None, []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("kw", [{}, dict(augmented_shortcuts=2, series_activation=3, n_layers=1)])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_kv_cache_steps_and_chunks_equal_one_pass(kw, dtype, tol):
    m = Transformer(3, 16, **kw).to(dtype).eval()
    x = torch.randn(2, 21, 3, dtype=dtype)
    y, (k, v) = m(x)
    assert k.shape == v.shape == (m.config.n_layers, 2, 4, 21, 4)
    ys, state = _steps(m, x)
    torch.testing.assert_close(ys, y, rtol=tol, atol=tol)
    ya, ha = m(x[:, :8])
    yb, hb = m(x[:, 8:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y, rtol=tol, atol=tol)
    for a, b in zip(hb, (k, v)):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    assert kv_cache_bytes(m.config, 21, 2, x.element_size()) == k.nbytes + v.nbytes


@torch.no_grad()
def test_attention_against_the_formula_by_hand():
    """One layer: softmax(q_t . k_s / sqrt(DH)) over s <= t, with q and k rotated by RoPE angles
    p * 10000^(-2j/DH) written with complex numbers."""
    torch.manual_seed(1)
    m = Transformer(4, 8, n_layers=1, n_heads=2).double()
    attn = m.blocks[0].attn
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    y, _ = attn(x)
    q, k, v = attn.qkv(x).view(1, 5, 3, 2, 4).unbind(2)  # (1, T, NH, DH)
    freqs = 10000.0 ** (-torch.arange(0, 4, 2, dtype=torch.float64) / 4)
    rot = torch.polar(torch.ones(5, 2, dtype=torch.float64), torch.arange(5.0, dtype=torch.float64)[:, None] * freqs)

    def rope(t):
        return torch.view_as_real(torch.view_as_complex(t.reshape(1, 5, 2, 2, 2)) * rot[None, :, None]).reshape(1, 5, 2, 4)

    q, k = rope(q), rope(k)
    out = torch.zeros(1, 5, 2, 4, dtype=torch.float64)
    for t in range(5):
        for head in range(2):
            scores = torch.tensor([q[0, t, head] @ k[0, s, head] / math.sqrt(4) for s in range(t + 1)])
            w = torch.softmax(scores, 0)
            out[0, t, head] = sum(w[s] * v[0, s, head] for s in range(t + 1))
    torch.testing.assert_close(y, attn.proj(out.reshape(1, 5, 8)))
    # RoPE makes scores depend on the offset only: rotating both by a shift changes nothing
    a, b = torch.randn(1, 1, 1, 4, dtype=torch.float64), torch.randn(1, 1, 1, 4, dtype=torch.float64)
    s1 = (rotate(a, 7, 10000.0) * rotate(b, 3, 10000.0)).sum()
    s2 = (rotate(a, 1007, 10000.0) * rotate(b, 1003, 10000.0)).sum()
    torch.testing.assert_close(s1, s2)


def test_pangu_options_add_parameters_and_change_the_function():
    torch.manual_seed(0)
    plain = Transformer(3, 16, n_layers=1)
    torch.manual_seed(0)
    pangu = Transformer(3, 16, n_layers=1, augmented_shortcuts=2, series_activation=3)
    extra = sum(p.numel() for p in pangu.parameters()) - sum(p.numel() for p in plain.parameters())
    D, M = 16, 64
    assert extra == 2 * (D * 4 + 4 + 4 * D + D) + 2 * 3 * M  # two bottleneck shortcuts; (a_i, b_i) per channel
    x = torch.randn(2, 6, 3)
    assert not torch.allclose(plain(x)[0], pangu(x)[0])


def test_learns_delayed_copy():
    first, last = delayed_copy_loss(lambda: Transformer(1, 16, n_layers=1, n_heads=2, augmented_shortcuts=1,
                                                        series_activation=2), steps=120)
    assert first > 0.8 and last < 0.2


def test_bad_config_and_state():
    with pytest.raises(ValueError, match="heads"):
        Transformer(3, 10, n_heads=4)
    with pytest.raises(ValueError, match="series_activation"):
        Transformer(3, 8, n_heads=2, series_activation=-1)
    m = Transformer(3, 8, n_heads=2)
    with pytest.raises(ValueError, match="KV cache"):
        m(torch.randn(2, 5, 3), hx=(torch.zeros(1), torch.zeros(1)))
    with pytest.raises(ValueError, match="step"):
        m.step(torch.randn(2, 5, 3))
