"""CarRacing-v3 from pixels: expert vs NCP driver vs LSTM driver, both trained by BC + DAgger.

    python benchmarks/bench_driving.py --ckpt-dir /work/driver_ckpt

Both students get the same expert episodes for behaviour cloning and the same DAgger budget;
they differ only in the recurrent part (lane-keeping NCP with CfC neurons vs an LSTM of about
the same parameter count). Every return is over tracks (seeds) used neither for tuning the
expert nor for training. Prints a markdown table; ``--results`` also writes it to a file.
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from liquidts.control.dagger import DaggerConfig, collect, dagger, evaluate_driver
from liquidts.control.driver import ConvDriver, DriverConfig
from liquidts.control.experts import ExpertConfig, PurePursuitExpert, run_expert


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--ckpt-dir", type=Path, default=None,
                        help="where to save ncp_driver.safetensors and lstm_driver.safetensors")
    parser.add_argument("--results", type=Path, default=None, help="also write the table here")
    parser.add_argument("--cores", nargs="+", default=["ncp", "lstm"], choices=["ncp", "lstm"])
    parser.add_argument("--iterations", type=int, default=DaggerConfig.iterations)
    parser.add_argument("--lr", type=float, default=DaggerConfig.lr)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--load-dir", type=Path, default=None,
                        help="evaluate <core>_driver.safetensors from here instead of training")
    parser.add_argument("--expert-speed", action="store_true",
                        help="students only steer; the expert's gas/brake set the speed")
    parser.add_argument("--speed-gain", type=float, default=None,
                        help="expert's proportional speed law gain (default: bang-bang)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    config = DaggerConfig(iterations=args.iterations, lr=args.lr)
    if set(args.eval_seeds) & set(config.train_seeds):
        raise ValueError("evaluation seeds overlap the training seeds")
    expert = PurePursuitExpert(ExpertConfig(speed_gain=args.speed_gain))
    rows = []
    ret = [run_expert(s, expert, config.action_repeat, config.max_steps) for s in args.eval_seeds]
    rows.append(("expert (pure pursuit, privileged state)", ret, "-", "-", "-"))
    print(f"expert: {np.mean(ret):.1f} ± {np.std(ret):.1f}", flush=True)

    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    bc_data = [] if args.load_dir else [
        collect(None, expert, s, 1.0, rng, config.action_repeat, config.max_steps)
        for s in config.train_seeds[: config.bc_episodes]]
    bc_seconds = time.perf_counter() - start
    print(f"BC data: {sum(len(e.frames) for e in bc_data)} frames in {bc_seconds:.0f} s", flush=True)

    for core in args.cores:
        torch.manual_seed(config.seed)
        if args.load_dir:
            driver = ConvDriver.load(args.load_dir / f"{core}_driver.safetensors")
            history = {"train_seconds": float("nan"), "student_return": [], "loss": [], "frames": [0]}
        else:
            driver = ConvDriver(DriverConfig(core=core))
            history = dagger(driver, config, expert, bc_data=bc_data, verbose=True)
        t0 = time.perf_counter()
        ret = evaluate_driver(driver, args.eval_seeds, config.action_repeat, config.max_steps,
                              expert if args.expert_speed else None)
        eval_seconds = time.perf_counter() - t0
        name = ("NCP driver (CfC, 12 inter / 6 command / 2 motor)" if core == "ncp"
                else f"LSTM driver (LSTM({driver.config.conv_features}, "
                     f"{driver.config.lstm_units}) + linear)")
        minutes = (history["train_seconds"] + bc_seconds) / 60
        rows.append((name, ret, driver.recurrent_parameters(),
                     sum(p.numel() for p in driver.encoder.parameters()), f"{minutes:.1f}"))
        print(f"{core}: {np.mean(ret):.1f} ± {np.std(ret):.1f} (returns {np.round(ret).tolist()}), "
              f"student returns during DAgger {np.round(history['student_return']).tolist()}, "
              f"losses {np.round(history['loss'], 4).tolist()}, {history['frames'][-1]} frames, "
              f"train {minutes:.1f} min, eval {eval_seconds:.0f} s", flush=True)
        if args.expert_speed:
            name += ", steering only; speed by the expert"
        if args.ckpt_dir is not None and not args.load_dir:
            args.ckpt_dir.mkdir(parents=True, exist_ok=True)
            driver.save(args.ckpt_dir / f"{core}_driver.safetensors")

    lines = [
        f"Tracks (seeds) {args.eval_seeds[0]}..{args.eval_seeds[-1]}, unseen in training; "
        f"action repeat {config.action_repeat}; {datetime.now(timezone.utc):%Y-%m-%d}, "
        f"{platform.python_version()}, torch {torch.__version__}.",
        "",
        "| driver | mean ± std return | min | recurrent params | conv params | train min |",
        "|---|---|---|---|---|---|",
    ]
    for name, ret, rec, conv, minutes in rows:
        lines.append(f"| {name} | {np.mean(ret):.1f} ± {np.std(ret):.1f} | {np.min(ret):.0f} "
                     f"| {rec} | {conv} | {minutes} |")
    table = "\n".join(lines)
    print(table)
    if args.results is not None:
        args.results.write_text(table + "\n")


if __name__ == "__main__":
    main()
