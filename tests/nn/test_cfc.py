"""CfC layer and cells: state carrying, per-sample timespans, cells, dropout, saving, training."""

import io

import numpy as np
import pytest
import torch
from ncps import torch as ncps_torch

from liquidts.nn import CfC, CfCCell, WiredCfCCell
from liquidts.wirings import NCP, AutoNCP, FullyConnected, Wiring

from ._helpers import TOL, assert_chunks_and_steps_equal_whole, as_states, assert_batch_equals_each_sample, assert_states_close, make_data

CONFIGS = {
    "default": lambda: CfC(3, 6, backbone_units=8),
    "no_gate_deep": lambda: CfC(3, 6, mode="no_gate", activation="gelu", backbone_units=8, backbone_layers=2),
    "pure_no_backbone": lambda: CfC(3, 6, mode="pure", backbone_layers=0),
    "ncp": lambda: CfC(3, NCP(4, 3, 2, 2, 2, 3, 2), mode="default"),
    "ncp_pure": lambda: CfC(3, AutoNCP(8, 2), mode="pure"),
    "mixed": lambda: CfC(3, 5, mixed_memory=True, backbone_units=8),
    "mixed_wired": lambda: CfC(3, NCP(4, 3, 2, 2, 2, 3, 2), mixed_memory=True, proj_size=3),
}


def _data(batch=4, steps=10, **kw):
    return make_data(batch, steps, **kw)


