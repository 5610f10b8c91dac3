import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from liquidts.control import CORES, PolicyConfig, RecurrentPolicy, make_policy


def _policy(core="ncp", env_id="CartPole-v1", **kw):
    torch.manual_seed(0)
    return make_policy(env_id, core, units=kw.pop("units", 8), **kw)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_every_core_acts_in_discrete_and_continuous_spaces(core, env_id):
    policy = _policy(core, env_id)
    env = gym.make(env_id)
    obs = np.stack([env.reset(seed=i)[0] for i in range(3)])
    actions, state = policy.act(obs)
    assert state.shape == (3, policy.state_size)
    for a in actions:
        assert env.action_space.contains(a)


def test_continuous_actions_are_rescaled_to_the_bounds():
    policy = _policy("cfc", "Pendulum-v1")
    low_high = policy.to_env_action(torch.tensor([[-5.0], [0.0], [5.0]]))
    np.testing.assert_allclose(low_high[:, 0], [-2.0, 0.0, 2.0])
    back = policy.from_env_action(low_high)
    np.testing.assert_allclose(back.numpy()[:, 0], [-1.0, 0.0, 1.0])


def test_state_is_reset_where_an_episode_starts():
    policy = _policy()
    obs = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    _, state = policy.act(obs)
    _, carried = policy.act(obs, state, done=np.array([False, False]))
    _, reset = policy.act(obs, state, done=np.array([True, False]))
    _, fresh = policy.act(obs)
    torch.testing.assert_close(reset[0], fresh[0])
    torch.testing.assert_close(reset[1], carried[1])
    assert not torch.allclose(carried[0], fresh[0])


def test_unroll_with_starts_matches_separate_episodes():
    policy = _policy("lstm")
    obs = torch.randn(1, 7, 4)
    starts = torch.zeros(1, 7, dtype=torch.bool)
    starts[0, 4] = True
    out, states = policy.unroll(obs, starts=starts)
    out_a, _ = policy.unroll(obs[:, :4])
    out_b, _ = policy.unroll(obs[:, 4:])
    torch.testing.assert_close(out, torch.cat([out_a, out_b], 1))
    assert states.shape == (1, 7, policy.state_size)


def test_step_time_is_fed_as_timespans():
    policy = _policy("cfc")
    timed = _policy("cfc", use_dt=True)
    assert timed.config.dt == pytest.approx(0.02)  # CartPole's tau
    timed.load_state_dict(policy.state_dict())
    obs = torch.randn(2, 5, 4)
    assert not torch.allclose(policy.unroll(obs)[0], timed.unroll(obs)[0])


def test_save_and_load_round_trip(tmp_path):
    policy = _policy("ncp", "Pendulum-v1")
    policy.obs_norm.update(torch.randn(50, 3) * 3 + 1)
    path = tmp_path / "p.safetensors"
    policy.save(path)
    loaded = RecurrentPolicy.load(path)
    obs = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(policy.act(obs)[0], loaded.act(obs)[0])
    assert loaded.config == policy.config


def test_image_observations_use_a_conv_head():
    obs_space = spaces.Box(0, 255, (48, 48, 3), np.uint8)
    policy = RecurrentPolicy(PolicyConfig.from_spaces(obs_space, spaces.Discrete(5), units=10, conv_features=12))
    obs = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    actions, state = policy.act(obs)
    assert actions.shape == (2,) and state.shape == (2, 10)
    assert policy.obs_norm is None


def test_unknown_core_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: ncp, ncp-ltc, cfc, ltc, lstm"):
        _policy("transformer")


@pytest.mark.parametrize("action_space", [
    spaces.MultiDiscrete([2, 3]),
    spaces.Box(-np.inf, np.inf, (2,)),
    spaces.Box(-1, 1, (2, 2)),
])
def test_unsupported_action_space_is_a_clear_error(action_space):
    with pytest.raises(ValueError, match="unsupported action space"):
        PolicyConfig.from_spaces(spaces.Box(-1, 1, (3,)), action_space)


def test_ncp_needs_room_for_its_motor_neurons():
    with pytest.raises(ValueError, match="units >= motor neurons"):
        _policy("ncp", units=4)
