import math

import pytest
import torch

from liquidts.baselines import XLSTM
from liquidts.baselines.xlstm import mlstm_parallel, mlstm_recurrent, slstm_scan

from ._tasks import delayed_copy_loss


def _random_mlstm_inputs(B=2, NH=3, T=9, DH=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, NH, T, DH, generator=g) for _ in range(3))
    i_pre = 2 * torch.randn(B, NH, T, generator=g)
    f_pre = 2 * torch.randn(B, NH, T, generator=g)
    return q, k / math.sqrt(DH), v, i_pre, f_pre


def _empty_mlstm_state(B=2, NH=3, DH=4):
    return torch.zeros(B, NH, DH, DH), torch.zeros(B, NH, DH), torch.full((B, NH), float("-inf"))


def test_mlstm_parallel_equals_recurrent_with_and_without_state():
    q, k, v, i_pre, f_pre = _random_mlstm_inputs()
    for state in (_empty_mlstm_state(),
                  (torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4), torch.randn(2, 3))):
        h_p, s_p = mlstm_parallel(q, k, v, i_pre, f_pre, *state)
        h_r, s_r = mlstm_recurrent(q, k, v, i_pre, f_pre, *state)
        torch.testing.assert_close(h_p, h_r, rtol=1e-5, atol=1e-5)
        for a, b in zip(s_p, s_r):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # the parallel form split in two with the carried state equals one pass
    state = _empty_mlstm_state()
    h, _ = mlstm_parallel(q, k, v, i_pre, f_pre, *state)
    cut = lambda t, sl: t[:, :, sl]  # noqa: E731
    h1, s1 = mlstm_parallel(*(cut(t, slice(0, 4)) for t in (q, k, v, i_pre, f_pre)), *state)
    h2, _ = mlstm_parallel(*(cut(t, slice(4, None)) for t in (q, k, v, i_pre, f_pre)), *s1)
    torch.testing.assert_close(torch.cat([h1, h2], 2), h, rtol=1e-5, atol=1e-5)


def test_mlstm_parallel_gradients_match_recurrent():
    inputs = [t.requires_grad_() for t in _random_mlstm_inputs(T=6)]
    w = torch.randn(2, 3, 6, 4)
    g_p = torch.autograd.grad((mlstm_parallel(*inputs, *_empty_mlstm_state())[0] * w).sum(), inputs)
    g_r = torch.autograd.grad((mlstm_recurrent(*inputs, *_empty_mlstm_state())[0] * w).sum(), inputs)
    for a, b in zip(g_p, g_r):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_mlstm_against_the_equations_by_hand():
    """One head, DH = 2, three steps of the unstabilised equations:
    C_t = f C + i k v^T, n_t = f n + i k, h = C^T q / max(|n.q|, 1), i = exp(i~), f = sigmoid(f~)."""
    qs = [[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]
    ks = [[1.0, 0.3], [-0.4, 0.9], [0.6, -0.7]]
    vs = [[2.0, -1.0], [0.5, 0.5], [-1.5, 1.0]]
    ig = [0.3, -1.2, 2.0]
    fg = [1.0, -0.5, 0.4]
    C = [[0.0, 0.0], [0.0, 0.0]]
    n = [0.0, 0.0]
    expected = []
    for q, k, v, it, ft in zip(qs, ks, vs, ig, fg):
        i, f = math.exp(it), 1 / (1 + math.exp(-ft))
        C = [[f * C[a][b] + i * k[a] * v[b] for b in range(2)] for a in range(2)]
        n = [f * n[a] + i * k[a] for a in range(2)]
        den = max(abs(n[0] * q[0] + n[1] * q[1]), 1.0)
        expected.append([(C[0][b] * q[0] + C[1][b] * q[1]) / den for b in range(2)])
    args = [torch.tensor(t).view(1, 1, 3, -1) for t in (qs, ks, vs)]
    args += [torch.tensor(t).view(1, 1, 3) for t in (ig, fg)]
    for cell in (mlstm_parallel, mlstm_recurrent):
        h, (Cs, ns, m) = cell(*args, torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2),
                              torch.full((1, 1), float("-inf")))
        torch.testing.assert_close(h.view(3, 2), torch.tensor(expected), rtol=1e-5, atol=1e-5)
        # the stored memory is the true one scaled by exp(-m)
        torch.testing.assert_close(Cs.view(2, 2) * torch.exp(m), torch.tensor(C), rtol=1e-5, atol=1e-5)


