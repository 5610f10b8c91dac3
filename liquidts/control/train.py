"""Entry points: train a liquid policy on a Gymnasium environment, evaluate it, record an episode."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

from liquidts.control.bc import BCArgs, bc, record_expert
from liquidts.control.es import ESArgs, es
from liquidts.control.policy import CORES, RecurrentPolicy
from liquidts.control.ppo import PPOArgs, ppo

ALGOS = {"ppo": (ppo, PPOArgs), "es": (es, ESArgs), "bc": (bc, BCArgs)}


def env_dt(env) -> float | None:
    """Seconds between steps of ``env``: its ``dt`` or ``tau``, else 1 / render_fps, else None."""
    u = env.unwrapped
    for name in ("dt", "tau"):
        value = getattr(u, name, None)
        if isinstance(value, (int, float)):
            return float(value)
    fps = env.metadata.get("render_fps")
    return 1.0 / fps if fps else None


def make_policy(env_id: str, policy: str = "ncp", units: int = 16, use_dt: bool = False,
                env_kwargs: dict | None = None, **config) -> RecurrentPolicy:
    """A fresh policy for ``env_id``; ``use_dt`` feeds the environment's step time as timespans."""
    if policy not in CORES:
        raise ValueError(f"unknown policy {policy!r}; valid: {', '.join(CORES)}")
    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        dt = env_dt(env) if use_dt else None
        if use_dt and dt is None:
            raise ValueError(f"{env_id} exposes no step time (dt, tau or render_fps); use use_dt=False")
        return RecurrentPolicy.from_env(env, core=policy, units=units, dt=dt, **config)
    finally:
        env.close()


def train(
    env_id: str,
    policy: str | RecurrentPolicy = "ncp",
    algo: str = "ppo",
    seed: int = 0,
    *,
    units: int = 16,
    use_dt: bool = False,
    env_kwargs: dict | None = None,
    expert: Callable | list[dict] | None = None,
    expert_episodes: int = 20,
    out: str | Path | None = None,
    resume: bool = False,
    verbose: bool = False,
    **algo_args,
) -> RecurrentPolicy:
    """Train a recurrent policy on ``env_id`` and return it.

    policy: a core name (``"ncp"``, ``"ncp-ltc"``, ``"cfc"``, ``"ltc"``, ``"lstm"``) or a policy to
    keep training. algo: ``"ppo"``, ``"es"`` or ``"bc"``; ``algo_args`` are fields of the algorithm's
    dataclass (:class:`PPOArgs`, :class:`ESArgs`, :class:`BCArgs`), e.g. ``total_steps=50_000``.
    expert (bc only): a callable ``expert(obs, env) -> action`` run for ``expert_episodes`` episodes, or
    recorded episodes (see :func:`liquidts.control.bc.load_episodes`).
    out: a folder receiving ``checkpoint.pt`` (training state), ``log.csv`` (returns or losses) and
    ``policy.safetensors`` (the final policy); with ``resume=True`` training continues from the checkpoint.
    """
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; valid: {', '.join(ALGOS)}")
    fn, args_cls = ALGOS[algo]
    fields = {f.name for f in dataclasses.fields(args_cls)}
    unknown = set(algo_args) - fields
    if unknown:
        raise ValueError(f"unknown {algo} arguments {sorted(unknown)}; valid: {', '.join(sorted(fields))}")
    args = args_cls(**algo_args)
    if algo == "bc" and expert is None:
        raise ValueError("algo='bc' needs expert=: a callable expert(obs, env) -> action or recorded episodes")
    torch.manual_seed(seed)
    net = policy if isinstance(policy, RecurrentPolicy) else make_policy(
        env_id, policy, units=units, use_dt=use_dt, env_kwargs=env_kwargs
    )
    paths = {}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"checkpoint": out / "checkpoint.pt", "log": out / "log.csv"}
    common = dict(seed=seed, resume=resume, verbose=verbose, **paths)
    if algo == "bc":
        episodes = expert if isinstance(expert, list) else record_expert(
            expert, env_id, expert_episodes, seed=seed, env_kwargs=env_kwargs
        )
        net = bc(net, episodes, args, **common)
    else:
        net = fn(net, env_id, args, env_kwargs=env_kwargs, **common)
    if out is not None:
        net.save(out / "policy.safetensors")
    return net


