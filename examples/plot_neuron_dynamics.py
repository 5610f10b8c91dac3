"""Plot the neurons of the 19-neuron lane-keeping NCP (CfC and LTC) on real driving data.

    python examples/plot_neuron_dynamics.py figures/
    python examples/plot_neuron_dynamics.py figures/ --checkpoint /work/driver_ckpt/ncp_driver.safetensors

1. Reads the comma.ai highway log (CAN speed, steering angle, four wheel speeds; ~83 Hz with its
   own timestamps), keeps every ``--stride``-th row and feeds the real elapsed times between
   rows as ``timespans``.
2. Builds a CfC and an LTC on ``lane_keeping_ncp()`` (12 inter, 6 command, 1 motor neuron) and
   fits each for a few Adam steps to predict the steering angle ``--lead`` seconds ahead from
   its motor neuron (small: the point is the plots, not the predictor).
3. Writes, per model: neuron activity by NCP layer, effective time constants, the wiring with
   learned synaptic strengths, all three in one figure, and the log's inputs, the prediction and
   the command neurons on one time axis.
4. With ``--checkpoint``: loads a trained CarRacing driver (``liquidts.control.driver.ConvDriver``,
   a safetensors file from ``ConvDriver.save`` or a ``state_dict`` saved with ``torch.save``),
   lets it drive one track and plots its episode: speed and yaw rate, its commands, its neurons.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from liquidts.nn import LTC, CfC
from liquidts.plotting import (encode_inputs, plot_dynamics, plot_neuron_activity, plot_policy_episode,
                               plot_time_constants, plot_wiring_weights, record_states)
from liquidts.wirings import lane_keeping_ncp

FEATURES = ["speed_mps", "steering_angle_deg", "wheel_speed_fl", "wheel_speed_fr", "wheel_speed_rl",
            "wheel_speed_rr"]


def load_log(path: Path, stride: int, lead: float):
    """Scaled features (T, 6), elapsed times (T,), scaled steering ``lead`` s ahead (T,), raw frame."""
    log = pd.read_csv(path).iloc[::stride].reset_index(drop=True)
    t = log["t_speed_s"].to_numpy()
    dt = np.diff(t, prepend=t[0] - np.median(np.diff(t)))  # first step: the typical spacing
    values = log[FEATURES].to_numpy(np.float32)
    x = (values - values.mean(0)) / (values.std(0) + 1e-8)
    steer = x[:, FEATURES.index("steering_angle_deg")]
    target = np.interp(t + lead, t, steer)  # held at the last value past the end of the log
    return x, dt.astype(np.float32), target.astype(np.float32), log


def fit(model, x, dt, target, steps: int, window: int = 64, batch: int = 16, seed: int = 0):
    """A few Adam steps on random windows; returns the mean squared error before and after."""
    rng = np.random.default_rng(seed)
    x_t, dt_t, y_t = (torch.from_numpy(a) for a in (x, dt, target))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)

    def mse():
        with torch.no_grad():
            y, _ = model(x_t[None], None, dt_t[None])  # (1, T, 1)
            return float(((y[0, :, 0] - y_t) ** 2).mean())

    before = mse()
    for _ in range(steps):
        starts = rng.integers(0, len(x) - window, batch)
        idx = starts[:, None] + np.arange(window)  # (B, W)
        y, _ = model(x_t[idx], None, dt_t[idx])  # (B, W, 1)
        loss = ((y[..., 0] - y_t[idx]) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return before, mse()


def plot_model(name, model, x, dt, log, out: Path):
    trace = record_states(model, x, dt)
    plot_neuron_activity(trace).savefig(out / f"{name}_activity.png", dpi=110)
    plot_time_constants(trace).savefig(out / f"{name}_time_constants.png", dpi=110)
    plot_wiring_weights(model, labels=True).figure.savefig(out / f"{name}_wiring.png", dpi=110)
    plot_dynamics(model, x, dt).savefig(out / f"{name}_dynamics.png", dpi=90)
    fig = plot_policy_episode(log[["speed_mps", "steering_angle_deg"]].to_numpy(), trace.outputs, trace,
                              obs_names=["speed (m/s)", "steering angle (deg)"],
                              action_names=["predicted steering (scaled)"])
    fig.savefig(out / f"{name}_episode.png", dpi=110)
    tau = trace.tau[np.isfinite(trace.tau)]
    print(f"{name}: {trace.states.shape[0]} steps over {trace.times[-1]:.1f} s; tau median "
          f"{np.median(tau):.3g}, 5-95% {np.percentile(tau, 5):.3g}..{np.percentile(tau, 95):.3g} s "
          f"({trace.tau_definition})")


def load_driver(path: Path):
    from liquidts.control.driver import ConvDriver

    if path.suffix == ".safetensors":
        return ConvDriver.load(path)
    driver = ConvDriver()
    driver.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return driver


def drive(driver, steps: int, seed: int):
    """One CarRacing track: preprocessed frames (T, 48, 48, 1), speed and yaw rate (T, 2), commands (T, 2)."""
    from liquidts.control.driver import preprocess, to_env_action
    from liquidts.control.experts import FastCarRacing

    env = FastCarRacing(pixels=True, action_repeat=2, max_episode_steps=2 * steps)
    frame, _ = env.reset(seed=seed)
    frames, motion, commands, hx = [], [], [], None
    driver.eval()
    with torch.no_grad():
        for _ in range(steps):
            obs = preprocess(frame)
            command, hx = driver(torch.from_numpy(obs)[None, None], hx)  # (1, 1, 2)
            frames.append(obs)
            commands.append(command[0, 0].numpy())
            hull = env.unwrapped.car.hull
            motion.append([np.linalg.norm(hull.linearVelocity), hull.angularVelocity])
            frame, _, terminated, truncated, _ = env.step(to_env_action(commands[-1]))
            if terminated or truncated:
                break
    env.close()
    return np.stack(frames), np.array(motion), np.stack(commands)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/driving/can_speed_steering.csv"))
    parser.add_argument("--stride", type=int, default=8, help="keep every n-th row of the ~83 Hz log")
    parser.add_argument("--lead", type=float, default=0.5, help="seconds ahead the steering target lies")
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--checkpoint", type=Path, help="a trained ConvDriver to plot on a CarRacing track")
    parser.add_argument("--episode-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    x, dt, target, log = load_log(args.data, args.stride, args.lead)
    persistence = float(((x[:, FEATURES.index("steering_angle_deg")] - target) ** 2).mean())
    print(f"log: {len(x)} steps, dt {dt.min():.4f}..{dt.max():.4f} s; steering {args.lead:g} s ahead, "
          f"MSE (scaled) of holding the current angle {persistence:.3f}")
    for name, cls in (("cfc", CfC), ("ltc", LTC)):
        model = cls(len(FEATURES), lane_keeping_ncp(seed=22222))
        before, after = fit(model, x, dt, target, args.train_steps, seed=args.seed)
        print(f"{name}: steering {args.lead:g} s ahead, MSE (scaled) {before:.3f} -> {after:.3f} "
              f"after {args.train_steps} steps")
        plot_model(name, model, x, dt, log, args.out)

    if args.checkpoint is not None:
        driver = load_driver(args.checkpoint)
        frames, motion, commands = drive(driver, args.episode_steps, args.seed)
        step = 2 / 50  # action_repeat 2 at CarRacing's 50 frames per second
        trace = record_states(driver, encode_inputs(driver, frames)[0], step)
        fig = plot_policy_episode(motion, commands, trace, obs_names=["speed", "yaw rate"],
                                  action_names=["steer", "accel"])
        fig.savefig(args.out / "driver_episode.png", dpi=110)
        plot_dynamics(driver, frames, step).savefig(args.out / "driver_dynamics.png", dpi=90)
        print(f"driver: {len(frames)} steps on track seed {args.seed}")
    print(f"figures in {args.out}")


if __name__ == "__main__":
    main()
