"""Evolution strategies for recurrent (liquid) policies, in one file.

Each generation draws ``population // 2`` Gaussian directions eps_i and scores the antithetic pair
theta +/- sigma * eps_i by the return of deterministic episodes (every member of a generation sees the
same episode seeds, so the pair differs only by its perturbation). Returns are replaced by centred ranks
in [-0.5, 0.5] (rank shaping: robust to the scale and outliers of returns) and the search gradient
sum_i (rank+_i - rank-_i) eps_i / (population * sigma) is fed to Adam. Only the parameters that act
(encoder, core, action head) are evolved; the value head and the Gaussian's log-std stay untouched.

Observations are normalised with statistics gathered once, before the first generation, from
``norm_warmup_steps`` steps of uniformly random actions; keeping them fixed afterwards keeps the
fitness of a parameter vector the same across generations.

Evaluations parallelise over ``workers`` processes. Every random draw derives from (seed, generation),
so a run resumed from a checkpoint repeats the uninterrupted run exactly, whatever the worker count.

Letters: P number of evolved parameters, K antithetic pairs.
"""
from __future__ import annotations

import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from scipy.stats import rankdata
from tqdm.auto import tqdm

from liquidts.control.policy import PolicyConfig, RecurrentPolicy
from liquidts.control.runs import CsvLog, resumed_checkpoint, save_checkpoint


@dataclass
class ESArgs:
    generations: int = 100
    population: int = 32  # even: population // 2 antithetic pairs
    sigma: float = 0.05
    learning_rate: float = 0.03
    weight_decay: float = 0.005
    episodes: int = 1  # episodes per member per generation
    max_episode_steps: int | None = None
    norm_warmup_steps: int = 2000  # random-action steps for the observation statistics (0: none)
    workers: int = 1
    checkpoint_every: int = 10

    def validate(self) -> None:
        if self.population < 2 or self.population % 2:
            raise ValueError(f"population must be an even number >= 2, got {self.population}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


def evolved_parameters(policy: RecurrentPolicy) -> list[torch.nn.Parameter]:
    """The parameters ES perturbs: those that change the deterministic action."""
    mods = (policy.encoder, policy.core, policy.action_head)
    return [p for m in mods for p in m.parameters()]


def _flat(params) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])  # (P,)


def _assign(params, flat: torch.Tensor) -> None:
    i = 0
    for p in params:
        p.data.copy_(flat[i : i + p.numel()].view_as(p))
        i += p.numel()


def episode_returns(policy, env_id, seeds, env_kwargs=None, max_steps=None) -> np.ndarray:
    """Deterministic returns of ``policy`` over one episode per seed, run as a batch of environments."""
    envs = [gym.make(env_id, **(env_kwargs or {})) for _ in seeds]
    try:
        obs = np.stack([e.reset(seed=int(s))[0] for e, s in zip(envs, seeds)])
        alive = np.ones(len(envs), dtype=bool)
        returns = np.zeros(len(envs))
        state, steps = None, 0
        while alive.any() and (max_steps is None or steps < max_steps):
            actions, state = policy.act(obs, state)
            for i in np.flatnonzero(alive):
                o, r, term, trunc, _ = envs[i].step(actions[i])
                obs[i] = o
                returns[i] += r
                alive[i] = not (term or trunc)
            steps += 1
        return returns
    finally:
        for e in envs:
            e.close()


def _warm_up_obs_norm(policy: RecurrentPolicy, env_id: str, steps: int, seed: int, env_kwargs) -> None:
    env = gym.make(env_id, **(env_kwargs or {}))
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    seen = []
    for _ in range(steps):
        seen.append(obs)
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            obs, _ = env.reset()
    env.close()
    policy.obs_norm.update(torch.as_tensor(np.stack(seen), dtype=torch.float32))


# Per-process state for pool workers (built once by the initializer, reused for every pair).
_WORKER: dict = {}


def _init_worker(config: dict, env_id: str, env_kwargs, max_steps) -> None:
    torch.set_num_threads(1)
    config = dict(config, obs_shape=tuple(config["obs_shape"]))
    policy = RecurrentPolicy(PolicyConfig(**config))
    _WORKER.update(policy=policy, env_id=env_id, env_kwargs=env_kwargs, max_steps=max_steps)