def test_slstm_against_the_equations_by_hand():
    """One head of two units, three steps: pre = W x + R h_{t-1} + b given as W x + b per step;
    c = f c + i tanh(z~), n = f n + i, h = sigmoid(o~) c / n, i = exp(i~), f = sigmoid(f~)."""
    pre = [[[0.5, -0.2], [1.0, 2.0], [0.3, -0.8], [0.1, 0.4]],  # rows: i~, f~, z~, o~ for 2 units
           [[-1.0, 0.7], [0.2, -0.5], [1.5, 0.2], [-0.3, 0.9]],
           [[2.0, 0.1], [-1.0, 0.4], [-0.6, 1.1], [0.8, -0.2]]]
    R = [[[0.2, -0.1, 0.4, 0.3, -0.5, 0.6, 0.1, 0.2], [0.7, 0.0, -0.3, 0.5, 0.2, -0.4, 0.3, -0.1]]]  # (NH, DH, 4 DH)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h, c, n = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    expected = []
    for p in pre:
        raw = [[p[g][o] + sum(h[j] * R[0][j][g * 2 + o] for j in range(2)) for o in range(2)] for g in range(4)]
        i = [math.exp(raw[0][o]) for o in range(2)]
        f = [sig(raw[1][o]) for o in range(2)]
        c = [f[o] * c[o] + i[o] * math.tanh(raw[2][o]) for o in range(2)]
        n = [f[o] * n[o] + i[o] for o in range(2)]
        h = [sig(raw[3][o]) * c[o] / n[o] for o in range(2)]
        expected.append(h)
    zeros = torch.zeros(1, 1, 2)
    hs, _ = slstm_scan(torch.tensor(pre).view(1, 3, 1, 4, 2), torch.tensor(R), zeros, zeros, zeros,
                       torch.full((1, 1, 2), float("-inf")))
    torch.testing.assert_close(hs.view(3, 2), torch.tensor(expected), rtol=1e-5, atol=1e-6)


