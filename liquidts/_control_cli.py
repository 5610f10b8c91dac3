"""``liquidts control train|eval`` subcommands (wired into ``liquidts.cli`` by :func:`add_parser`).

    liquidts control train CartPole-v1 --policy ncp --algo ppo --steps 100000 --out runs/cartpole
    liquidts control eval runs/cartpole/policy.safetensors CartPole-v1 --episodes 20 --record cp.gif
"""
from __future__ import annotations

import argparse
import json
import os

from liquidts._cli_util import HelpFormatter, fail, positive_int

# Spelled out here so that building the parser (``liquidts --help``) imports neither torch nor
# gymnasium; tests/test_cli_startup.py checks them against policy.CORES and train.ALGOS.
CORES = ("ncp", "ncp-ltc", "cfc", "ltc", "lstm")
ALGOS = ("ppo", "es", "bc")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``control`` command (with ``train`` and ``eval``) to an argparse subparsers object."""
    control = subparsers.add_parser("control", help="train and evaluate liquid policies on Gymnasium",
                                    description=__doc__, formatter_class=HelpFormatter)
    sub = control.add_subparsers(dest="control_command", required=True)

    t = sub.add_parser("train", help="train a policy and save it under --out", formatter_class=HelpFormatter)
    t.add_argument("env_id", help="Gymnasium environment id, e.g. CartPole-v1")
    t.add_argument("--policy", default="ncp", choices=CORES, help="recurrent core of the policy")
    t.add_argument("--algo", default="ppo", choices=ALGOS, help="training algorithm")
    t.add_argument("--units", type=positive_int, default=16, help="neurons in the recurrent core")
    t.add_argument("--steps", type=positive_int, default=None,
                   help="environment steps (ppo; default 100000: about half an hour for CartPole "
                        "on a 2-core machine)")
    t.add_argument("--generations", type=positive_int, default=None, help="generations (es; default 100)")
    t.add_argument("--workers", type=positive_int, default=None, help="worker processes (es; default 1)")
    t.add_argument("--expert", default=None, help="recorded expert episodes, .npz (bc)")
    t.add_argument("--use-dt", action="store_true", help="feed the environment's step time as timespans")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.add_argument("--out", required=True, help="folder for checkpoint.pt, log.csv, policy.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="other algorithm arguments as JSON values, e.g. gamma=0.9 num_envs=4")
    t.add_argument("--quiet", action="store_true", help="no progress bar (shown by default)")
    t.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)  # the old opt-in, now the default
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="evaluate a saved policy; optionally record a GIF",
                       formatter_class=HelpFormatter)
    e.add_argument("policy", help="policy.safetensors written by `control train`")
    e.add_argument("env_id", help="Gymnasium environment id the policy was trained on")
    e.add_argument("--episodes", type=positive_int, default=20, help="episodes to average over")
    e.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    e.add_argument("--record", default=None, help="write one episode as a .gif or a folder of PNGs")
    e.set_defaults(func=_eval)
    return control


def _parse_set(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            fail("liquidts control train", "--set", f"expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _check_env(prog: str, env_id: str) -> None:
    import gymnasium as gym

    if env_id not in gym.registry:
        fail(prog, "env_id", f"unknown Gymnasium environment {env_id!r} (e.g. CartPole-v1, Pendulum-v1)")


def _train(args) -> int:
    algo_args = _parse_set(args.set)
    if args.expert and not os.path.isfile(args.expert):
        fail("liquidts control train", "--expert", f"file not found: {args.expert}")
    if args.algo == "bc" and not args.expert:
        fail("liquidts control train", "--expert", "required with --algo bc")
    if os.path.isfile(args.out):
        fail("liquidts control train", "--out", f"{args.out} is a file; give a folder")
    _check_env("liquidts control train", args.env_id)
    from liquidts.control.bc import load_episodes
    from liquidts.control.train import train

    for name, value in (("total_steps", args.steps), ("generations", args.generations), ("workers", args.workers)):
        if value is not None:
            algo_args[name] = value
    expert = load_episodes(args.expert) if args.expert else None
    train(args.env_id, args.policy, args.algo, args.seed, units=args.units, use_dt=args.use_dt,
          expert=expert, out=args.out, resume=args.resume, verbose=not args.quiet, **algo_args)
    print(f"saved {args.out}/policy.safetensors")
    return 0


def _eval(args) -> int:
    if not os.path.isfile(args.policy):
        fail("liquidts control eval", "policy", f"file not found: {args.policy}")
    _check_env("liquidts control eval", args.env_id)
    from liquidts.control.policy import RecurrentPolicy
    from liquidts.control.train import evaluate, record_episode

    policy = RecurrentPolicy.load(args.policy)
    mean, std = evaluate(policy, args.env_id, episodes=args.episodes, seed=args.seed)
    print(f"{args.env_id}: return {mean:.2f} ± {std:.2f} over {args.episodes} episodes")
    if args.record:
        # Frames are drawn off screen (rgb_array); without this SDL looks for a display and prints
        # "XDG_RUNTIME_DIR is invalid or not set" on machines without one. A value the user set wins.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        ret = record_episode(policy, args.env_id, args.record, seed=args.seed)
        print(f"recorded {args.record} (return {ret:.2f})")
    return 0
