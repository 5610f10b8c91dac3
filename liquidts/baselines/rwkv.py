"""RWKV-4: a linear-attention RNN that trains in parallel and runs as an RNN (Peng et al., 2023).

    RWKV(input_size, hidden_size)
    ├── encoder      Linear F -> D
    ├── ln0          LayerNorm(D)
    ├── blocks       n_layers x
    │   ├── h = h + TimeMix(LN(h))        token shift, then the WKV recurrence per channel
    │   └── h = h + ChannelMix(LN(h))     token shift, then σ(r) ⊙ W_v relu(W_k x)^2
    └── norm_f       LayerNorm(D)

Letters: B batch, T time, D hidden_size (also the attention width), M = ffn_mult * D, L n_layers,
Q chunk length.

Token shift mixes each step's input with the previous step's: ``mix(x, μ) = μ x_t + (1 - μ) x_{t-1}``,
μ learnt per channel. Time mixing, per channel c, with decay w = exp(time_decay) > 0 and a bonus
u = time_first for the current step:

    k_t = W_k mix(x, μ_k),  v_t = W_v mix(x, μ_v),  r_t = W_r mix(x, μ_r)
    wkv_t = (Σ_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (Σ_{i<t} e^{-(t-1-i) w + k_i} + e^{u + k_t})
    out_t = W_o (σ(r_t) ⊙ wkv_t)

Two forms compute wkv, and agree:

* recurrent (``step``, and ``mode="recurrent"``): the sums over i < t are a state (a, b) that
  decays by e^{-w} and gains e^{k_t} (v_t, 1) each step. It is kept as (a e^{-p}, b e^{-p}, p) with
  p the running maximum exponent, so nothing overflows.
* parallel (``mode="parallel"``, the default, for training): within a chunk of Q steps, the
  weights e^{...} form a (Q, Q) lower-triangular matrix per channel, computed at once; the state
  passes between chunks. Memory O(B Q^2 D), independent of T; Q = T is the plain quadratic form.

State ``h``: one tensor (L, 5, B, D): the previous step's input to each mixer (time, channel) and
the WKV state (a, b, p). It is the same size whatever the context. `timespans` is accepted and
ignored: the decay counts steps, not elapsed time.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._input import check_sequence, finish_output

MODES = ("parallel", "recurrent")


@dataclass
class RWKVConfig:
    input_size: int
    hidden_size: int  # D
    n_layers: int = 2  # L
    ffn_mult: float = 4.0  # M = ffn_mult * D
    chunk: int = 64  # Q, steps computed at once by the parallel form
    mode: str = "parallel"

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "n_layers", "chunk"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.ffn_mult <= 0:
            raise ValueError(f"ffn_mult must be > 0, got {self.ffn_mult}")

    @property
    def ffn_size(self) -> int:  # M
        return max(1, int(round(self.ffn_mult * self.hidden_size)))


def wkv_recurrent(w, u, k, v, state):
    """The WKV recurrence step by step. w, u (D,); k, v (B, T, D); state (a, b, p) each (B, D).
    Returns wkv (B, T, D) and the state after the last step."""
    a, b, p = state
    out = []
    for t in range(k.shape[1]):
        kt, vt = k[:, t], v[:, t]
        # this step's output: the decayed past plus the current step with its bonus u
        q = torch.maximum(p, u + kt)
        e_past, e_now = torch.exp(p - q), torch.exp(u + kt - q)
        out.append((e_past * a + e_now * vt) / (e_past * b + e_now))
        # the state for the next step: decay the past by w, add the current step
        q = torch.maximum(p - w, kt)
        e_past, e_now = torch.exp(p - w - q), torch.exp(kt - q)
        a, b, p = e_past * a + e_now * vt, e_past * b + e_now, q
    return torch.stack(out, 1), (a, b, p)


def wkv_parallel(w, u, k, v, state, chunk: int):
    """The same as :func:`wkv_recurrent`, a chunk of Q steps at a time by (Q, Q) weight matrices."""
    a, b, p = state
    out = []
    for start in range(0, k.shape[1], chunk):
        kc, vc = k[:, start:start + chunk], v[:, start:start + chunk]  # (B, Q, D)
        Q = kc.shape[1]
        t = torch.arange(Q, device=k.device, dtype=k.dtype)
        lag = (t[:, None] - 1 - t[None, :]).unsqueeze(-1)  # (Q, Q, 1): t - 1 - i
        # log-weight of step i in the output at step t: -(t-1-i) w + k_i (i < t), u + k_t (i = t)
        logw = -lag.clamp(min=0) * w + kc.unsqueeze(1)  # (B, Q, Q, D) [t, i]
        diag = torch.eye(Q, dtype=torch.bool, device=k.device).unsqueeze(-1)
        logw = torch.where(diag, u + kc.unsqueeze(1), logw)
        logw = logw.masked_fill((lag < -1).expand_as(diag), float("-inf"))  # the future (i > t)
        log_state = p.unsqueeze(1) - t[:, None] * w  # (B, Q, D): the carried state seen at step t
        m = torch.maximum(logw.amax(2), log_state)  # (B, Q, D)
        e = torch.exp(logw - m.unsqueeze(2))  # (B, Q, Q, D)
        e_state = torch.exp(log_state - m)  # (B, Q, D)
        num = (e * vc.unsqueeze(1)).sum(2) + e_state * a.unsqueeze(1)
        den = e.sum(2) + e_state * b.unsqueeze(1)
        out.append(num / den)
        # the state after the chunk: every step i decayed Q-1-i times, the carried one Q times
        log_end = -(Q - 1 - t)[:, None] * w + kc  # (B, Q, D)
        p_new = torch.maximum(log_end.amax(1), p - Q * w)  # (B, D)
        e_end, e_old = torch.exp(log_end - p_new.unsqueeze(1)), torch.exp(p - Q * w - p_new)
        a = (e_end * vc).sum(1) + e_old * a
        b = e_end.sum(1) + e_old * b
        p = p_new
    return torch.cat(out, 1), (a, b, p)


def token_shift(x, last):
    """x (B, T, D), last (B, D): the previous step's input at every step, (B, T, D)."""
    return torch.cat([last.unsqueeze(1), x[:, :-1]], dim=1)


