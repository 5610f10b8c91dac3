"""GRU-D and ODE-RNN: shapes, and that their state depends on the elapsed time as intended."""

import torch

from liquidts.classify import GRUD, ODERNN


def test_odernn_without_elapsed_time_is_a_gru():
    torch.manual_seed(0)
    core = ODERNN(5, 6)
    x = torch.randn(3, 4, 5)
    y, h = core(x, None, torch.zeros(3, 4))
    ref = torch.zeros(3, 6)
    for t in range(4):
        ref = core.cell(x[:, t], ref)
    assert y.shape == (3, 4, 6) and torch.allclose(h, ref) and core.nfe == 0


def test_odernn_state_evolves_over_each_samples_own_time():
    torch.manual_seed(0)
    core = ODERNN(2, 4)
    x = torch.randn(1, 2, 2).repeat(2, 1, 1)
    ts = torch.tensor([[0.0, 0.5], [0.0, 3.0]])
    y, _ = core(x, None, ts)
    assert not torch.allclose(y[0, 1], y[1, 1]) and core.nfe > 0
    # batched integration equals integrating each sample alone
    alone = core(x[1:], None, ts[1:])[0]
    assert torch.allclose(alone[0, 1], y[1, 1], atol=1e-3)


def test_grud_decays_with_time_since_last_seen():
    torch.manual_seed(0)
    V = 2
    core = GRUD(V, 3 * V + 1, 5)
    with torch.no_grad():
        core.decay_x_weight.fill_(1.0)
    x = torch.zeros(1, 2, 3 * V + 1)
    x[:, :, :V] = 1.0  # carried-forward value 1, not observed at step 2
    x[:, 0, V:2 * V] = 1.0
    near, far = x.clone(), x.clone()
    near[:, 1, 2 * V:3 * V] = torch.log1p(torch.tensor(0.1))
    far[:, 1, 2 * V:3 * V] = torch.log1p(torch.tensor(10.0))
    y_near, _ = core(near)
    y_far, _ = core(far)
    assert y_near.shape == (1, 2, 5) and not torch.allclose(y_near[0, 1], y_far[0, 1])
