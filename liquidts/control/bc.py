"""Behaviour cloning of recorded expert episodes into a recurrent (liquid) policy, in one file.

An episode is a dict of arrays ``{"obs": (T, *obs_shape), "actions": (T,) or (T, A)}`` holding the
environment's own actions. Training cuts every episode into windows of ``seq_len`` steps (the last
window of an episode is aligned to its end so no step is lost), starts each window from a zero state
and fits the action head: cross-entropy on logits for discrete actions, mean squared error on the
Gaussian mean (in the policy's [-1, 1] action scale) for continuous ones. Calling :func:`bc` again on a
larger set of episodes continues from the current weights, which is what DAgger needs.

Letters: W windows, L window length.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from liquidts.control.policy import RecurrentPolicy
from liquidts.control.runs import CsvLog, resumed_checkpoint, save_checkpoint


@dataclass
class BCArgs:
    epochs: int = 30
    seq_len: int = 32
    stride: int = 16  # step between window starts
    batch_size: int = 32
    learning_rate: float = 1e-2
    max_grad_norm: float = 1.0
    checkpoint_every: int = 5


def record_expert(
    expert: Callable, env_id: str, episodes: int, seed: int = 0, env_kwargs: dict | None = None,
    max_steps: int | None = None,
) -> list[dict]:
    """Run ``expert(obs, env) -> action`` for ``episodes`` episodes (seeds seed, seed+1, ...).

    The environment is passed so that scripted experts may read its internal state
    (``env.unwrapped``). Returns a list of {"obs", "actions", "rewards"} dicts.
    """
    env = gym.make(env_id, **(env_kwargs or {}))
    out = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            ep = {"obs": [], "actions": [], "rewards": []}
            done, steps = False, 0
            while not done and (max_steps is None or steps < max_steps):
                action = expert(obs, env)
                ep["obs"].append(obs)
                ep["actions"].append(action)
                obs, reward, term, trunc, _ = env.step(action)
                ep["rewards"].append(reward)
                done, steps = term or trunc, steps + 1
            out.append({k: np.asarray(v) for k, v in ep.items()})
    finally:
        env.close()
    return out


def save_episodes(path, episodes: list[dict]) -> None:
    """Write episodes to one ``.npz`` file (no pickle)."""
    arrays = {f"{i}/{k}": v for i, ep in enumerate(episodes) for k, v in ep.items()}
    np.savez_compressed(path, **arrays)


def load_episodes(path) -> list[dict]:
    """Read episodes written by :func:`save_episodes`."""
    with np.load(path, allow_pickle=False) as data:
        eps: dict[int, dict] = {}
        for key in data.files:
            i, name = key.split("/", 1)
            eps.setdefault(int(i), {})[name] = data[key]
    return [eps[i] for i in sorted(eps)]


def _windows(policy: RecurrentPolicy, episodes, seq_len: int, stride: int):
    obs, act, valid = [], [], []
    for ep in episodes:
        T = len(ep["obs"])
        if T == 0:
            continue
        L = min(seq_len, T)
        starts = list(range(0, T - L + 1, stride))
        if starts[-1] != T - L:
            starts.append(T - L)
        o = torch.as_tensor(np.asarray(ep["obs"]))
        a = policy.from_env_action(ep["actions"])
        for s in starts:
            # Short episodes are padded by repeating their last step; padding is masked out of the loss.
            pad = seq_len - L
            idx = torch.arange(s, s + L)
            idx = torch.cat([idx, idx[-1:].repeat(pad)])
            obs.append(o[idx])
            act.append(a[idx])
            valid.append(torch.arange(seq_len) < L)
    if not obs:
        raise ValueError("no expert steps to learn from: every episode is empty")
    return torch.stack(obs), torch.stack(act), torch.stack(valid)  # (W, L, *obs), (W, L[, A]), (W, L)


def bc(
    policy: RecurrentPolicy,
    episodes: list[dict],
    args: BCArgs | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    log: str | Path | None = None,
    verbose: bool = False,
) -> RecurrentPolicy:
    """Fit ``policy`` to expert ``episodes`` in place and return it.

    The observation normaliser (vector observations) is fitted to the expert data the first time only.
    checkpoint/resume: per epoch; a resumed run repeats the uninterrupted one exactly (each epoch's
    shuffle is drawn from (seed, epoch)). log: CSV of the mean training loss per epoch.
    """
    args = args or BCArgs()
    if not episodes:
        raise ValueError("episodes is empty: record expert episodes first (record_expert)")
    w_obs, w_act, mask = _windows(policy, episodes, args.seq_len, args.stride)
    norm = policy.obs_norm
    if norm is not None and float(norm.count) < 1:
        norm.update(w_obs[mask])
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    start = 0
    ckpt = resumed_checkpoint(checkpoint, resume)
    if ckpt is not None:
        policy.load_state_dict(ckpt["policy"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["epoch"])
    run_log = CsvLog(log, ["epoch", "loss"], None if ckpt is None else start)

    W = w_obs.shape[0]
    policy.train()
    bar = tqdm(range(start, args.epochs), disable=not verbose, desc="bc")
    try:
        for epoch in bar:
            g = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(W, generator=g)
            total, count = 0.0, 0
            for k in range(0, W, args.batch_size):
                idx = order[k : k + args.batch_size]
                out, _ = policy.unroll(w_obs[idx])  # (b, L, O)
                pred = policy.action_head(out)  # (b, L, A)
                m = mask[idx]
                if policy.config.action_type == "discrete":
                    loss = F.cross_entropy(pred[m], w_act[idx][m])
                else:
                    loss = F.mse_loss(pred[m], w_act[idx][m])
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                optimizer.step()
                total, count = total + loss.item() * len(idx), count + len(idx)
            run_log.write([epoch + 1, f"{total / count:.6f}"])
            bar.set_postfix(loss=f"{total / count:.4f}")
            if checkpoint is not None and ((epoch + 1) % args.checkpoint_every == 0 or epoch + 1 == args.epochs):
                save_checkpoint(
                    {"policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                     "epoch": epoch + 1, "args": asdict(args)},
                    checkpoint,
                )
    finally:
        run_log.close()
    policy.eval()
    return policy
