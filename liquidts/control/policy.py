"""Recurrent policies for Gymnasium environments.

    obs ──► [RunningNorm | ConvHead] ──► core (CfC / LTC / NCP-wired / LSTM) ──► action head
                                           │ state h (carried across steps, reset at episode start)
                                           └──────────────────────────────► value head (PPO)

Letters in shape comments: B batch (environments or sequence windows), T time steps, F observation
features, O core output size, S flat core state size, A action size (logits or action dimensions).

Every core follows the project's ``y, h = core(x, hx=None, timespans=None)`` contract. A policy keeps
the state as one flat tensor (B, S) so that episode resets are a multiply and rollouts can store it; an
LSTM's (h, c) pair is concatenated into that tensor by :class:`LSTMCore`.

Continuous actions live in [-1, 1] inside the policy (a Gaussian whose mean the action head gives);
:meth:`RecurrentPolicy.to_env_action` clips and rescales them to the action space's bounds.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal

from liquidts.nn import CfC, LTC
from liquidts.wirings import AutoNCP

CORES = ("ncp", "ncp-ltc", "cfc", "ltc", "lstm")


class LSTMCore(nn.Module):
    """``torch.nn.LSTM`` behind the ``(x, hx, timespans)`` contract with a flat (B, 2H) state.

    ``timespans`` is ignored: an LSTM has no notion of elapsed time.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.hidden_size = hidden_size
        self.output_size = hidden_size

    def forward(self, x, hx=None, timespans=None):
        if hx is not None:
            h, c = hx.chunk(2, dim=-1)  # (B, H) each
            hx = (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous())
        y, (h, c) = self.lstm(x, hx)  # y: (B, T, H)
        return y, torch.cat([h[0], c[0]], dim=-1)  # (B, 2H)


def make_core(name: str, input_size: int, units: int, motor_neurons: int) -> nn.Module:
    """Build a recurrent core by name; NCP cores get ``motor_neurons`` output (motor) neurons."""
    if name == "cfc":
        return CfC(input_size, units)
    if name == "ltc":
        return LTC(input_size, units)
    if name in ("ncp", "ncp-ltc"):
        if units < motor_neurons + 3:
            raise ValueError(
                f"core {name!r} needs units >= motor neurons + 3 = {motor_neurons + 3}, got {units}"
            )
        wiring = AutoNCP(units, motor_neurons)
        return CfC(input_size, wiring) if name == "ncp" else LTC(input_size, wiring)
    if name == "lstm":
        return LSTMCore(input_size, units)
    raise ValueError(f"unknown policy core {name!r}; valid: {', '.join(CORES)}")


class RunningNorm(nn.Module):
    """Observation normalisation with running mean/variance kept as buffers (saved with the policy)."""

    def __init__(self, size: int, clip: float = 10.0):
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, x.shape[-1]).to(self.mean)  # (N, F)
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        # Chan et al. parallel update, so batches of any size merge exactly.
        m2 = self.var * self.count + var * n + delta**2 * self.count * n / total
        self.mean += delta * (n / total).float()
        self.var.copy_((m2 / total).float())
        self.count.copy_(total)

    def forward(self, x):
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


class ConvHead(nn.Module):
    """Small convolutional encoder for (H, W, C) uint8 image observations -> ``features`` floats."""

    def __init__(self, obs_shape: tuple[int, int, int], features: int):
        super().__init__()
        h, w, c = obs_shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 16, 5, stride=2), nn.ReLU(),
            nn.Conv2d(16, 32, 5, stride=2), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.net(torch.zeros(1, c, h, w)).shape[-1]
        self.proj = nn.Sequential(nn.Linear(flat, features), nn.ReLU())

    def forward(self, x):
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0  # (N, C, H, W)
        return self.proj(self.net(x)).reshape(*lead, -1)  # (..., features)