def _score_pair(task) -> tuple[float, float]:
    """Mean return of theta + sigma*eps and theta - sigma*eps, eps drawn from ``noise_seed``."""
    theta, obs_norm, noise_seed, sigma, episode_seeds = task
    policy = _WORKER["policy"]
    params = evolved_parameters(policy)
    eps = torch.from_numpy(np.random.default_rng(noise_seed).standard_normal(theta.shape[0])).float()
    theta = torch.from_numpy(theta)
    if policy.obs_norm is not None:
        policy.obs_norm.load_state_dict(obs_norm)
    scores = []
    for sign in (1.0, -1.0):
        _assign(params, theta + sign * sigma * eps)
        r = episode_returns(policy, _WORKER["env_id"], episode_seeds, _WORKER["env_kwargs"], _WORKER["max_steps"])
        scores.append(float(r.mean()))
    return scores[0], scores[1]


def _centered_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [-0.5, 0.5]; tied returns share their mean rank, so a tied pair adds nothing."""
    ranks = rankdata(x.ravel(), method="average") - 1.0
    return (ranks / (x.size - 1) - 0.5).reshape(x.shape)


def es(
    policy: RecurrentPolicy,
    env_id: str,
    args: ESArgs | None = None,
    seed: int = 0,
    env_kwargs: dict | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    log: str | Path | None = None,
    verbose: bool = False,
) -> RecurrentPolicy:
    """Train ``policy`` in place with antithetic ES on ``env_id`` and return it.

    checkpoint/resume: as in :func:`liquidts.control.ppo.ppo`, but resuming is exact. log: CSV with one
    row per generation: the mean and the best return of the perturbed members.
    """
    args = args or ESArgs()
    args.validate()
    params = evolved_parameters(policy)
    theta = _flat(params).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([theta], lr=args.learning_rate, weight_decay=args.weight_decay)
    start = 0
    ckpt = resumed_checkpoint(checkpoint, resume)
    if ckpt is not None:
        policy.load_state_dict(ckpt["policy"])
        with torch.no_grad():
            theta.copy_(_flat(params))
        optimizer.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["generation"])
    elif policy.obs_norm is not None and float(policy.obs_norm.count) < 1 and args.norm_warmup_steps > 0:
        _warm_up_obs_norm(policy, env_id, args.norm_warmup_steps, seed, env_kwargs)

    K = args.population // 2
    config = asdict(policy.config)
    init = (config, env_id, env_kwargs, args.max_episode_steps)
    pool = None
    if args.workers > 1:
        pool = mp.get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=init)
    else:
        _init_worker(*init)
    run_log = CsvLog(log, ["generation", "mean_return", "best_return"], None if ckpt is None else start)
    norm = {} if policy.obs_norm is None else {k: v.clone() for k, v in policy.obs_norm.state_dict().items()}

    bar = tqdm(range(start, args.generations), disable=not verbose, desc=f"es {env_id}")
    try:
        for gen in bar:
            rng = np.random.default_rng([seed, gen])
            noise_seeds = rng.integers(0, 2**63 - 1, size=K)
            episode_seeds = rng.integers(0, 2**31 - 1, size=args.episodes).tolist()
            flat = theta.detach().numpy().copy()
            tasks = [(flat, norm, int(s), args.sigma, episode_seeds) for s in noise_seeds]
            scores = np.array(pool.map(_score_pair, tasks) if pool else [_score_pair(t) for t in tasks])  # (K, 2)
            shaped = _centered_ranks(scores)
            grad = torch.zeros_like(theta)
            for s, w in zip(noise_seeds, shaped[:, 0] - shaped[:, 1]):
                eps = np.random.default_rng(int(s)).standard_normal(theta.shape[0])
                grad += float(w) * torch.from_numpy(eps).float()
            optimizer.zero_grad()
            theta.grad = -grad / (args.population * args.sigma)  # Adam minimises; ES ascends
            optimizer.step()
            _assign(params, theta.detach())
            run_log.write([gen + 1, f"{scores.mean():.4f}", f"{scores.max():.4f}"])
            bar.set_postfix(mean=f"{scores.mean():.1f}", best=f"{scores.max():.1f}")
            if checkpoint is not None and ((gen + 1) % args.checkpoint_every == 0 or gen + 1 == args.generations):
                save_checkpoint(
                    {"policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                     "generation": gen + 1, "args": asdict(args)},
                    checkpoint,
                )
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        run_log.close()
    return policy