def _perturbed(model):
    """Give zero-initialised weights (recurrent kernels, norms) random values so comparisons bite."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("kw", [dict(slstm_at=(1,)), dict(slstm_at="all", slstm_conv_kernel=0),
                                dict(slstm_at=(), num_blocks=3, round_proj_to=1, mlstm_conv_kernel=2)])
def test_forms_chunks_and_step_agree(kw):
    torch.manual_seed(0)
    m = _perturbed(XLSTM(3, 16, **kw))
    x = torch.randn(2, 13, 3)
    y, h = m(x)
    # float32 sums in a different order, amplified by the per-head norms: 1e-4
    m.config.mlstm_mode = "recurrent"
    torch.testing.assert_close(m(x)[0], y, rtol=1e-4, atol=1e-4)
    m.config.mlstm_mode = "parallel"
    ya, ha = m(x[:, :6])
    yb, _ = m(x[:, 6:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y, rtol=1e-4, atol=1e-4)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = m.step(x[:, t], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-4, atol=1e-4)
    for s, r in zip(state, h):
        for a, b in zip(s, r):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _reference_stack(xlstm, D, T, num_blocks, slstm_at):
    cfg = xlstm.xLSTMBlockStackConfig(
        mlstm_block=xlstm.mLSTMBlockConfig(mlstm=xlstm.mLSTMLayerConfig(
            conv1d_kernel_size=4, qkv_proj_blocksize=4, num_heads=4)),
        slstm_block=xlstm.sLSTMBlockConfig(
            slstm=xlstm.sLSTMLayerConfig(backend="vanilla", num_heads=4, conv1d_kernel_size=4),
            feedforward=xlstm.FeedForwardConfig(proj_factor=1.3, act_fn="gelu")),
        context_length=T, num_blocks=num_blocks, embedding_dim=D, slstm_at=slstm_at)
    return xlstm.xLSTMBlockStack(cfg)


def _copy_from_reference(ref, ours):
    """Map the reference's parameters onto ours. Its norms store w with scale 1 + w, its sLSTM layer
    feeds the module named `fgate` into the input gate (and `igate` into the forget gate), and its
    vanilla cell keeps R as (NH, 4 DH, DH) and the bias gate-major."""
    one_plus = lambda t: 1 + t  # noqa: E731
    with torch.no_grad():
        ours.encoder.weight.copy_(torch.eye(ours.hidden_size))
        ours.encoder.bias.zero_()
        ours.post_norm.weight.copy_(one_plus(ref.post_blocks_norm.weight))
        for rb, ob in zip(ref.blocks, ours.blocks):
            r, o = rb.xlstm, ob.cell
            ob.norm.weight.copy_(one_plus(rb.xlstm_norm.weight))
            o.conv1d.weight.copy_(r.conv1d.conv.weight)
            o.conv1d.bias.copy_(r.conv1d.conv.bias)
            if hasattr(r, "mlstm_cell"):
                for name in ("proj_up", "q_proj", "k_proj", "v_proj", "proj_down"):
                    getattr(o, name).weight.copy_(getattr(r, name).weight)
                for name in ("igate", "fgate"):
                    getattr(o, name).weight.copy_(getattr(r.mlstm_cell, name).weight)
                    getattr(o, name).bias.copy_(getattr(r.mlstm_cell, name).bias)
                o.norm_weight.copy_(one_plus(r.mlstm_cell.outnorm.weight))
                o.learnable_skip.copy_(r.learnable_skip)
            else:
                o.igate.weight.copy_(r.fgate.weight)
                o.fgate.weight.copy_(r.igate.weight)
                o.zgate.weight.copy_(r.zgate.weight)
                o.ogate.weight.copy_(r.ogate.weight)
                NH, G4, DH = r.slstm_cell._recurrent_kernel_.shape
                o.recurrent_weight.copy_(r.slstm_cell._recurrent_kernel_.transpose(1, 2))
                o.bias.copy_(r.slstm_cell._bias_.view(4, NH, DH).transpose(0, 1))
                o.norm_weight.copy_(one_plus(r.group_norm.weight))
                ob.ffn_norm.weight.copy_(one_plus(rb.ffn_norm.weight))
                ob.ffn.proj_up.weight.copy_(rb.ffn.proj_up.weight)
                ob.ffn.proj_down.weight.copy_(rb.ffn.proj_down.weight)


@pytest.mark.parametrize("slstm_at", [[], "all", [1]])
def test_matches_xlstm_package_on_copied_weights(slstm_at):
    xlstm = pytest.importorskip("xlstm")
    torch.manual_seed(0)
    D, T = 16, 12
    ref = _perturbed(_reference_stack(xlstm, D, T, 2, slstm_at))
    ours = XLSTM(D, D, num_blocks=2, slstm_at=tuple(range(2)) if slstm_at == "all" else tuple(slstm_at))
    _copy_from_reference(ref, ours)
    x = torch.randn(3, T, D)
    y_ref = ref(x)
    torch.testing.assert_close(ours(x)[0], y_ref, rtol=1e-4, atol=1e-5)
    xg = x.clone().requires_grad_()
    gx_ref = torch.autograd.grad(ref(xg).square().sum(), xg)[0]
    gx_ours = torch.autograd.grad(ours(xg)[0].square().sum(), xg)[0]
    torch.testing.assert_close(gx_ours, gx_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(num_blocks=1, slstm_at="all"), dict(num_blocks=1, slstm_at=())])
def test_learns_delayed_copy(kw):
    first, last = delayed_copy_loss(lambda: XLSTM(1, 16, round_proj_to=1, **kw), steps=100)
    assert first > 0.8 and last < 0.2  # predicting 0 scores 1.0


def test_block_layout():
    kinds = lambda m: ["s" if b.ffn is not None else "m" for b in m.blocks]  # noqa: E731
    assert kinds(XLSTM(3, 16, num_blocks=4)) == ["m", "s", "m", "s"]
    assert kinds(XLSTM(3, 16, num_blocks=1)) == ["m"]
    assert kinds(XLSTM(3, 16, num_blocks=3, slstm_at="all")) == ["s", "s", "s"]
    assert kinds(XLSTM(3, 16, num_blocks=3, slstm_at=(0,))) == ["s", "m", "m"]


def test_bad_config_and_state():
    with pytest.raises(ValueError, match="slstm_at"):
        XLSTM(3, 16, num_blocks=2, slstm_at=(2,))
    with pytest.raises(ValueError, match="slstm_at"):
        XLSTM(3, 16, slstm_at="some")
    with pytest.raises(ValueError, match="slstm_num_heads"):
        XLSTM(3, 18, slstm_at="all")
    with pytest.raises(ValueError, match="mlstm_mode"):
        XLSTM(3, 16, mlstm_mode="chunked")
    m = XLSTM(3, 16)
    with pytest.raises(ValueError, match="hx"):
        m(torch.randn(2, 5, 3), hx=((torch.zeros(1),),))
    with pytest.raises(ValueError, match="step"):
        m.step(torch.randn(2, 5, 3))
