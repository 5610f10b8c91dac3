"""Entry points: train, evaluate, run/record an episode, the CLI, and bad inputs."""
import argparse
import csv

import numpy as np
import pytest
import torch
from PIL import Image

from liquidts.control import RecurrentPolicy, evaluate, make_policy, record_episode, record_expert, run_episode, train
from liquidts._control_cli import add_parser

TINY = dict(total_steps=256, num_envs=2, num_steps=128, seq_len=16, update_epochs=1)


def test_train_writes_checkpoint_log_and_policy(tmp_path):
    policy = train("CartPole-v1", "cfc", "ppo", seed=0, units=8, out=tmp_path, **TINY)
    assert {p.name for p in tmp_path.iterdir()} == {"checkpoint.pt", "log.csv", "policy.safetensors"}
    with open(tmp_path / "log.csv") as f:
        assert len(list(csv.DictReader(f))) > 0
    loaded = RecurrentPolicy.load(tmp_path / "policy.safetensors")
    assert evaluate(loaded, "CartPole-v1", episodes=2, seed=5) == evaluate(policy, "CartPole-v1", episodes=2, seed=5)


def test_training_is_reproducible_with_a_seed():
    a = train("CartPole-v1", "ncp", "ppo", seed=4, units=8, **TINY)
    b = train("CartPole-v1", "ncp", "ppo", seed=4, units=8, **TINY)
    c = train("CartPole-v1", "ncp", "ppo", seed=5, units=8, **TINY)
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=name)
    assert not np.array_equal(a.action_head.weight.detach().numpy(), c.action_head.weight.detach().numpy())


def test_train_bc_records_the_expert_and_fits_it(tmp_path):
    def expert(obs, env):
        return int(obs[2] + 0.5 * obs[3] > 0)

    policy = train("CartPole-v1", "ncp", "bc", units=8, expert=expert, expert_episodes=2, out=tmp_path,
                   epochs=8, learning_rate=0.05, seq_len=16, stride=16)
    with open(tmp_path / "log.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    # The policy took the expert's actions to heart: on the expert's own first episode it mostly agrees.
    episode = record_expert(expert, "CartPole-v1", episodes=1, seed=0)[0]
    out, _ = policy.unroll(torch.as_tensor(episode["obs"])[None])
    agree = (policy.deterministic_action(out[0]).numpy() == episode["actions"]).mean()
    assert agree > 0.8, agree


def test_evaluate_returns_mean_and_std():
    policy = make_policy("CartPole-v1", "ncp", units=8)
    mean, std = evaluate(policy, "CartPole-v1", episodes=4, seed=0)
    returns = [run_episode(policy, "CartPole-v1", seed=s)["return"] for s in range(4)]  # seeds seed, seed+1, ...
    assert (mean, std) == pytest.approx((np.mean(returns), np.std(returns)))
    assert (mean, std) == evaluate(policy, "CartPole-v1", episodes=4, seed=0)


def test_run_episode_gives_hidden_states_for_plots():
    policy = make_policy("Pendulum-v1", "ncp-ltc", units=8)
    trace = run_episode(policy, "Pendulum-v1", seed=0)
    assert trace["states"].shape == (200, policy.state_size)
    assert trace["actions"].shape == (200, 1) and trace["rewards"].shape == (200,)
    assert trace["return"] == pytest.approx(trace["rewards"].sum())


def test_record_episode_writes_a_gif_and_pngs(tmp_path):
    policy = make_policy("CartPole-v1", "ncp", units=8)
    ret = record_episode(policy, "CartPole-v1", tmp_path / "ep.gif", seed=0)
    with Image.open(tmp_path / "ep.gif") as gif:
        # Pillow merges identical consecutive frames, so a GIF may hold fewer frames than steps.
        assert 1 < gif.n_frames <= int(ret) and gif.size == (600, 400)
    record_episode(policy, "CartPole-v1", tmp_path / "frames", seed=0)
    # One frame per step: CartPole rewards 1 per step.
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == int(ret)


@pytest.mark.parametrize("kwargs, message", [
    (dict(algo="sac"), "unknown algo 'sac'; valid: ppo, es, bc"),
    (dict(policy="gru"), "unknown policy 'gru'; valid: ncp, ncp-ltc, cfc, ltc, lstm"),
    (dict(algo="ppo", generations=3), r"unknown ppo arguments \['generations'\]"),
    (dict(algo="bc"), "algo='bc' needs expert="),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train("CartPole-v1", **kwargs)


def test_unsupported_environment_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unsupported observation space Tuple"):
        make_policy("Blackjack-v1")
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        evaluate(make_policy("CartPole-v1"), "CartPole-v1", episodes=0)


def test_cli_trains_and_evaluates(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="liquidts")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "control", "train", "CartPole-v1", "--policy", "ncp", "--units", "8", "--steps", "256",
        "--out", str(tmp_path), "--set", "num_envs=2", "update_epochs=1",
    ])
    assert args.func(args) == 0
    args = parser.parse_args([
        "control", "eval", str(tmp_path / "policy.safetensors"), "CartPole-v1", "--episodes", "2",
        "--record", str(tmp_path / "ep.gif"),
    ])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "return" in out and (tmp_path / "ep.gif").exists()


def test_cli_rejects_unknown_algo():
    parser = argparse.ArgumentParser(prog="liquidts")
    add_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["control", "train", "CartPole-v1", "--algo", "sac", "--out", "x"])
