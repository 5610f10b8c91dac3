"""Behaviour cloning + DAgger for pixel drivers on CarRacing.

    iteration 0 (BC):  the expert drives          → frames + expert labels → fit
    iteration i ≥ 1:   the student drives, the expert takes over each step with probability
                       beta_i = beta_decay**i     → frames + expert labels → aggregate → fit

The expert (:class:`~liquidts.control.experts.PurePursuitExpert`) labels every visited state
from privileged information (track waypoints, hull pose and velocity); the student sees only
the frames. Training unrolls the recurrent driver over chunks of consecutive frames, the first
``burn_in`` steps of a chunk only warming up the state, so that what is learned is what a driver
carrying its state through a whole lap needs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from liquidts.control.driver import ConvDriver, from_expert_action, preprocess, to_env_action
from liquidts.control.experts import FastCarRacing, PurePursuitExpert, distance_to_track

__all__ = ["DaggerConfig", "Episode", "collect", "fit_driver", "dagger", "evaluate_driver"]


@dataclass
class DaggerConfig:
    """Budgets of :func:`dagger`; the defaults are the ones ``benchmarks/bench_driving.py`` uses."""

    train_seeds: tuple[int, ...] = tuple(range(10_000, 10_100))  # tracks for data, never for eval
    bc_episodes: int = 8
    iterations: int = 14
    episodes_per_iteration: int = 4
    beta_decay: float = 0.5
    action_repeat: int = 2
    max_steps: int = 1000  # environment steps per episode (CarRacing's own limit)
    lost_distance: float = 25.0  # metres off the centre line that end a student's episode
    chunk: int = 16
    burn_in: int = 4
    batch_size: int = 16
    bc_steps: int = 1000  # Adam steps on the expert's episodes
    dagger_steps: int = 300  # Adam steps on the aggregate after each DAgger iteration
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self):
        if self.chunk <= self.burn_in:
            raise ValueError(f"chunk ({self.chunk}) must be longer than burn_in ({self.burn_in})")
        if self.action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {self.action_repeat}")


@dataclass
class Episode:
    frames: np.ndarray  # (T, 48, 48, 1) uint8
    targets: np.ndarray  # (T, 2) expert [steer, accel]
    ret: float = 0.0
    info: dict = field(default_factory=dict)


@torch.no_grad()
def collect(driver: ConvDriver | None, expert: PurePursuitExpert, seed: int, beta: float,
            rng: np.random.Generator, action_repeat: int = 2, max_steps: int = 1000,
            lost_distance: float = float("inf")) -> Episode:
    """Drive one episode on track ``seed``, recording frames and the expert's labels.

    Each step the expert's action is executed with probability ``beta`` (always when ``driver``
    is None), the driver's otherwise; the driver's state follows every frame either way.
    """
    env = FastCarRacing(pixels=True, action_repeat=action_repeat,
                        max_episode_steps=max_steps)
    frame, _ = env.reset(seed=int(seed))
    hx, frames, targets, total, done, lost = None, [], [], 0.0, False, False
    while not done:
        obs = preprocess(frame)  # (48, 48, 1)
        label = expert.act(env)
        frames.append(obs)
        targets.append(from_expert_action(label))
        action = label
        if driver is not None:
            command, hx = driver(torch.from_numpy(obs)[None, None], hx)  # (1, 1, 2)
            if rng.random() >= beta:
                action = to_env_action(command[0, 0].numpy())
        frame, reward, terminated, truncated, _ = env.step(action)
        total += reward
        lost = distance_to_track(env) > lost_distance
        done = terminated or truncated or lost
    env.close()
    return Episode(np.stack(frames), np.stack(targets).astype(np.float32), total,
                   {"seed": int(seed), "beta": beta, "lost": lost})


def _sample_windows(episodes: list[Episode], n: int, length: int, rng: np.random.Generator):
    """``n`` windows of ``length`` consecutive steps, uniformly over all such windows."""
    starts = [len(ep.frames) - length + 1 for ep in episodes]  # windows per episode
    weights = np.maximum(np.array(starts, dtype=np.float64), 0)
    if weights.sum() == 0:
        raise ValueError(f"no episode is at least chunk={length} steps long")
    which = rng.choice(len(episodes), size=n, p=weights / weights.sum())
    xs, ys = [], []
    for e in which:
        s = int(rng.integers(0, starts[e]))
        xs.append(episodes[e].frames[s : s + length])
        ys.append(episodes[e].targets[s : s + length])
    return np.stack(xs), np.stack(ys)  # (n, length, 48, 48, 1), (n, length, 2)


def fit_driver(driver: ConvDriver, episodes: list[Episode], steps: int, config: DaggerConfig,
               rng: np.random.Generator, optimizer: torch.optim.Optimizer | None = None) -> float:
    """Regress the driver's commands on the expert labels for ``steps`` Adam steps.

    Each step draws ``batch_size`` windows of ``chunk`` frames; the loss skips the first
    ``burn_in`` steps of a window, which only warm up the state. Returns the mean loss of the
    last tenth of the steps.
    """
    optimizer = optimizer or torch.optim.Adam(driver.parameters(), lr=config.lr)
    driver.train()
    losses = []
    for _ in range(steps):
        x, y = _sample_windows(episodes, config.batch_size, config.chunk, rng)
        frames = torch.from_numpy(x)  # (B, T, 48, 48, 1) uint8
        target = torch.from_numpy(y)  # (B, T, 2)
        pred, _ = driver(frames)  # (B, T, 2)
        loss = ((pred - target)[:, config.burn_in :] ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(driver.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    driver.eval()
    return float(np.mean(losses[-max(1, steps // 10):]))


def dagger(driver: ConvDriver, config: DaggerConfig | None = None,
           expert: PurePursuitExpert | None = None, bc_data: list[Episode] | None = None,
           verbose: bool = False) -> dict:
    """Train ``driver`` in place by BC then DAgger; returns a history of the run.

    ``bc_data`` lets several students share one set of expert episodes (then ``bc_episodes`` is
    ignored). The history holds the loss and mean student return of every iteration, the
    number of labelled frames and the wall time.
    """
    config = config or DaggerConfig()
    expert = expert or PurePursuitExpert()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    seeds = iter(config.train_seeds)
    start = time.perf_counter()
    if bc_data is None:
        bc_data = [collect(None, expert, next(seeds), 1.0, rng, config.action_repeat,
                           config.max_steps) for _ in range(config.bc_episodes)]
    else:
        for _ in bc_data:
            next(seeds)
    data = list(bc_data)
    optimizer = torch.optim.Adam(driver.parameters(), lr=config.lr)
    loss = fit_driver(driver, data, config.bc_steps, config, rng, optimizer)
    history = {"loss": [loss], "student_return": [], "frames": [sum(len(e.frames) for e in data)]}
    bar = tqdm(range(1, config.iterations + 1), disable=not verbose, desc="DAgger")
    for it in bar:
        beta = config.beta_decay ** it
        new = [collect(driver, expert, next(seeds), beta, rng, config.action_repeat,
                       config.max_steps, config.lost_distance)
               for _ in range(config.episodes_per_iteration)]
        data.extend(new)
        loss = fit_driver(driver, data, config.dagger_steps, config, rng, optimizer)
        history["loss"].append(loss)
        history["student_return"].append(float(np.mean([e.ret for e in new])))
        history["frames"].append(sum(len(e.frames) for e in data))
        bar.set_postfix(loss=f"{loss:.4f}", ret=f"{history['student_return'][-1]:.0f}")
    history["train_seconds"] = time.perf_counter() - start
    return history


@torch.no_grad()
def evaluate_driver(driver: ConvDriver, seeds, action_repeat: int = 2, max_steps: int = 1000,
                    expert_speed: PurePursuitExpert | None = None) -> list[float]:
    """Return of the driver on each track in ``seeds``.

    With ``expert_speed`` the driver only steers and that expert's gas and brake set the speed
    (the paper's setting, where the NCP steers and the speed is not its job); otherwise the
    driver alone gives every command.
    """
    driver.eval()
    returns = []
    for seed in seeds:
        env = FastCarRacing(pixels=True, action_repeat=action_repeat,
                            max_episode_steps=max_steps)
        frame, _ = env.reset(seed=int(seed))
        hx, total, done = None, 0.0, False
        while not done:
            obs = torch.from_numpy(preprocess(frame))[None, None]  # (1, 1, 48, 48, 1)
            command, hx = driver(obs, hx)  # (1, 1, 2)
            action = to_env_action(command[0, 0].numpy())
            if expert_speed is not None:
                action[1:] = expert_speed.act(env)[1:]
            frame, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        env.close()
        returns.append(total)
    return returns
