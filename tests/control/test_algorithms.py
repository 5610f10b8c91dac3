"""PPO, ES and BC on tiny budgets: they run, improve a return, checkpoint and resume."""
import csv

import numpy as np
import pytest
import torch

from liquidts.control import (
    BCArgs, ESArgs, PPOArgs, bc, es, evaluate, load_episodes, make_policy, ppo, record_expert,
    save_episodes,
)
from liquidts.control.es import evolved_parameters

TINY_PPO = dict(num_envs=4, num_steps=128, seq_len=32, num_minibatches=2, update_epochs=4, learning_rate=1e-2)


def _policy(core="ncp", env_id="CartPole-v1", units=8):
    torch.manual_seed(0)
    return make_policy(env_id, core, units=units)


def _returns(log):
    with open(log) as f:
        return [float(row["return"]) for row in csv.DictReader(f)]


def cartpole_expert(obs, env):
    x, v, theta, omega = obs
    return int(theta + 0.5 * omega + 0.01 * x + 0.1 * v > 0)


def pendulum_expert(obs, env):
    cos, sin, omega = obs
    return np.array([np.clip(-10.0 * np.arctan2(sin, cos) - 2.0 * omega, -2.0, 2.0)], dtype=np.float32)


def test_ppo_improves_cartpole_returns(tmp_path):
    log = tmp_path / "log.csv"
    policy = ppo(_policy(), "CartPole-v1", PPOArgs(total_steps=8192, **TINY_PPO), seed=0, log=log)
    returns = _returns(log)
    assert np.mean(returns[-20:]) > np.mean(returns[:20]) + 20
    assert evaluate(policy, "CartPole-v1", episodes=3)[0] > 60


def test_ppo_resumes_from_its_checkpoint(tmp_path):
    ckpt, log = tmp_path / "ckpt.pt", tmp_path / "log.csv"
    args = PPOArgs(total_steps=1024, checkpoint_every=1, **TINY_PPO)
    ppo(_policy("cfc"), "CartPole-v1", args, seed=0, checkpoint=ckpt, log=log)
    first = torch.load(ckpt, weights_only=True)
    assert (first["update"], first["global_step"]) == (2, 1024)
    logged = len(_returns(log))
    args.total_steps = 2048
    policy = ppo(_policy("cfc"), "CartPole-v1", args, seed=0, checkpoint=ckpt, log=log, resume=True)
    second = torch.load(ckpt, weights_only=True)
    assert (second["update"], second["global_step"]) == (4, 2048)
    assert len(_returns(log)) > logged  # appended, not overwritten
    # The resumed run started from the saved weights, not from the fresh policy passed in.
    assert not torch.equal(policy.action_head.weight, _policy("cfc").action_head.weight)


def test_ppo_runs_a_continuous_lstm_policy():
    policy = _policy("lstm", "Pendulum-v1")
    before = policy.log_std.detach().clone()
    ppo(policy, "Pendulum-v1", PPOArgs(total_steps=512, num_envs=2, num_steps=256, seq_len=16), seed=0)
    assert not torch.equal(before, policy.log_std)


def test_ppo_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="seq_len=24 must divide num_steps=128"):
        ppo(_policy(), "CartPole-v1", PPOArgs(seq_len=24))


ES_SMALL = dict(population=8, sigma=0.1, learning_rate=0.1, max_episode_steps=200)


def test_es_improves_cartpole_returns_with_an_ncp_core(tmp_path):
    """Every population member must be scored with its own weights: ES writes them with .data.copy_,
    which the CfC's no-gradient path once missed (it scored stale weights and never improved)."""
    policy = _policy("ncp")
    before = evaluate(policy, "CartPole-v1", episodes=3)[0]
    args = ESArgs(generations=6, population=16, sigma=0.1, learning_rate=0.05, max_episode_steps=100)
    es(policy, "CartPole-v1", args, seed=0, log=tmp_path / "log.csv")
    with open(tmp_path / "log.csv") as f:
        member_means = [float(r["mean_return"]) for r in csv.DictReader(f)]
    assert len(member_means) == 6 and member_means[-1] > member_means[0] + 10
    assert evaluate(policy, "CartPole-v1", episodes=3)[0] > before + 15


def test_es_resume_repeats_the_uninterrupted_run(tmp_path):
    whole = es(_policy(), "CartPole-v1", ESArgs(generations=4, **ES_SMALL), seed=3)
    ckpt = tmp_path / "es.pt"
    es(_policy(), "CartPole-v1", ESArgs(generations=2, **ES_SMALL), seed=3, checkpoint=ckpt)
    resumed = es(_policy(), "CartPole-v1", ESArgs(generations=4, **ES_SMALL), seed=3, checkpoint=ckpt, resume=True)
    for a, b in zip(evolved_parameters(whole), evolved_parameters(resumed)):
        torch.testing.assert_close(a, b)


def test_es_workers_give_the_same_result_as_one_process():
    args = dict(generations=1, population=4, sigma=0.1, learning_rate=0.1, max_episode_steps=50)
    one = es(_policy(), "CartPole-v1", ESArgs(workers=1, **args), seed=1)
    two = es(_policy(), "CartPole-v1", ESArgs(workers=2, **args), seed=1)
    for a, b in zip(evolved_parameters(one), evolved_parameters(two)):
        torch.testing.assert_close(a, b)


def test_es_rejects_odd_population():
    with pytest.raises(ValueError, match="population must be an even number"):
        es(_policy(), "CartPole-v1", ESArgs(population=5))


def test_bc_clones_a_discrete_expert(tmp_path):
    episodes = record_expert(cartpole_expert, "CartPole-v1", episodes=3, seed=0, max_steps=200)
    path = tmp_path / "expert.npz"
    save_episodes(path, episodes)
    loaded = load_episodes(path)
    assert len(loaded) == 3
    np.testing.assert_array_equal(loaded[1]["actions"], episodes[1]["actions"])
    policy = _policy()
    before = evaluate(policy, "CartPole-v1", episodes=3)[0]
    bc(policy, loaded, BCArgs(epochs=25, seq_len=16, stride=16), seed=0)
    assert evaluate(policy, "CartPole-v1", episodes=3)[0] > max(120, before + 50)


def test_bc_fits_a_continuous_expert_and_resumes_exactly(tmp_path):
    episodes = record_expert(pendulum_expert, "Pendulum-v1", episodes=2, seed=0, max_steps=60)
    args = dict(seq_len=16, stride=8, batch_size=8)
    log = tmp_path / "log.csv"
    whole = bc(_policy("cfc", "Pendulum-v1"), episodes, BCArgs(epochs=6, **args), seed=0, log=log)
    with open(log) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    assert losses[-1] < 0.5 * losses[0]
    ckpt = tmp_path / "bc.pt"
    bc(_policy("cfc", "Pendulum-v1"), episodes, BCArgs(epochs=3, checkpoint_every=1, **args), seed=0, checkpoint=ckpt)
    resumed = bc(_policy("cfc", "Pendulum-v1"), episodes, BCArgs(epochs=6, **args), seed=0, checkpoint=ckpt, resume=True)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_bc_rejects_empty_episodes():
    with pytest.raises(ValueError, match="episodes is empty"):
        bc(_policy(), [])
