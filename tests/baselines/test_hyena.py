import pytest
import torch

from liquidts.baselines import Hyena, StripedHyena
from liquidts.baselines.hyena import AttentionMixer, HyenaOperator, causal_fft_conv

from ._tasks import delayed_copy_loss


def test_fft_convolution_is_the_causal_sum():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 3, 13, generator=g, dtype=torch.float64)
    h = torch.randn(3, 13, generator=g, dtype=torch.float64)
    ref = torch.zeros_like(u)
    for t in range(13):
        for s in range(t + 1):
            ref[..., t] += h[:, s] * u[..., t - s]
    torch.testing.assert_close(causal_fft_conv(u, h), ref)


def test_filter_depends_on_the_lag_only_and_truncates():
    m = Hyena(2, 8, filter_len=5)
    f = m.blocks[0].mixer.filter
    torch.testing.assert_close(f(7)[..., :4], f(4))  # the same lags whatever the length asked for
    assert f(7)[..., 5:].abs().max() == 0 and f(7)[..., :5].abs().max() > 0
    with torch.no_grad():  # the memo serves slices of a longer computation, the same values
        torch.testing.assert_close(f.lags(3), f(3))
        torch.testing.assert_close(f.lags(6), f(6))


@pytest.mark.parametrize("cls, kw", [(Hyena, {}), (Hyena, dict(filter_len=4, order=3)),
                                     (StripedHyena, dict(n_layers=3)), (StripedHyena, dict(filter_len=6))])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_steps_and_chunks_equal_one_pass(cls, kw, dtype, tol):
    m = cls(3, 16, **kw).to(dtype).eval()
    x = torch.randn(2, 25, 3, dtype=dtype)
    y, h = m(x)
    ya, ha = m(x[:, :11])
    yb, hb = m(x[:, 11:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y, rtol=tol, atol=tol)
    state, ys, sizes = None, [], []
    for t in range(x.shape[1]):
        y_t, state = m.step(x[:, t], state)
        ys.append(y_t)
        sizes.append([sum(s.numel() for s in block) for block, b in zip(state, m.blocks)
                      if isinstance(b.mixer, HyenaOperator)])
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=tol, atol=tol)
    for a, b in zip(hb, state):
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=tol, atol=tol)
    if m.config.filter_len is not None:  # a truncated filter keeps a fixed-size cache
        assert sizes[0] == sizes[-1]
    else:  # the whole history: one input per order and channel more at every step
        assert sizes[-1][0] - sizes[-2][0] == m.config.order * 2 * 16


def test_stripes():
    m = StripedHyena(3, 8, n_layers=4, n_heads=2)
    kinds = [type(b.mixer) for b in m.blocks]
    assert kinds == [HyenaOperator, AttentionMixer, HyenaOperator, AttentionMixer]
    assert m.config.attention_at == (1, 3)
    assert [type(b.mixer) for b in Hyena(3, 8, n_layers=3, attention_at=(0,), n_heads=2).blocks][0] is AttentionMixer


@pytest.mark.parametrize("cls", [Hyena, StripedHyena])
def test_learns_delayed_copy(cls):
    first, last = delayed_copy_loss(lambda: cls(1, 16, n_layers=2, n_heads=2), steps=120)
    assert first > 0.8 and last < 0.2


def test_bad_config_and_state():
    with pytest.raises(ValueError, match="filter_features"):
        Hyena(3, 8, filter_features=8)
    with pytest.raises(ValueError, match="attention_at"):
        Hyena(3, 8, attention_at=(5,))
    with pytest.raises(ValueError, match="filter_len"):
        Hyena(3, 8, filter_len=0)
    m = Hyena(3, 8)
    with pytest.raises(ValueError, match="hx"):
        m(torch.randn(2, 5, 3), hx=((torch.zeros(2, 24, 2), torch.zeros(2, 2, 7, 0)),) * 2)