@pytest.mark.parametrize("grad", [True, False], ids=["train_path", "inference_path"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_chunks_and_single_steps_equal_whole(config, grad):
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data()
    with torch.set_grad_enabled(grad):
        assert_chunks_and_steps_equal_whole(model, x, ts, [(0, 3), (3, 4), (4, 10)])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_inference_path_equals_training_path(config):
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data()
    y, h = model(x, timespans=ts)
    with torch.no_grad():
        y2, h2 = model(x, timespans=ts)
    torch.testing.assert_close(y2, y.detach(), **TOL)
    assert_states_close(h2, tuple(s.detach() for s in as_states(h)))


def test_inference_path_time_major_and_unbatched():
    torch.manual_seed(0)
    model = CfC(3, NCP(4, 3, 2, 2, 2, 3, 2), batch_first=False, proj_size=2)
    x, ts = _data()
    x, ts = x.transpose(0, 1), ts.t()  # (T, B, F), (T, B)
    y, h = model(x, timespans=ts)
    y1, h1 = model(x[:, 0], timespans=ts[:, 0])  # unbatched (T, F)
    with torch.no_grad():
        torch.testing.assert_close(model(x, timespans=ts)[0], y.detach(), **TOL)
        torch.testing.assert_close(model(x, timespans=ts)[1], h.detach(), **TOL)
        torch.testing.assert_close(model(x[:, 0], timespans=ts[:, 0])[0], y[:, 0].detach(), **TOL)
    torch.testing.assert_close(y1, y[:, 0], **TOL)
    torch.testing.assert_close(h1, h[0], **TOL)


@pytest.mark.parametrize("config", ["default", "pure_no_backbone", "ncp", "mixed_wired"])
def test_per_sample_timespans_equal_each_sample_alone(config):
    """ncps 1.0.1 gets this wrong for batches > 1; each sample must see its own elapsed times."""
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data(batch=5)
    assert_batch_equals_each_sample(model, x, ts)


def test_ncps_breaks_per_sample_timespans_for_batches():
    """Documents the ncps defect liquidts fixes (if ncps gets fixed, the docs need updating)."""
    torch.manual_seed(0)
    ref = ncps_torch.CfC(3, 5, backbone_units=8)
    x, ts = _data(batch=4)
    with pytest.raises(RuntimeError):
        ref(x, timespans=ts)  # (B,) timespans do not broadcast against (B, H)


def test_timespans_forms():
    torch.manual_seed(0)
    model = CfC(3, 4, backbone_units=8)
    x, _ = _data(batch=2, steps=5)
    y_default = model(x)[0]
    torch.testing.assert_close(model(x, timespans=1.0)[0], y_default)
    torch.testing.assert_close(model(x, timespans=torch.ones(2, 5, 1))[0], y_default)
    torch.testing.assert_close(model(x, timespans=np.int64(1))[0], y_default)
    y_half = model(x, timespans=0.5)[0]
    torch.testing.assert_close(model(x, timespans=np.float32(0.5))[0], y_half)
    torch.testing.assert_close(model(x, timespans=torch.full((2, 5), 0.5))[0], y_half)
    assert not torch.allclose(y_half, y_default)
    time_major = CfC(3, 4, backbone_units=8, batch_first=False)
    time_major.load_state_dict(model.state_dict())
    ts = torch.rand(2, 5)
    y_tm, h_tm = time_major(x.transpose(0, 1), timespans=ts.t())
    y_bm, h_bm = model(x, timespans=ts)
    torch.testing.assert_close(y_tm, y_bm.transpose(0, 1))
    torch.testing.assert_close(h_tm, h_bm)


@pytest.mark.parametrize("config", ["default", "ncp", "mixed"])
def test_unbatched_input_is_a_batch_of_one(config):
    torch.manual_seed(0)
    model = CONFIGS[config]()
    x, ts = _data(batch=1)
    y, h = model(x, timespans=ts)
    y1, h1 = model(x[0], timespans=ts[0])
    torch.testing.assert_close(y1, y[0])
    assert_states_close(h1, tuple(s[0] for s in as_states(h)))
    y2, _ = model(x[0], h1, ts[0])  # an unbatched state continues an unbatched sequence
    assert y2.shape == y1.shape


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_cell_step_equals_first_step_of_layer(mode):
    torch.manual_seed(0)
    model = CfC(3, 5, mode=mode, backbone_units=8, backbone_layers=2)
    x, ts = _data(batch=3, steps=4)
    h0 = torch.randn(3, 5)
    y, h = model(x[:, :1], h0, ts[:, :1])
    assert isinstance(model.cell, CfCCell)
    for step_ts in (ts[:, 0], ts[:, :1]):
        torch.testing.assert_close(model.cell(x[:, 0], h0, step_ts), h, **TOL)
    torch.testing.assert_close(model.cell(x[:, 0], h0), model(x[:, :1], h0)[1], **TOL)
    torch.testing.assert_close(model.cell(x[:, 0], h0, 0.3), model(x[:, :1], h0, 0.3)[1], **TOL)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_wired_cell_step_equals_first_step_of_layer(mode):
    torch.manual_seed(0)
    model = CfC(3, NCP(4, 3, 2, 2, 2, 3, 2), mode=mode)
    assert isinstance(model.cell, WiredCfCCell)
    assert model.cell.layer_sizes == [4, 3, 2] and model.state_size == 9 and model.output_size == 2
    x, ts = _data(batch=3, steps=2)
    h0 = torch.randn(3, 9)
    y, h = model(x[:, :1], h0, ts[:, :1])
    h_cell = model.cell(x[:, 0], h0, ts[:, 0])
    torch.testing.assert_close(h_cell, h, **TOL)
    torch.testing.assert_close(h_cell[:, -2:], y[:, 0], **TOL)  # the output is the motor layer


def test_output_shapes_and_sizes():
    x = torch.randn(4, 6, 3)
    for model, out, state in [
        (CfC(3, 5, backbone_units=8), (4, 6, 5), (4, 5)),
        (CfC(3, 5, backbone_units=8, return_sequences=False), (4, 5), (4, 5)),
        (CfC(3, 5, backbone_units=8, proj_size=2), (4, 6, 2), (4, 5)),
        (CfC(3, AutoNCP(10, 3), return_sequences=False, proj_size=1), (4, 1), (4, 10)),
    ]:
        y, h = model(x)
        assert y.shape == out and h.shape == state
        assert model.output_size == out[-1]
    y, (h, c) = CfC(3, 5, mixed_memory=True, backbone_units=8)(x)
    assert h.shape == c.shape == (4, 5)


def test_backbone_dropout_after_every_backbone_layer(monkeypatch):
    """ncps drops out after backbone layers 2.. only; liquidts after every layer, the first included."""
    torch.manual_seed(0)
    x = torch.randn(4, 5, 3)
    model = CfC(3, 6, backbone_units=16, backbone_layers=1, backbone_dropout=0.5)
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])  # one backbone layer is already dropped out
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])
    ref = ncps_torch.CfC(3, 6, backbone_units=16, backbone_layers=1, backbone_dropout=0.5).train()
    torch.testing.assert_close(ref(x)[0], ref(x)[0])  # ncps: no dropout with one layer

    calls = []
    dropout = torch.nn.functional.dropout

    def counting(t, p=0.5, training=True, inplace=False):
        if training and p > 0:
            calls.append(p)
        return dropout(t, p, training, inplace)

    monkeypatch.setattr(torch.nn.functional, "dropout", counting)
    deep = CfC(3, 6, backbone_units=16, backbone_layers=3, backbone_dropout=0.25).train()
    deep(x)
    assert calls == [0.25] * (3 * x.shape[1])