class TimeMix(nn.Module):
    def __init__(self, config: RWKVConfig, layer: int):
        super().__init__()
        self.config = config
        D, L = config.hidden_size, config.n_layers
        depth = layer / L  # 0 in the first layer, towards 1 in the last
        frac = torch.arange(D) / D
        # Decays spread from slow to fast across channels (faster in deeper layers); token-shift
        # mixes spread from "all previous step" to "all current step" across channels, leaning to
        # the current step in deeper layers: the spirit of the RWKV-4 initialisation.
        self.time_decay = nn.Parameter(-5.0 + 8.0 * (torch.arange(D) / max(1, D - 1)) ** (0.7 + 1.3 * depth))
        self.time_first = nn.Parameter(torch.full((D,), 0.5) + 0.3 * ((torch.arange(D) % 3) - 1))  # u
        self.mix_k = nn.Parameter(frac ** (1.0 - depth))
        self.mix_v = nn.Parameter(frac ** (1.0 - depth) + 0.3 * depth)
        self.mix_r = nn.Parameter(frac ** (0.5 * (1.0 - depth)))
        self.key = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(D, D, bias=False)
        self.receptance = nn.Linear(D, D, bias=False)
        self.output = nn.Linear(D, D, bias=False)

    def forward(self, x, last, wkv_state, mode):
        """x (B, T, D), last (B, D), wkv_state (a, b, p) -> y (B, T, D), x's last step, new wkv state."""
        prev = token_shift(x, last)
        k = self.key(torch.lerp(prev, x, self.mix_k))
        v = self.value(torch.lerp(prev, x, self.mix_v))
        r = self.receptance(torch.lerp(prev, x, self.mix_r))
        w = torch.exp(self.time_decay)
        if mode == "recurrent":
            wkv, wkv_state = wkv_recurrent(w, self.time_first, k, v, wkv_state)
        else:
            wkv, wkv_state = wkv_parallel(w, self.time_first, k, v, wkv_state, self.config.chunk)
        return self.output(torch.sigmoid(r) * wkv), x[:, -1], wkv_state


