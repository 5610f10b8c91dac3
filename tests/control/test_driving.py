"""CarRacing driving: render-free wrapper, scripted expert, pixel driver, BC + DAgger (tiny budgets)."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from liquidts.control.dagger import DaggerConfig, Episode, collect, dagger, evaluate_driver, fit_driver
from liquidts.control.driver import (
    ConvDriver, DriverConfig, from_expert_action, preprocess, to_env_action,
)
from liquidts.control.experts import (
    ExpertConfig, FastCarRacing, PurePursuitExpert, distance_to_track, run_expert,
)


def test_fast_env_draws_the_same_frames_as_carracing():
    fast = FastCarRacing(pixels=True)
    plain = gym.make("CarRacing-v3", continuous=True)
    f0, _ = fast.reset(seed=3)
    p0, _ = plain.reset(seed=3)
    np.testing.assert_array_equal(f0, p0)
    expert = PurePursuitExpert()
    for _ in range(30):
        action = expert.act(fast)
        f, rf, *_ = fast.step(action)
        p, rp, *_ = plain.step(action)
    np.testing.assert_array_equal(f, p)
    assert rf == pytest.approx(rp)


def test_action_repeat_sums_rewards_and_skips_drawing():
    env = FastCarRacing(pixels=False, action_repeat=3)
    obs, _ = env.reset(seed=0)
    assert obs is None
    _, reward, *_ = env.step(np.array([0.0, 1.0, 0.0]))
    # Three steps of the -0.1 time penalty, and the first tile gives a positive reward.
    assert reward != pytest.approx(-0.1)
    with pytest.raises(ValueError, match="action_repeat"):
        FastCarRacing(action_repeat=0)


def test_expert_drives_well_render_free():
    smooth = PurePursuitExpert(ExpertConfig(speed_gain=0.5))
    returns = [run_expert(seed, action_repeat=2, max_steps=300) for seed in (1, 2)]
    returns.append(run_expert(1, smooth, action_repeat=2, max_steps=300))
    idle = FastCarRacing(pixels=False, max_episode_steps=300)
    idle.reset(seed=1)
    idle_return = sum(idle.step(np.zeros(3))[1] for _ in range(300))
    # 300 steps at racing speed cover about a third of a lap (~330 points); idling loses 30.
    assert min(returns) > 200
    assert idle_return < 0


def test_expert_stays_on_track():
    env = FastCarRacing(pixels=False, action_repeat=2)
    env.reset(seed=4)
    expert = PurePursuitExpert()
    worst = max(distance_to_track(env) for _ in range(100) if env.step(expert.act(env)))
    assert worst < 8.0  # the road is ~13 m wide and waypoints are ~3.5 m apart


def test_proportional_speed_law_gives_partial_throttle():
    env = FastCarRacing(pixels=False)
    env.reset(seed=2)
    expert = PurePursuitExpert(ExpertConfig(speed_gain=0.5))
    actions = np.array([expert.act(env) for _ in range(200) if env.step(expert.act(env))])
    gas = actions[:, 1]
    assert ((gas > 0) & (gas < expert.config.gas)).any()  # bang-bang would give 0 or 0.5 only
    assert not ((actions[:, 1] > 0) & (actions[:, 2] > 0)).any()


def test_preprocess_and_action_mapping():
    frame = np.full((2, 96, 96, 3), 200, dtype=np.uint8)
    small = preprocess(frame)
    assert small.shape == (2, 48, 48, 1) and small.dtype == np.uint8
    assert int(small[0, 0, 0, 0]) == 200
    with pytest.raises(ValueError, match="96, 96, 3"):
        preprocess(np.zeros((64, 64, 3), np.uint8))
    target = from_expert_action(np.array([[0.3, 0.5, 0.0], [-0.2, 0.0, 0.6]]))
    np.testing.assert_allclose(target, [[0.3, 0.5], [-0.2, -0.6]], rtol=1e-6)
    np.testing.assert_allclose(to_env_action(target[1]), [-0.2, 0.0, 0.6], rtol=1e-6)
    np.testing.assert_allclose(to_env_action(np.array([3.0, 2.0])), [1.0, 1.0, 0.0])


@pytest.mark.parametrize("core", ["ncp", "lstm"])
def test_driver_shapes_state_and_save_load(core, tmp_path):
    torch.manual_seed(0)
    driver = ConvDriver(DriverConfig(core=core))
    frames = torch.randint(0, 255, (3, 7, 48, 48, 1), dtype=torch.uint8)
    y, h = driver(frames)
    assert y.shape == (3, 7, 2)
    # Feeding the sequence in two chunks gives the same commands (the state carries over).
    y1, h1 = driver(frames[:, :4])
    y2, _ = driver(frames[:, 4:], h1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    assert 1000 < driver.recurrent_parameters() < 5000
    driver.save(tmp_path / "d.safetensors")
    loaded = ConvDriver.load(tmp_path / "d.safetensors")
    torch.testing.assert_close(loaded(frames)[0], y)
    with pytest.raises(ValueError, match="unknown driver core"):
        ConvDriver(DriverConfig(core="gru"))


def test_fit_driver_learns_the_labels():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    # A label each frame determines: which half of the picture is the bright one.
    left = rng.random(60) < 0.5
    frames = rng.integers(0, 60, (60, 48, 48, 1), dtype=np.uint8)
    frames[left, :, :24] += 150
    frames[~left, :, 24:] += 150
    targets = np.stack([np.where(left, -0.5, 0.5), np.full(60, 0.3)], 1).astype(np.float32)
    config = DaggerConfig(chunk=3, burn_in=1, batch_size=8, lr=3e-3)
    driver = ConvDriver(DriverConfig(core="lstm"))
    first = fit_driver(driver, [Episode(frames, targets)], 3, config, rng)
    last = fit_driver(driver, [Episode(frames, targets)], 50, config, rng)
    assert last < 0.3 * first


def test_dagger_iteration_on_a_handful_of_frames():
    torch.manual_seed(0)
    config = DaggerConfig(bc_episodes=1, iterations=1, episodes_per_iteration=1, max_steps=40,
                          chunk=8, burn_in=2, bc_steps=1, dagger_steps=1, train_seeds=(11, 12))
    driver = ConvDriver(DriverConfig(core="ncp"))
    history = dagger(driver, config)
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    assert history["frames"] == [20, 40]  # 40 env steps at action repeat 2, per episode
    assert len(history["student_return"]) == 1
    assert len(evaluate_driver(driver, [5], max_steps=10)) == 1


def test_collect_records_expert_labels_while_student_drives():
    rng = np.random.default_rng(0)
    driver = ConvDriver(DriverConfig(core="lstm"))
    expert = PurePursuitExpert()
    ep = collect(driver, expert, 7, beta=0.0, rng=rng, max_steps=20)
    assert ep.frames.shape == (10, 48, 48, 1) and ep.targets.shape == (10, 2)
    # The first frame's label is the expert's action at the start line, whoever drives.
    env = FastCarRacing(pixels=False, action_repeat=2)
    env.reset(seed=7)
    np.testing.assert_allclose(ep.targets[0], from_expert_action(expert.act(env)), rtol=1e-6)
    with pytest.raises(ValueError, match="burn_in"):
        DaggerConfig(chunk=4, burn_in=4)
