"""Classic-control bars for liquid policies: train, then evaluate over 20 episodes.

    python benchmarks/bench_control.py cartpole            # or pendulum, lunar, all
    python benchmarks/bench_control.py lunar --steps 300000 --out runs/bench
    python benchmarks/bench_control.py pendulum --out runs/bench --steps 400000 --resume  # train longer

Prints one markdown table row per task: policy, algorithm, training steps, wall time, mean ± std
return over 20 deterministic evaluation episodes (seeds 1000..1019, never seen in training) and whether
the bar is met; with --resume the time is that of the resumed part only. Training runs on one
thread, as on the 2-core CPU the bars are set for.
"""
from __future__ import annotations

import argparse
import time

import torch

from liquidts.control import evaluate, train

# Bars from the gymnasium thresholds (CartPole, LunarLander) and rl-baselines3-zoo (Pendulum).
TASKS = {
    "cartpole": dict(
        env_id="CartPole-v1", bar=475.0, time_limit_s=600,
        kwargs=dict(policy="ncp", units=16, algo="ppo", total_steps=100_000),
    ),
    "pendulum": dict(
        env_id="Pendulum-v1", bar=-200.0, time_limit_s=None,
        kwargs=dict(policy="ncp", units=16, algo="ppo", total_steps=200_000, num_envs=4,
                    num_steps=512, num_minibatches=8, update_epochs=10, gamma=0.9,
                    learning_rate=1e-3),
    ),
    "lunar": dict(
        env_id="LunarLanderContinuous-v3", bar=200.0, time_limit_s=None,
        kwargs=dict(policy="ncp", units=16, algo="ppo", total_steps=1_000_000, num_envs=16,
                    num_steps=256, num_minibatches=8, update_epochs=4, gamma=0.999,
                    gae_lambda=0.98, ent_coef=0.01, learning_rate=1e-3),
    ),
}


def run(name: str, seed: int, steps: int | None, out: str | None, resume: bool, verbose: bool) -> dict:
    task = TASKS[name]
    kwargs = dict(task["kwargs"])
    if steps is not None:
        kwargs["total_steps"] = steps
    start = time.perf_counter()
    policy = train(task["env_id"], seed=seed, out=None if out is None else f"{out}/{name}",
                   resume=resume, verbose=verbose, **kwargs)
    seconds = time.perf_counter() - start
    mean, std = evaluate(policy, task["env_id"], episodes=20, seed=1000)
    met = mean >= task["bar"] and (task["time_limit_s"] is None or seconds <= task["time_limit_s"])
    return dict(task=task["env_id"], policy=kwargs["policy"], units=kwargs["units"], algo=kwargs["algo"],
                steps=kwargs["total_steps"], seconds=seconds, mean=mean, std=std, bar=task["bar"], met=met)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=[*TASKS, "all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="override the training steps")
    parser.add_argument("--out", default=None, help="folder for checkpoints, logs and policies")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --out/<task>/checkpoint.pt (e.g. with a larger --steps)")
    parser.add_argument("--verbose", action="store_true")
    a = parser.parse_args()
    torch.set_num_threads(1)
    print("| task | policy | algo | steps | train time (s) | return (20 episodes) | bar | met |")
    print("|---|---|---|---|---|---|---|---|")
    for name in TASKS if a.task == "all" else [a.task]:
        r = run(name, a.seed, a.steps, a.out, a.resume, a.verbose)
        print(f"| {r['task']} | {r['policy']} ({r['units']} units) | {r['algo']} | {r['steps']:,} | "
              f"{r['seconds']:.0f} | {r['mean']:.1f} ± {r['std']:.1f} | {r['bar']:g} | "
              f"{'yes' if r['met'] else 'no'} |", flush=True)


if __name__ == "__main__":
    main()