def _episodes(policy: RecurrentPolicy, env_id: str, episodes: int, seed: int, env_kwargs, deterministic,
              keep: bool = False, render: bool = False):
    """Run ``episodes`` episodes side by side (seeds seed, seed+1, ...); returns returns and traces."""
    kwargs = dict(env_kwargs or {})
    if render:
        kwargs["render_mode"] = "rgb_array"
    envs = [gym.make(env_id, **kwargs) for _ in range(episodes)]
    traces = [{"obs": [], "actions": [], "rewards": [], "states": [], "frames": []} for _ in envs]
    try:
        obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
        alive = np.ones(episodes, dtype=bool)
        returns = np.zeros(episodes)
        state = None
        while alive.any():
            actions, state = policy.act(obs, state, deterministic=deterministic)
            for i in np.flatnonzero(alive):
                if keep:
                    tr = traces[i]
                    if render:
                        tr["frames"].append(envs[i].render())
                    tr["obs"].append(obs[i].copy())
                    tr["actions"].append(actions[i])
                    tr["states"].append(state[i].numpy().copy())
                o, r, term, trunc, _ = envs[i].step(actions[i])
                obs[i] = o
                returns[i] += r
                if keep:
                    traces[i]["rewards"].append(r)
                alive[i] = not (term or trunc)
    finally:
        for e in envs:
            e.close()
    return returns, traces


def evaluate(policy: RecurrentPolicy | str | Path, env_id: str, episodes: int = 20, seed: int = 0,
             env_kwargs: dict | None = None, deterministic: bool = True) -> tuple[float, float]:
    """Mean and standard deviation of the return over ``episodes`` episodes (seeds seed, seed+1, ...).

    policy: a policy or the path of a saved ``policy.safetensors``.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not isinstance(policy, RecurrentPolicy):
        policy = RecurrentPolicy.load(policy)
    policy.eval()
    returns, _ = _episodes(policy, env_id, episodes, seed, env_kwargs, deterministic)
    return float(returns.mean()), float(returns.std())


def run_episode(policy: RecurrentPolicy, env_id: str, seed: int = 0, env_kwargs: dict | None = None,
                deterministic: bool = True, render: bool = False) -> dict:
    """One episode with its trace: arrays ``obs`` (T, ...), ``actions``, ``rewards`` (T,), ``states``
    (T, S) (the core's hidden state after each step, for neuron-dynamics plots), and ``frames``
    (T, H, W, 3) when ``render=True``."""
    policy.eval()
    _, traces = _episodes(policy, env_id, 1, seed, env_kwargs, deterministic, keep=True, render=render)
    trace = {k: np.asarray(v) for k, v in traces[0].items() if v}
    trace["return"] = float(np.sum(trace["rewards"]))
    return trace


def record_episode(policy: RecurrentPolicy, env_id: str, path: str | Path, seed: int = 0,
                   env_kwargs: dict | None = None, fps: int = 30) -> float:
    """Record one episode: an animated GIF when ``path`` ends in ``.gif`` (Pillow), otherwise a folder
    of numbered PNG frames. Returns the episode's return."""
    from PIL import Image

    trace = run_episode(policy, env_id, seed=seed, env_kwargs=env_kwargs, render=True)
    frames = [Image.fromarray(f) for f in trace["frames"]]
    path = Path(path)
    if path.suffix.lower() == ".gif":
        path.parent.mkdir(parents=True, exist_ok=True)
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    else:
        path.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            f.save(path / f"frame_{i:05d}.png")
    return trace["return"]