def test_dropout_in_training_applies_without_gradient_too():
    """Monte Carlo dropout (train mode under torch.no_grad()) used to take the inference fast path,
    which has no dropout: every sample came out the same."""
    model = CfC(3, 6, backbone_units=16, backbone_dropout=0.5).train()
    x = torch.randn(4, 5, 3)
    torch.manual_seed(1)
    with_grad = model(x)[0]
    with torch.no_grad():
        torch.manual_seed(1)
        torch.testing.assert_close(model(x)[0], with_grad.detach())  # the same masks, the same outputs
        assert torch.stack([model(x)[0] for _ in range(4)]).std(0).mean() > 1e-3
        model.cell.backbone_dropout = 0.0  # read at every call
        torch.testing.assert_close(model(x)[0], model(x)[0])
        model.cell.backbone_dropout = 0.5
        model.eval()
        torch.testing.assert_close(model(x)[0], model(x)[0])


def test_state_dict_and_wiring_round_trip_rebuild_the_same_layer():
    torch.manual_seed(0)
    wiring = NCP(4, 3, 2, 2, 2, 3, 2, seed=7)
    model = CfC(3, wiring, mode="no_gate", proj_size=2)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    config = wiring.to_dict()
    torch.manual_seed(123)  # another initialisation, overwritten by the load
    copy = CfC(3, Wiring.from_dict(config), mode="no_gate", proj_size=2)
    buffer.seek(0)
    copy.load_state_dict(torch.load(buffer, weights_only=True))
    x, ts = _data()
    torch.testing.assert_close(copy(x, timespans=ts)[0], model(x, timespans=ts)[0])


def test_absent_synapses_have_no_effect():
    """Changing a wired cell's raw ff1/ff2 weights where the wiring has no synapse changes nothing."""
    torch.manual_seed(0)
    model = CfC(3, NCP(4, 3, 2, 2, 2, 3, 2))
    x, ts = _data()
    y = model(x, timespans=ts)[0]
    with torch.no_grad():
        for cell in model.cells:
            absent = cell.head_mask == 0  # (G*H, I+H)
            assert absent.any()
            cell.head.weight[absent] += 10.0
    torch.testing.assert_close(model(x, timespans=ts)[0], y)
    with torch.no_grad():
        before = model(x, timespans=ts)[0]  # the inference path (the C kernel)
        model.cells[1].head.weight[model.cells[1].head_mask == 1] += 0.5
        changed = model(x, timespans=ts)[0]
    torch.testing.assert_close(before, y.detach(), **TOL)
    assert not torch.allclose(changed, before)  # it reads the weights of now
    torch.testing.assert_close(model(x, timespans=ts)[0].detach(), changed, **TOL)


def test_fully_connected_wiring_is_one_layer():
    model = CfC(3, FullyConnected(5, 2))
    assert len(model.cells) == 1 and model.output_size == 2 and model.state_size == 5


def _fit(model, steps=60, lr=0.03):
    """MSE of predicting a delayed, irregularly sampled input; returns (first loss, last loss)."""
    gen = torch.Generator().manual_seed(0)
    ts = 0.5 + torch.rand(16, 20, generator=gen)
    t = ts.cumsum(1)
    phase = torch.rand(16, 1, generator=gen) * 6.0
    x = torch.sin(t + phase).unsqueeze(-1)  # (B, T, 1)
    target = torch.cos(t + phase).unsqueeze(-1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x, timespans=ts)[0], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("units", ["dense", "wired"])
def test_cfc_learns(units):
    torch.manual_seed(0)
    model = CfC(1, 8, backbone_units=16, proj_size=1) if units == "dense" else CfC(1, AutoNCP(10, 1))
    first, last = _fit(model)
    assert last < 0.2 * first, (first, last)


@pytest.mark.parametrize("config", ["default", "pure_no_backbone", "ncp"])
def test_timespans_gradient(config):
    torch.manual_seed(0)
    model = CONFIGS[config]().double()
    x, ts = _data(batch=2, steps=3)
    ts = (ts.double() + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: model(x.double(), timespans=t)[0], (ts,))