@dataclass
class PolicyConfig:
    """Everything needed to rebuild a policy (stored beside its weights)."""

    obs_shape: tuple[int, ...]
    action_type: str  # "discrete" or "continuous"
    action_dim: int  # number of actions (discrete) or action dimensions (continuous)
    action_low: list[float] = field(default_factory=list)
    action_high: list[float] = field(default_factory=list)
    core: str = "ncp"
    units: int = 16
    conv_features: int = 32
    dt: float | None = None  # fed to the core as timespans when set
    init_log_std: float = -0.5

    @classmethod
    def from_spaces(cls, observation_space, action_space, **kwargs) -> "PolicyConfig":
        """Describe a policy for Gymnasium spaces; raises ValueError for unsupported spaces."""
        from gymnasium import spaces

        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) not in (1, 3):
            raise ValueError(
                f"unsupported observation space {observation_space}: need a 1-D Box (vector) "
                "or a 3-D Box (H, W, C image)"
            )
        if isinstance(action_space, spaces.Discrete):
            return cls(tuple(observation_space.shape), "discrete", int(action_space.n), **kwargs)
        if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            low, high = action_space.low.astype(float), action_space.high.astype(float)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise ValueError(f"unsupported action space {action_space}: Box bounds must be finite")
            return cls(
                tuple(observation_space.shape), "continuous", int(action_space.shape[0]),
                low.tolist(), high.tolist(), **kwargs,
            )
        raise ValueError(
            f"unsupported action space {action_space}: need Discrete or a bounded 1-D Box"
        )