class ChannelMix(nn.Module):
    def __init__(self, config: RWKVConfig, layer: int):
        super().__init__()
        D, M = config.hidden_size, config.ffn_size
        mix = (torch.arange(D) / D) ** (1.0 - layer / config.n_layers)
        self.mix_k = nn.Parameter(mix)
        self.mix_r = nn.Parameter(mix.clone())
        self.key = nn.Linear(D, M, bias=False)
        self.receptance = nn.Linear(D, D, bias=False)
        self.value = nn.Linear(M, D, bias=False)

    def forward(self, x, last):
        prev = token_shift(x, last)
        k = torch.square(F.relu(self.key(torch.lerp(prev, x, self.mix_k))))
        r = torch.sigmoid(self.receptance(torch.lerp(prev, x, self.mix_r)))
        return r * self.value(k), x[:, -1]


class Block(nn.Module):
    def __init__(self, config: RWKVConfig, layer: int):
        super().__init__()
        D = config.hidden_size
        self.norm1 = nn.LayerNorm(D)
        self.att = TimeMix(config, layer)
        self.norm2 = nn.LayerNorm(D)
        self.ffn = ChannelMix(config, layer)

    def forward(self, x, state, mode):
        """state (5, B, D): time-mix last input, channel-mix last input, a, b, p."""
        y, last_att, (a, b, p) = self.att(self.norm1(x), state[0], (state[2], state[3], state[4]), mode)
        x = x + y
        y, last_ffn = self.ffn(self.norm2(x), state[1])
        return x + y, torch.stack([last_att, last_ffn, a, b, p])


class RWKV(nn.Module):
    """RWKV-4 blocks with the liquidts signature `y, h = model(x, hx=None, timespans=None)`.

    Args:
        input_size: F, features per step.
        hidden_size: D, the model width and `output_size`.
        return_sequences: return (B, T, D) (default) or the last step (B, D).
        batch_first: x is (B, T, F) (default) or (T, B, F).
        **kwargs: RWKVConfig fields: n_layers=2, ffn_mult=4.0, chunk=64, mode="parallel" | "recurrent".

    State ``h`` (L, 5, B, D); see the module docstring.
    """

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True,
                 batch_first: bool = True, **kwargs):
        super().__init__()
        self.config = RWKVConfig(input_size, hidden_size, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.encoder = nn.Linear(input_size, hidden_size)
        self.ln0 = nn.LayerNorm(hidden_size)
        self.blocks = nn.ModuleList(Block(self.config, i) for i in range(self.config.n_layers))
        self.norm_f = nn.LayerNorm(hidden_size)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        """Zero inputs, an empty WKV sum (p = -inf): (L, 5, B, D)."""
        c = self.config
        state = torch.zeros(c.n_layers, 5, batch_size, c.hidden_size, device=device, dtype=dtype)
        state[:, 4] = float("-inf")
        return state

    def _check_state(self, hx, batch_size):
        expected = (self.config.n_layers, 5, batch_size, self.hidden_size)
        if not isinstance(hx, torch.Tensor) or tuple(hx.shape) != expected:
            got = tuple(hx.shape) if isinstance(hx, torch.Tensor) else type(hx).__name__
            raise ValueError(f"hx must be the state of shape {expected}, got {got}")

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x.shape[0])
        y, state = self._run(x, hx, self.config.mode)
        return finish_output(y, self.return_sequences, self.batch_first), state

    def _run(self, x, hx, mode):
        h = self.ln0(self.encoder(x))  # (B, T, D)
        states = []
        for block, state in zip(self.blocks, hx):
            h, state = block(h, state, mode)
            states.append(state)
        return self.norm_f(h), torch.stack(states)

    def step(self, x, hx=None):
        """One step as an RNN: x (B, F) -> y (B, D), new state (L, 5, B, D)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x.shape[0])
        y, state = self._run(x.unsqueeze(1), hx, "recurrent")
        return y[:, 0], state
