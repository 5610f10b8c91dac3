import math

import pytest
import torch

from liquidts.baselines import Mamba
from liquidts.baselines.mamba import MambaBlock, MambaConfig
from liquidts.baselines.pscan import scan_loop, scan_parallel

from ._tasks import delayed_copy_loss


@pytest.mark.parametrize("T", [1, 2, 7, 64, 63])
def test_parallel_scan_matches_loop_values_and_gradients(T):
    torch.manual_seed(T)
    a = torch.rand(3, T, 5, 2, requires_grad=True)
    b = torch.randn(3, T, 5, 2, requires_grad=True)
    h0 = torch.randn(3, 5, 2, requires_grad=True)
    ref = scan_loop(a, b, h0)
    out = scan_parallel(torch.log(a), b, h0)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    w = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * w).sum(), (a, b, h0))
    g_out = torch.autograd.grad((out * w).sum(), (a, b, h0))
    for x, y in zip(g_out, g_ref):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(scan_parallel(torch.log(a), b), scan_loop(a, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [{}, dict(expand=1, d_conv=2, n_layers=1), dict(d_conv=1, d_state=4)])
def test_scans_chunks_and_step_agree(kw):
    torch.manual_seed(0)
    m = Mamba(3, 16, **kw)
    x = torch.randn(2, 23, 3)
    m.config.scan = "loop"
    y, h = m(x)
    m.config.scan = "parallel"
    y_par, h_par = m(x)
    torch.testing.assert_close(y_par, y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h_par[0], h[0], rtol=1e-5, atol=1e-5)
    m.config.scan = "loop"
    ya, ha = m(x[:, :10])
    yb, hb = m(x[:, 10:], ha)
    torch.testing.assert_close(torch.cat([ya, yb], 1), y, rtol=1e-5, atol=1e-5)
    state, ys = None, []
    for t in range(x.shape[1]):
        y_t, state = m.step(x[:, t], state)
        ys.append(y_t)
    torch.testing.assert_close(torch.stack(ys, 1), y, rtol=1e-5, atol=1e-5)
    for s, r in zip(state, h):
        torch.testing.assert_close(s, r, rtol=1e-5, atol=1e-5)


def test_block_against_the_equations_by_hand():
    """D = ED = 1, N = 2, K = 2, three steps, every weight an explicit number."""
    blk = MambaBlock(MambaConfig(1, 1, expand=1, d_state=2, d_conv=2, dt_rank=1))
    wx, wz = 0.8, -0.6
    c0, c1, cb = 0.3, 0.9, 0.1  # conv: u_t = c0 x_{t-1} + c1 x_t + cb
    wdt, wB, wC = 0.7, (0.5, -1.2), (1.1, 0.4)
    wd, bd = 1.3, -0.2
    A = (-1.0, -2.5)
    Dskip, wo = 0.6, 1.7
    with torch.no_grad():
        blk.in_proj.weight.copy_(torch.tensor([[wx], [wz]]))
        blk.conv1d.weight.copy_(torch.tensor([[[c0, c1]]]))
        blk.conv1d.bias.fill_(cb)
        blk.x_proj.weight.copy_(torch.tensor([[wdt], [wB[0]], [wB[1]], [wC[0]], [wC[1]]]))
        blk.dt_proj.weight.fill_(wd)
        blk.dt_proj.bias.fill_(bd)
        blk.A_log.copy_(torch.log(-torch.tensor([A])))
        blk.D.fill_(Dskip)
        blk.out_proj.weight.fill_(wo)
    xs = [0.5, -1.0, 2.0]

    def silu(v):
        return v / (1 + math.exp(-v))

    h, prev, expected = [0.0, 0.0], 0.0, []
    for x in xs:
        xi, z = wx * x, wz * x
        u = silu(c0 * prev + c1 * xi + cb)
        prev = xi
        delta = math.log1p(math.exp(wd * (wdt * u) + bd))
        h = [math.exp(delta * A[n]) * h[n] + delta * wB[n] * u * u for n in range(2)]
        y = sum(wC[n] * u * h[n] for n in range(2)) + Dskip * u
        expected.append(wo * y * silu(z))
    for scan in ("loop", "parallel"):
        out, ssm, _ = blk(torch.tensor(xs).view(1, 3, 1), scan=scan)
        torch.testing.assert_close(out.view(3), torch.tensor(expected), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ssm.view(2), torch.tensor(h), rtol=1e-5, atol=1e-6)


def test_matches_mambapy_on_copied_weights():
    mambapy = pytest.importorskip("mambapy.mamba")
    torch.manual_seed(0)
    D, T = 16, 19
    ref = mambapy.Mamba(mambapy.MambaConfig(d_model=D, n_layers=2, d_state=8, expand_factor=2, d_conv=3))
    ours = Mamba(D, D, n_layers=2, d_state=8, expand=2, d_conv=3)
    ours.layers.load_state_dict(ref.layers.state_dict())
    x = torch.randn(3, T, D)

    def our_layers(x):
        for layer in ours.layers:
            x, _, _ = layer(x, scan=ours.config.scan)
        return x

    y_ref = ref(x)
    for scan in ("loop", "parallel"):
        ours.config.scan = scan
        torch.testing.assert_close(our_layers(x), y_ref, rtol=1e-5, atol=1e-5)
    names = [n for n, _ in ref.layers.named_parameters()]
    ours_p = dict(ours.layers.named_parameters())
    g_ref = torch.autograd.grad(ref(x).square().sum(), list(ref.layers.parameters()))
    g_ours = torch.autograd.grad(our_layers(x).square().sum(), [ours_p[n] for n in names])
    for name, a, b in zip(names, g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    # mambapy's step cache is (h, last K-1 inputs) per layer, the same content as our state
    caches = [(None, torch.zeros(3, 32, 2)) for _ in range(2)]
    states = [(torch.zeros(3, 32, 8), torch.zeros(3, 32, 2)) for _ in range(2)]
    for t in range(4):
        y_ref_t, caches = ref.step(x[:, t], caches)
        h = x[:, t]
        for i, layer in enumerate(ours.layers):
            h, ssm, conv = layer.step(h, *states[i])
            states[i] = (ssm, conv)
        torch.testing.assert_close(h, y_ref_t, rtol=1e-5, atol=1e-5)


def test_learns_delayed_copy():
    # d_conv=2 cannot see x_{t-2}: the copy must go through the selective state
    first, last = delayed_copy_loss(lambda: Mamba(1, 16, n_layers=2, expand=1, d_conv=2, d_state=8), steps=150)
    assert first > 0.8 and last < 0.2  # predicting 0 scores 1.0


def test_bad_config_and_state():
    with pytest.raises(ValueError, match="scan"):
        Mamba(3, 8, scan="fast")
    with pytest.raises(ValueError, match="d_conv"):
        Mamba(3, 8, d_conv=0)
    m = Mamba(3, 8)
    with pytest.raises(ValueError, match="hx"):
        m(torch.randn(2, 5, 3), hx=(torch.zeros(1), torch.zeros(1)))
    with pytest.raises(ValueError, match="step"):
        m.step(torch.randn(2, 5, 3))
