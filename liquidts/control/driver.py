"""Pixel driver for CarRacing: a small conv head feeding a Neural Circuit Policy (or an LSTM).

    96x96 RGB frame ──► grayscale 48x48 ──► ConvHead ──► 32 features ──► core ──► [steer, accel]
                                                                         │
                   NCP core: 32 sensory inputs → 12 inter → 6 command (recurrent) → 2 motor
                   LSTM core: LSTM(32, H) → Linear(H, 2)

Why not :class:`liquidts.control.policy.RecurrentPolicy`: its NCP core is an ``AutoNCP`` of a given
size and every core is followed by a linear action head, whereas the lane-keeping circuit of
Lechner et al. (2020) is a fixed sensory/inter/command/motor graph whose motor neurons *are* the
commands (plots of its neuron dynamics read steering straight off a motor neuron). The conv head
and the LSTM core are reused from ``policy.py``.

Two motor neurons instead of the paper's one: the paper's car had its speed set by a human,
CarRacing has none, and the return rewards speed. Motor neuron 0 steers, motor neuron 1 is the
longitudinal command (``accel > 0`` → gas, ``< 0`` → brake). Each motor neuron's state is mapped
to its command by a learned scale and offset (2 numbers per neuron), so the NCP's outputs stay
readable one neuron per command. Frames keep the HUD strip: its speed bar is the only
speed reading a single frame holds.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from liquidts.control.policy import ConvHead, LSTMCore
from liquidts.nn import CfC
from liquidts.wirings import lane_keeping_ncp

__all__ = ["DriverConfig", "ConvDriver", "preprocess", "to_env_action", "from_expert_action"]

FRAME = 48  # side of the preprocessed square frame
CORES = ("ncp", "lstm")


def preprocess(frame: np.ndarray) -> np.ndarray:
    """(..., 96, 96, 3) uint8 frame → (..., 48, 48, 1) uint8 grayscale (2x2 average)."""
    frame = np.asarray(frame)
    if frame.shape[-3:] != (96, 96, 3):
        raise ValueError(f"expected CarRacing frames (..., 96, 96, 3), got shape {frame.shape}")
    gray = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (..., 96, 96)
    lead = gray.shape[:-2]
    small = gray.reshape(*lead, FRAME, 2, FRAME, 2).mean(axis=(-3, -1))  # (..., 48, 48)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)[..., None]


def from_expert_action(action: np.ndarray) -> np.ndarray:
    """Expert ``[steer, gas, brake]`` (..., 3) → driver targets ``[steer, accel]`` (..., 2)."""
    action = np.asarray(action, dtype=np.float32)
    return np.stack([action[..., 0], action[..., 1] - action[..., 2]], axis=-1)


def to_env_action(command: np.ndarray) -> np.ndarray:
    """Driver ``[steer, accel]`` (2,) → CarRacing ``[steer, gas, brake]`` (3,)."""
    steer, accel = float(np.clip(command[0], -1, 1)), float(np.clip(command[1], -1, 1))
    return np.array([steer, max(accel, 0.0), max(-accel, 0.0)], dtype=np.float32)


@dataclass
class DriverConfig:
    """Everything needed to rebuild a driver (stored beside its weights)."""

    core: str = "ncp"
    conv_features: int = 32
    lstm_units: int = 16  # LSTM(32, 16) + head: 3,234 parameters vs the NCP's 2,692
    seed: int = 22222  # NCP wiring seed


class ConvDriver(nn.Module):
    """Conv head + recurrent core mapping preprocessed frames to ``[steer, accel]``.

    ``forward(frames, hx)`` takes (B, T, 48, 48, 1) uint8 frames and returns commands
    (B, T, 2) and the final core state (a tensor for the NCP, an (B, 2H) tensor for the LSTM).
    """

    def __init__(self, config: DriverConfig | None = None):
        super().__init__()
        config = config if config is not None else DriverConfig()
        if config.core not in CORES:
            raise ValueError(f"unknown driver core {config.core!r}; valid: {', '.join(CORES)}")
        self.config = config
        self.encoder = ConvHead((FRAME, FRAME, 1), config.conv_features)
        if config.core == "ncp":
            self.core = CfC(config.conv_features, lane_keeping_ncp(motor_neurons=2, seed=config.seed))
            self.scale = nn.Parameter(torch.ones(2))
            self.offset = nn.Parameter(torch.zeros(2))
        else:
            self.core = LSTMCore(config.conv_features, config.lstm_units)
            self.head = nn.Linear(config.lstm_units, 2)

    def forward(self, frames: torch.Tensor, hx=None):
        x = self.encoder(frames)  # (B, T, F)
        y, h = self.core(x, hx)  # (B, T, O)
        if self.config.core == "ncp":
            return y * self.scale + self.offset, h  # (B, T, 2): motor neuron i → command i
        return self.head(y), h  # (B, T, 2)

    def recurrent_parameters(self) -> int:
        """Trainable parameters of the recurrent part (core, plus the motor read-out)."""
        # A wired CfC stores dense matrices under a 0/1 mask; the masked-out entries are counted
        # too, so this is an upper bound for the NCP.
        n = sum(p.numel() for p in self.core.parameters() if p.requires_grad)
        if self.config.core == "ncp":
            return n + self.scale.numel() + self.offset.numel()
        return n + sum(p.numel() for p in self.head.parameters())

    def save(self, path) -> None:
        """Weights and config to a safetensors file (no pickle)."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(path), metadata={"config": json.dumps(asdict(self.config))})

    @classmethod
    def load(cls, path) -> "ConvDriver":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            config = DriverConfig(**json.loads(f.metadata()["config"]))
        driver = cls(config)
        driver.load_state_dict(load_file(str(path)))
        return driver
