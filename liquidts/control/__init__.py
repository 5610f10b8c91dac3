"""Liquid policies for Gymnasium environments: recurrent policies, PPO, ES, behaviour cloning."""
from liquidts.control.bc import BCArgs, bc, load_episodes, record_expert, save_episodes
from liquidts.control.es import ESArgs, es
from liquidts.control.policy import CORES, PolicyConfig, RecurrentPolicy
from liquidts.control.ppo import PPOArgs, ppo
from liquidts.control.train import ALGOS, evaluate, make_policy, record_episode, run_episode, train

__all__ = [
    "ALGOS", "BCArgs", "CORES", "ESArgs", "PPOArgs", "PolicyConfig", "RecurrentPolicy", "bc", "es",
    "evaluate", "load_episodes", "make_policy", "ppo", "record_episode", "record_expert", "run_episode",
    "save_episodes", "train",
]
