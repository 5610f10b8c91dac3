"""Proximal Policy Optimisation for recurrent (liquid) policies, in one file.

Rollouts run ``num_envs`` copies of the environment (``gymnasium.vector``) for ``num_steps`` steps,
carrying each copy's recurrent state and zeroing it where an episode starts. The update cuts every
copy's rollout into windows of ``seq_len`` steps and replays each window from the state stored at its
start (truncated backpropagation through time), with the clipped surrogate objective, GAE(lambda)
advantages and a value loss. Observations are normalised by the policy's running statistics and rewards
by the running standard deviation of the discounted return. Episodes cut by a time limit are bootstrapped
from the value of their final observation.

Letters: N steps per rollout, E environments, S state size, W windows, L window length.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from liquidts.control.policy import RecurrentPolicy, RunningNorm
from liquidts.control.runs import CsvLog, resumed_checkpoint, save_checkpoint


@dataclass
class PPOArgs:
    total_steps: int = 100_000
    num_envs: int = 8
    num_steps: int = 128  # per environment per rollout
    seq_len: int = 16  # BPTT window; must divide num_steps
    num_minibatches: int = 4
    update_epochs: int = 4
    learning_rate: float = 3e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_obs: bool = True
    normalize_reward: bool = True
    checkpoint_every: int = 10  # updates between checkpoints (when a checkpoint path is given)

    def validate(self) -> None:
        if self.num_steps % self.seq_len:
            raise ValueError(f"seq_len={self.seq_len} must divide num_steps={self.num_steps}")
        windows = self.num_envs * self.num_steps // self.seq_len
        if windows % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the {windows} windows per rollout"
            )
        if self.total_steps < self.num_envs * self.num_steps:
            raise ValueError(
                f"total_steps={self.total_steps} is less than one rollout "
                f"(num_envs * num_steps = {self.num_envs * self.num_steps})"
            )


def _returns_norm_update(stats: RunningNorm, running: np.ndarray, rewards, starts, gamma) -> np.ndarray:
    """Scale rewards by the running std of the discounted return (reset at episode starts)."""
    running[:] = running * gamma * (1.0 - starts) + rewards
    stats.update(torch.as_tensor(running, dtype=torch.float32)[:, None])
    return rewards / math.sqrt(float(stats.var[0]) + 1e-8)


def ppo(
    policy: RecurrentPolicy,
    env_id: str,
    args: PPOArgs | None = None,
    seed: int = 0,
    env_kwargs: dict | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    log: str | Path | None = None,
    verbose: bool = False,
) -> RecurrentPolicy:
    """Train ``policy`` in place on ``env_id`` with PPO and return it.

    checkpoint: file written every ``args.checkpoint_every`` updates and at the end; with ``resume=True``
    training continues from it (weights, optimiser, statistics and random state are restored; the
    environments start fresh episodes, so a resumed run is close to but not identical with an
    uninterrupted one). log: CSV of finished episodes (step, return, length), appended on resume.
    """
    args = args or PPOArgs()
    args.validate()
    torch.manual_seed(seed)
    envs = gym.make_vec(
        env_id, num_envs=args.num_envs, vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **(env_kwargs or {}),
    )
    E, N, L = args.num_envs, args.num_steps, args.seq_len
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate, eps=1e-5)
    reward_stats = RunningNorm(1)
    num_updates = args.total_steps // (E * N)
    start_update, global_step = 0, 0
    ckpt = resumed_checkpoint(checkpoint, resume)
    if ckpt is not None:
        policy.load_state_dict(ckpt["policy"])
        optimizer.load_state_dict(ckpt["optimizer"])
        reward_stats.load_state_dict(ckpt["reward_stats"])
        torch.set_rng_state(ckpt["rng"])
        start_update, global_step = int(ckpt["update"]), int(ckpt["global_step"])

    obs_shape = envs.single_observation_space.shape
    obs_buf = torch.zeros((N, E, *obs_shape))
    act_buf = torch.zeros((N, E) + (() if policy.config.action_type == "discrete" else (policy.config.action_dim,)))
    logp_buf, rew_buf, val_buf = torch.zeros(N, E), torch.zeros(N, E), torch.zeros(N, E)
    start_buf = torch.zeros(N, E, dtype=torch.bool)
    state_buf = torch.zeros(N, E, policy.state_size)  # state before each step

    # Fresh seeds on resume so the restarted environments do not replay the first episodes.
    obs, _ = envs.reset(seed=seed + 1_000_003 * start_update)
    next_obs = torch.as_tensor(obs, dtype=torch.float32)
    next_start = torch.ones(E, dtype=torch.bool)
    state = policy.initial_state(E)
    running_return = np.zeros(E)
    ep_return, ep_length = np.zeros(E), np.zeros(E, dtype=np.int64)
    recent: list[float] = []

    run_log = CsvLog(log, ["step", "return", "length"], None if ckpt is None else global_step)

    bar = tqdm(range(start_update, num_updates), disable=not verbose, desc=f"ppo {env_id}")
    try:
        for update in bar:
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - update / num_updates)

            # ---- rollout -------------------------------------------------------------------------
            policy.eval()
            for t in range(N):
                obs_buf[t], start_buf[t], state_buf[t] = next_obs, next_start, state
                with torch.no_grad():
                    out, states = policy.unroll(next_obs[:, None], state, next_start[:, None])
                    dist = policy.distribution(out[:, 0])
                    action = dist.sample()
                    logp_buf[t] = policy.log_prob(dist, action)
                    val_buf[t] = policy.value(states[:, 0])
                state = states[:, 0]  # (E, S)
                act_buf[t] = action
                obs, reward, term, trunc, info = envs.step(policy.to_env_action(action))
                global_step += E
                ep_return += reward
                ep_length += 1
                done = term | trunc
                reward = reward.astype(np.float64)
                if args.normalize_reward:
                    reward = _returns_norm_update(reward_stats, running_return, reward, next_start.numpy(), args.gamma)
                cut = trunc & ~term
                if cut.any():
                    # Bootstrap time-limit cuts from V(final observation), reached from the current state.
                    final = torch.as_tensor(np.stack(info["final_obs"][cut]), dtype=torch.float32)
                    with torch.no_grad():
                        _, fs = policy.unroll(final[:, None], state[torch.as_tensor(cut)])
                        reward[cut] += args.gamma * policy.value(fs[:, 0]).numpy()
                rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
                for i in np.flatnonzero(done):
                    recent.append(float(ep_return[i]))
                    run_log.write([global_step, f"{ep_return[i]:.4f}", int(ep_length[i])])
                    ep_return[i], ep_length[i] = 0.0, 0
                next_obs = torch.as_tensor(obs, dtype=torch.float32)
                next_start = torch.as_tensor(done)
            recent = recent[-20:]

            # ---- advantages (GAE) -------------------------------------------------------------------
            with torch.no_grad():
                _, s_next = policy.unroll(next_obs[:, None], state, next_start[:, None])
                next_value = policy.value(s_next[:, 0])  # (E,)
            adv = torch.zeros(N, E)
            last = torch.zeros(E)
            for t in reversed(range(N)):
                nonterminal = 1.0 - (next_start if t == N - 1 else start_buf[t + 1]).float()
                nv = next_value if t == N - 1 else val_buf[t + 1]
                delta = rew_buf[t] + args.gamma * nv * nonterminal - val_buf[t]
                last = delta + args.gamma * args.gae_lambda * nonterminal * last
                adv[t] = last
            ret = adv + val_buf

            # ---- update on windows of L steps -------------------------------------------------------
            def windows(x):  # (N, E, ...) -> (W, L, ...), W = E * N / L
                x = x.reshape(N // L, L, E, *x.shape[2:]).transpose(1, 2)
                return x.reshape(-1, L, *x.shape[3:])

            w_obs, w_act, w_logp = windows(obs_buf), windows(act_buf), windows(logp_buf)
            w_adv, w_ret, w_start = windows(adv), windows(ret), windows(start_buf)
            w_h0 = windows(state_buf)[:, 0]  # (W, S)
            W = w_obs.shape[0]
            mb = W // args.num_minibatches
            policy.train()
            for _ in range(args.update_epochs):
                order = torch.randperm(W)
                for k in range(0, W, mb):
                    idx = order[k : k + mb]
                    out, states = policy.unroll(w_obs[idx], w_h0[idx], w_start[idx])  # (mb, L, O), (mb, L, S)
                    dist = policy.distribution(out)
                    logp = policy.log_prob(dist, w_act[idx])  # (mb, L)
                    ratio = (logp - w_logp[idx]).exp()
                    a = w_adv[idx]
                    a = (a - a.mean()) / (a.std() + 1e-8)
                    pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                    v_loss = 0.5 * (policy.value(states) - w_ret[idx]).pow(2).mean()
                    ent = policy.entropy(dist).mean()
                    loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * ent
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                    optimizer.step()

            # Statistics move between rollouts only, so each update sees the inputs its rollout saw.
            if args.normalize_obs and policy.obs_norm is not None:
                policy.obs_norm.update(obs_buf)
            if recent:
                bar.set_postfix(ret=f"{np.mean(recent):.1f}", step=global_step)
            last_update = update + 1 == num_updates
            if checkpoint is not None and ((update + 1) % args.checkpoint_every == 0 or last_update):
                save_checkpoint(
                    {
                        "policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                        "reward_stats": reward_stats.state_dict(), "rng": torch.get_rng_state(),
                        "update": update + 1, "global_step": global_step, "args": asdict(args),
                    },
                    checkpoint,
                )
    finally:
        envs.close()
        run_log.close()
    policy.eval()
    return policy
