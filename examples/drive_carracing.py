"""Teach a 20-neuron NCP to drive CarRacing-v3 from pixels: expert → BC → DAgger → evaluation.

    python examples/drive_carracing.py /work/driver_ckpt/ncp_driver.safetensors

1. A pure-pursuit expert that reads the track's waypoints and the car's pose drives a few
   laps; its frames and actions are the behaviour-cloning data.
2. DAgger: the student drives, the expert says what it should have done in every state the
   student reached, and the student is refit on everything gathered so far.
3. The student alone drives tracks it has never seen; the expert drives them too, for scale.

Reload the driver with ``ConvDriver.load(path)``; ``driver(frames, hx)`` gives the commands
and the state of its 20 neurons (inter, command, motor) for plotting.
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from liquidts.control.dagger import DaggerConfig, dagger, evaluate_driver
from liquidts.control.driver import ConvDriver, DriverConfig
from liquidts.control.experts import ExpertConfig, PurePursuitExpert, run_expert


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="where to save the driver (.safetensors)")
    parser.add_argument("--core", choices=["ncp", "lstm"], default="ncp")
    parser.add_argument("--iterations", type=int, default=DaggerConfig.iterations)
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    config = DaggerConfig(iterations=args.iterations, seed=args.seed)
    # The proportional speed law gives the student a smooth gas/brake label to regress.
    expert = PurePursuitExpert(ExpertConfig(speed_gain=0.5))
    driver = ConvDriver(DriverConfig(core=args.core))
    history = dagger(driver, config, expert, verbose=True)
    print(f"trained in {history['train_seconds'] / 60:.1f} min on {history['frames'][-1]} frames; "
          f"student returns during DAgger: {np.round(history['student_return']).tolist()}")

    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    driver.save(args.checkpoint)
    print(f"saved {args.checkpoint}")

    student = evaluate_driver(driver, args.eval_seeds, config.action_repeat, config.max_steps)
    teacher = [run_expert(s, expert, config.action_repeat, config.max_steps) for s in args.eval_seeds]
    print(f"{args.core} driver on {len(args.eval_seeds)} unseen tracks: "
          f"{np.mean(student):.1f} ± {np.std(student):.1f}")
    print(f"expert on the same tracks: {np.mean(teacher):.1f} ± {np.std(teacher):.1f}")


if __name__ == "__main__":
    main()
