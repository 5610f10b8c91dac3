"""Liquid policies for Gymnasium environments: recurrent policies, PPO, ES, behaviour cloning,
and the CarRacing pixel driver (scripted expert, DAgger)."""
from liquidts.control.bc import BCArgs, bc, load_episodes, record_expert, save_episodes
from liquidts.control.dagger import DaggerConfig, dagger, evaluate_driver
from liquidts.control.driver import ConvDriver, DriverConfig
from liquidts.control.es import ESArgs, es
from liquidts.control.experts import ExpertConfig, PurePursuitExpert
from liquidts.control.policy import CORES, PolicyConfig, RecurrentPolicy
from liquidts.control.ppo import PPOArgs, ppo
from liquidts.control.train import ALGOS, evaluate, make_policy, record_episode, run_episode, train

__all__ = [
    "ALGOS", "BCArgs", "CORES", "ConvDriver", "DaggerConfig", "DriverConfig", "ESArgs", "ExpertConfig",
    "PPOArgs", "PolicyConfig", "PurePursuitExpert", "RecurrentPolicy", "bc", "dagger", "es", "evaluate_driver",
    "evaluate", "load_episodes", "make_policy", "ppo", "record_episode", "record_expert", "run_episode",
    "save_episodes", "train",
]
