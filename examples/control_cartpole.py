"""Train a 16-neuron NCP policy on CartPole-v1 with PPO, evaluate it and record a GIF.

    python examples/control_cartpole.py            # about 1.5 minutes on a 2-core CPU

Writes runs/cartpole/{checkpoint.pt,log.csv,policy.safetensors} and runs/cartpole/episode.gif.
"""
import torch

from liquidts.control import evaluate, record_episode, run_episode, train

torch.set_num_threads(1)
policy = train("CartPole-v1", policy="ncp", algo="ppo", seed=0, units=16, total_steps=100_000,
               out="runs/cartpole", verbose=True)
mean, std = evaluate(policy, "CartPole-v1", episodes=20, seed=1000)
print(f"return over 20 episodes: {mean:.1f} ± {std:.1f} (solved at 475)")

trace = run_episode(policy, "CartPole-v1", seed=1000)
print(f"hidden states for plotting: {trace['states'].shape} (steps, neurons)")
record_episode(policy, "CartPole-v1", "runs/cartpole/episode.gif", seed=1000)
print("wrote runs/cartpole/episode.gif")
