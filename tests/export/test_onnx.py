"""ONNX export: onnxruntime's output equals eager PyTorch's, for any batch size and length."""

import numpy as np
import pytest
import torch

from liquidts.control.policy import PolicyConfig, RecurrentPolicy
from liquidts.export import forecaster_inputs, to_onnx
from liquidts.nn import CfC, LTC
from liquidts.wirings import AutoNCP

from forecast._helpers import tiny, wide_frame  # tests/forecast (tests/ is on the path)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOL = dict(rtol=1e-5, atol=1e-5)


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _close(got, expected):
    np.testing.assert_allclose(got, expected.detach().numpy(), **TOL)


LAYERS = {
    "cfc": lambda: CfC(3, 8),
    "cfc-pure-2-layer-backbone": lambda: CfC(3, 8, mode="pure", backbone_layers=2, activation="silu"),
    "cfc-no-gate-last-step": lambda: CfC(3, 8, mode="no_gate", proj_size=2, return_sequences=False),
    "cfc-ncp": lambda: CfC(3, AutoNCP(12, 2)),
    "cfc-time-first": lambda: CfC(3, 8, batch_first=False),
    "ltc": lambda: LTC(3, 8),
    "ltc-ncp": lambda: LTC(3, AutoNCP(12, 3), ode_unfolds=3),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("streaming", [False, True])
def test_layers_equal_eager_at_any_batch_and_length(name, streaming, tmp_path):
    layer = LAYERS[name]().eval()
    session = _session(to_onnx(layer, tmp_path / "m.onnx", streaming=streaming))
    for B, T in ((1, 1), (4, 17), (3, 50)):
        x = torch.randn(B, T, 3)
        ts = torch.rand(B, T) + 0.5
        h0 = 0.3 * torch.randn(B, layer.state_size)
        if not layer.batch_first:
            x, ts = x.transpose(0, 1), ts.t()
        feed = {"x": x.numpy(), "timespans": ts.numpy()}
        if streaming:
            feed["state"] = h0.numpy()
        out = session.run(None, feed)
        with torch.no_grad():
            y, h = layer(x, h0 if streaming else None, ts)
        _close(out[0], y)
        if streaming:
            _close(out[1], h)


def test_streaming_graph_one_step_at_a_time_equals_the_whole_sequence(tmp_path):
    layer = CfC(3, 8).eval()
    session = _session(to_onnx(layer, tmp_path / "s.onnx", streaming=True))
    x, ts = torch.randn(2, 30, 3), torch.rand(2, 30) + 0.5
    state, ys = np.zeros((2, 8), np.float32), []
    for t in range(30):
        y, state = session.run(None, {"x": x[:, t:t + 1].numpy(), "timespans": ts[:, t:t + 1].numpy(),
                                      "state": state})
        ys.append(y[:, 0])
    with torch.no_grad():
        y_ref, h_ref = layer(x, timespans=ts)
    _close(np.stack(ys, 1), y_ref)
    _close(state, h_ref)


@pytest.mark.parametrize("core", ["ncp", "ncp-ltc", "cfc", "lstm"])
@pytest.mark.parametrize("discrete", [True, False])
def test_policies_equal_eager(core, discrete, tmp_path):
    from gymnasium import spaces

    obs_space = spaces.Box(-1.0, 1.0, (4,))
    act_space = spaces.Discrete(3) if discrete else spaces.Box(-2.0, 2.0, (2,))
    policy = RecurrentPolicy(PolicyConfig.from_spaces(obs_space, act_space, core=core, units=10,
                                                      dt=None if core == "cfc" else 0.5)).eval()
    policy.obs_norm.update(torch.randn(50, 4) * 3 + 1)
    session = _session(to_onnx(policy, tmp_path / "p.onnx", streaming=True))
    plain = _session(to_onnx(policy, tmp_path / "q.onnx"))
    obs = torch.randn(3, 9, 4)
    state0 = 0.2 * torch.randn(3, policy.state_size)
    out, action, state = session.run(None, {"obs": obs.numpy(), "state": state0.numpy()})
    with torch.no_grad():
        y, states = policy.unroll(obs, state0)
        logits = policy.action_head(y)
    _close(out, logits)
    _close(state, states[:, -1])
    if discrete:
        np.testing.assert_array_equal(action, logits.argmax(-1).numpy())
    else:  # the environment's action, as act() gives it
        with torch.no_grad():
            env_action = policy.to_env_action(policy.deterministic_action(y[:, -1]))
        np.testing.assert_allclose(action[:, -1], env_action, **TOL)
    with torch.no_grad():
        y0, _ = policy.unroll(obs)
    _close(plain.run(None, {"obs": obs.numpy()})[0], policy.action_head(y0))


@pytest.mark.parametrize("model, deseasonalize", [("cfc", False), ("ltc", False), ("ncp", False), ("lstm", False),
                                                   ("cfc", True)])
def test_fitted_forecaster_equals_eager(model, deseasonalize, tmp_path):
    est = tiny(model=model, target="load", deseasonalize=deseasonalize).fit(wide_frame())
    assert bool(est.net_.season.abs().sum() > 0) == deseasonalize  # the frame's weekly cycle
    session = _session(to_onnx(est, tmp_path / "f.onnx"))
    inputs, mean, std = forecaster_inputs(est)
    out = session.run(None, inputs)[0]
    batch, _, _ = est.forecast_window()
    with torch.no_grad():
        _close(out, est.net_(batch))
    # in the series' units, the exported network gives predict()'s forecast
    T = len(est.targets_)
    point = out[..., 0] * std[:, None, :T] + mean[:, None, :T]
    np.testing.assert_allclose(point[0, :, 0], est.predict()["load"].to_numpy(), rtol=1e-4, atol=1e-4)
    # a batch of several windows (dynamic batch axis)
    wide = {k: np.concatenate([v, v, v]) for k, v in inputs.items()}
    np.testing.assert_allclose(session.run(None, wide)[0], np.concatenate([out] * 3), **TOL)
    with pytest.raises(ValueError, match="streaming"):
        to_onnx(est, tmp_path / "g.onnx", streaming=True)


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="mixed_memory"):
        to_onnx(CfC(3, 8, mixed_memory=True), tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="semi_implicit"):
        to_onnx(LTC(3, 8, solver="rk4"), tmp_path / "b.onnx")
    with pytest.raises(TypeError, match="exports"):
        to_onnx(torch.nn.Linear(2, 2), tmp_path / "c.onnx")
    with pytest.raises(ValueError, match="fit"):
        to_onnx(tiny(target="load"), tmp_path / "d.onnx")