class RecurrentPolicy(nn.Module):
    """(optional conv head) -> recurrent core -> action head, plus a value head on the core state.

    Use :meth:`act` in rollouts (one step, state carried by the caller) and :meth:`unroll` for
    training on stored sequences or to get the per-step hidden states for plots.
    """

    def __init__(self, config: PolicyConfig):
        super().__init__()
        if config.core not in CORES:
            raise ValueError(f"unknown policy core {config.core!r}; valid: {', '.join(CORES)}")
        self.config = config
        image = len(config.obs_shape) == 3
        self.encoder = (
            ConvHead(tuple(config.obs_shape), config.conv_features)
            if image else RunningNorm(config.obs_shape[0])
        )
        in_size = config.conv_features if image else config.obs_shape[0]
        self.core = make_core(config.core, in_size, config.units, config.action_dim)
        with torch.no_grad():
            y, h = self.core(torch.zeros(1, 1, in_size))
        self.state_size = h.shape[-1]
        self.action_head = nn.Linear(y.shape[-1], config.action_dim)
        self.value_head = nn.Sequential(
            nn.Linear(self.state_size, 64), nn.Tanh(), nn.Linear(64, 1)
        )
        if config.action_type == "continuous":
            self.log_std = nn.Parameter(torch.full((config.action_dim,), config.init_log_std))
            self.register_buffer("action_low", torch.tensor(config.action_low, dtype=torch.float32))
            self.register_buffer("action_high", torch.tensor(config.action_high, dtype=torch.float32))
        nn.init.orthogonal_(self.action_head.weight, 0.01)
        nn.init.zeros_(self.action_head.bias)

    @classmethod
    def from_env(cls, env, **kwargs) -> "RecurrentPolicy":
        """Build a policy for a Gymnasium env (single or vector); kwargs go to :class:`PolicyConfig`."""
        obs_space = getattr(env, "single_observation_space", env.observation_space)
        act_space = getattr(env, "single_action_space", env.action_space)
        return cls(PolicyConfig.from_spaces(obs_space, act_space, **kwargs))

    @property
    def obs_norm(self) -> RunningNorm | None:
        return self.encoder if isinstance(self.encoder, RunningNorm) else None

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.state_size, device=self.action_head.weight.device)

    def unroll(self, obs, state=None, starts=None):
        """Run the core over a sequence, resetting the state where an episode starts.

        obs: (B, T, *obs_shape); state: (B, S) or None; starts: (B, T) bool, True where obs[:, t] is
        the first observation of an episode (the state is zeroed before that step).
        Returns (outputs (B, T, O), states (B, T, S) after each step).
        """
        B, T = obs.shape[:2]
        x = self.encoder(obs.float())  # (B, T, F)
        h = self.initial_state(B) if state is None else state
        ts = None
        if self.config.dt is not None:
            ts = torch.full((B, 1), float(self.config.dt), device=x.device)  # (B, 1)
        outputs, states = [], []
        for t in range(T):
            if starts is not None:
                h = h * (~starts[:, t]).unsqueeze(-1).to(h)  # (B, S)
            y, h = self.core(x[:, t : t + 1], h, ts)  # y: (B, 1, O)
            outputs.append(y[:, 0])
            states.append(h)
        return torch.stack(outputs, 1), torch.stack(states, 1)  # (B, T, O), (B, T, S)

    def distribution(self, outputs):
        """Action distribution from core outputs (..., O)."""
        logits = self.action_head(outputs)  # (..., A)
        if self.config.action_type == "discrete":
            return Categorical(logits=logits)
        return Normal(logits, self.log_std.exp().expand_as(logits))

    def log_prob(self, dist, actions):
        lp = dist.log_prob(actions)
        return lp if self.config.action_type == "discrete" else lp.sum(-1)

    def entropy(self, dist):
        ent = dist.entropy()
        return ent if self.config.action_type == "discrete" else ent.sum(-1)

    def value(self, states):
        return self.value_head(states).squeeze(-1)  # (...)

    def deterministic_action(self, outputs):
        logits = self.action_head(outputs)
        return logits.argmax(-1) if self.config.action_type == "discrete" else logits.clamp(-1, 1)

    def to_env_action(self, action: torch.Tensor) -> np.ndarray:
        """Policy action (B,) or (B, A) -> the action the environment accepts."""
        if self.config.action_type == "discrete":
            return action.cpu().numpy().astype(np.int64)
        a = action.clamp(-1, 1)
        a = self.action_low + (a + 1) * 0.5 * (self.action_high - self.action_low)
        return a.cpu().numpy().astype(np.float32)

    def from_env_action(self, action) -> torch.Tensor:
        """Environment action -> policy action space (the inverse of :meth:`to_env_action`)."""
        a = torch.as_tensor(np.asarray(action))
        if self.config.action_type == "discrete":
            return a.long()
        a = a.float()
        return (2 * (a - self.action_low) / (self.action_high - self.action_low) - 1).clamp(-1, 1)

    @torch.no_grad()
    def act(self, obs, state=None, done=None, deterministic=True):
        """One rollout step for a batch of environments.

        obs: (B, *obs_shape) array; state: (B, S) from the previous call or None; done: (B,) bool,
        True where the previous step ended the episode (that environment's state is reset).
        Returns (env actions as numpy, new state (B, S)).
        """
        obs = torch.as_tensor(np.asarray(obs), device=self.action_head.weight.device)
        starts = None if done is None else torch.as_tensor(np.asarray(done), dtype=torch.bool)
        out, states = self.unroll(obs.unsqueeze(1), state, None if starts is None else starts[:, None])
        out = out[:, 0]  # (B, O)
        action = self.deterministic_action(out) if deterministic else self.distribution(out).sample()
        return self.to_env_action(action), states[:, 0]

    def save(self, path) -> None:
        """Write weights and config to a safetensors file."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(path), metadata={"config": json.dumps(asdict(self.config))})

    @classmethod
    def load(cls, path) -> "RecurrentPolicy":
        """Rebuild a policy saved by :meth:`save` (safetensors, no pickle)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path)
        with safe_open(str(path), "pt") as f:
            meta = json.loads(f.metadata()["config"])
        meta["obs_shape"] = tuple(meta["obs_shape"])
        policy = cls(PolicyConfig(**meta))
        policy.load_state_dict(load_file(str(path)))
        return policy
