"""Hyena: long implicit convolutions with data-controlled gating (Poli et al., ICML 2023), and
StripedHyena-style stripes of Hyena and attention blocks.

    Hyena(input_size, hidden_size)                 StripedHyena(...) = Hyena(..., attention_at="alternate")
    ├── encoder      Linear F -> D
    ├── blocks       n_layers x   (blocks listed in `attention_at` are attention blocks instead)
    │   ├── h = h + HyenaOperator(LN(h))     or  h + CausalSelfAttention(LN(h))   (transformer.py, RoPE)
    │   └── h = h + MLP(LN(h))               D -> M -> D, GELU
    └── norm_f       LayerNorm(D)

    HyenaOperator, order N:
      in_proj D -> (N+1) D, a short causal depthwise conv (kernel K) over time: v, g_1 .. g_N
      for i in 1..N:   v = g_i ⊙ (h_i ∗ v + b_i ⊙ v)        ∗: causal convolution over all past steps
      out_proj D -> D

Letters: B batch, T new steps, P past steps held in the cache, D hidden_size, N order, K short conv,
E positional features, S filter MLP width, M = ffn_mult * D, Lf filter_len.

The long filters h_i (one per channel, as long as the sequence) are not stored: a small MLP maps
positional features of the lag s (s / max_len and sines and cosines of it) to the N * D filter
values at s, through sine activations, and an exponential window exp(-α_c s / max_len) with
per-channel rates α_c makes each channel's memory fade at its own speed. The filter depends only on
the lag, never on the sequence length, so chunks and steps see the same filter. The convolutions run
by FFT in O(T log T) (zero-padded to twice the length, so they are causal, not circular).

Why streaming needs a cache of inputs. A convolution's output y_t = Σ_s h(s) u_{t-s} reads every
past input the filter reaches. The filter here is an arbitrary learnt function of the lag, not the
impulse response of a small linear recurrence, so no fixed-size state summarises the past exactly
(distilling it into one, as "Laughing Hyena" does, is an approximation that is not done here). So
the recurrent form carries the inputs of each long convolution themselves:

* ``filter_len=None`` (default): the whole history, (N, B, D, P), growing by one step per step
  like a Transformer's KV cache (a third of its size per layer for N = 2: D numbers per order and
  step against 2 D), and each step costs O(P D).
* ``filter_len=Lf``: the filter is truncated to lags < Lf, in the parallel form too (so the two
  forms compute the same function); the cache is the last Lf - 1 inputs, a fixed size, and each
  step costs O(Lf D).

State ``h``: one tuple per block: Hyena (short (B, (N+1) D, K-1), long (N, B, D, P)); attention
(k, v) each (B, NH, P, DH). Feeding in chunks, or step by step with ``step``, with it equals feeding
whole. `timespans` is accepted and ignored: lags count steps, not elapsed time.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._input import check_sequence, finish_output
from .transformer import CausalSelfAttention, TransformerConfig


@dataclass
class HyenaConfig:
    input_size: int
    hidden_size: int  # D
    n_layers: int = 2
    order: int = 2  # N, long convolutions per operator
    short_conv: int = 3  # K
    filter_features: int = 9  # E: lag / max_len and (E - 1) / 2 sine-cosine pairs
    filter_width: int = 32  # S, the filter MLP's width
    filter_len: int | None = None  # Lf; None: the filter reaches the whole history
    max_len: int = 1024  # lag scale of the positional features and the decay window
    fast_decay: float = 0.3  # the fastest channel's window falls to 1% at lag fast_decay * max_len
    slow_decay: float = 1.5  # the slowest at slow_decay * max_len
    ffn_mult: float = 2.0  # M = ffn_mult * D
    attention_at: tuple[int, ...] | str = ()  # attention blocks: indices, or "alternate" (1, 3, 5, ...)
    n_heads: int = 4  # heads of the attention blocks

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "n_layers", "order", "short_conv", "filter_features",
                     "filter_width", "max_len", "n_heads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.filter_len is not None and (not isinstance(self.filter_len, int) or self.filter_len < 1):
            raise ValueError(f"filter_len must be None or a positive int, got {self.filter_len!r}")
        if self.filter_features % 2 == 0:
            raise ValueError(f"filter_features must be odd (lag + sine-cosine pairs), got {self.filter_features}")
        if not 0 < self.fast_decay <= self.slow_decay:
            raise ValueError(f"need 0 < fast_decay <= slow_decay, got {self.fast_decay}, {self.slow_decay}")
        if self.attention_at == "alternate":
            self.attention_at = tuple(range(1, self.n_layers, 2))
        if isinstance(self.attention_at, str) or any(
                not isinstance(i, int) or not 0 <= i < self.n_layers for i in self.attention_at):
            raise ValueError(f"attention_at must be 'alternate' or block indices in [0, {self.n_layers}), "
                             f"got {self.attention_at!r}")
        self.attention_at = tuple(sorted(set(self.attention_at)))
        if self.attention_at and self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must split into {self.n_heads} attention heads")

    @property
    def ffn_size(self) -> int:
        return max(1, int(round(self.ffn_mult * self.hidden_size)))


class Sin(nn.Module):
    """sin(ω x) with a learnt frequency ω per feature: the filter MLP's activation."""

    def __init__(self, width: int, freq: float = 1.0):
        super().__init__()
        self.freq = nn.Parameter(torch.full((width,), freq))

    def forward(self, x):
        return torch.sin(self.freq * x)


class ImplicitFilter(nn.Module):
    """The N long filters, (N, D, n) for lags 0..n-1, from an MLP on positional features of the lag."""

    def __init__(self, config: HyenaConfig):
        super().__init__()
        c = self.config = config
        D, N, S, E = c.hidden_size, c.order, c.filter_width, c.filter_features
        self.mlp = nn.Sequential(nn.Linear(E, S), Sin(S), nn.Linear(S, S), Sin(S), nn.Linear(S, N * D, bias=False))
        self.register_buffer("bands", torch.linspace(1e-4, (E - 1) // 2 - 1, (E - 1) // 2) if E > 1 else torch.zeros(0))
        rates = torch.linspace(math.log(100) / c.fast_decay, math.log(100) / c.slow_decay, D)  # α_c
        self.register_buffer("rates", rates.repeat(N))  # (N * D,)
        self._memo = None  # (key, filters) for streaming without gradient

    def forward(self, n: int) -> torch.Tensor:
        c = self.config
        dtype = self.mlp[0].weight.dtype
        s = torch.arange(n, device=self.rates.device, dtype=torch.float64) / c.max_len  # (n,)
        angle = 2 * math.pi * s[:, None] * self.bands.double()  # (n, (E-1)/2)
        z = torch.cat([s[:, None], angle.cos(), angle.sin()], dim=1).to(dtype)  # (n, E)
        window = torch.exp(-s[:, None] * self.rates.double()).to(dtype)  # (n, N*D)
        h = self.mlp(z) * window  # (n, N*D)
        if c.filter_len is not None:
            h = h * (torch.arange(n, device=h.device) < c.filter_len).unsqueeze(1).to(dtype)
        return h.T.reshape(c.order, c.hidden_size, n)

    def lags(self, n: int) -> torch.Tensor:
        """forward(n), memoised when no gradient is recorded (streaming asks for one more lag per step):
        computed for the next power of two and reused while the parameters are unchanged."""
        if torch.is_grad_enabled():
            return self(n)
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters())
        if self._memo is None or self._memo[0] != key or self._memo[1].shape[-1] < n:
            self._memo = (key, self(1 << max(0, n - 1).bit_length()))
        return self._memo[1][..., :n]


def causal_fft_conv(u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """y[..., t] = Σ_{s<=t} h[..., s] u[..., t-s] for u (B, D, n) and h (D, n), by FFT."""
    n = u.shape[-1]
    size = 2 * n
    y = torch.fft.irfft(torch.fft.rfft(u, n=size) * torch.fft.rfft(h, n=size), n=size)
    return y[..., :n]


class HyenaOperator(nn.Module):
    def __init__(self, config: HyenaConfig):
        super().__init__()
        c = self.config = config
        D, N, K = c.hidden_size, c.order, c.short_conv
        self.in_proj = nn.Linear(D, (N + 1) * D)
        self.short = nn.Conv1d((N + 1) * D, (N + 1) * D, K, groups=(N + 1) * D)  # padded by hand (the cache)
        self.filter = ImplicitFilter(config)
        self.bias = nn.Parameter(torch.randn(N, D) * 0.02)  # b_i: each convolution's pass-through
        self.out_proj = nn.Linear(D, D)

    def cache_len(self, past: int) -> int:
        """Inputs each long convolution keeps after ``past`` steps."""
        Lf = self.config.filter_len
        return past if Lf is None else Lf - 1

    def initial_state(self, batch_size, device=None, dtype=None):
        c = self.config
        D, N = c.hidden_size, c.order
        short = torch.zeros(batch_size, (N + 1) * D, c.short_conv - 1, device=device, dtype=dtype)
        return short, torch.zeros(N, batch_size, D, self.cache_len(0), device=device, dtype=dtype)

    def forward(self, x, state):
        """x (B, T, D), state (short, long) -> y (B, T, D), new state."""
        c = self.config
        short_cache, long_cache = state
        T, P = x.shape[1], long_cache.shape[-1]
        u = torch.cat([short_cache, self.in_proj(x).transpose(1, 2)], dim=2)  # (B, (N+1)D, K-1+T)
        short_cache = u[:, :, u.shape[2] - (c.short_conv - 1):]
        v, *gates = F.conv1d(u, self.short.weight, self.short.bias, groups=u.shape[1]).chunk(c.order + 1, dim=1)
        filters = self.filter.lags(P + T)  # (N, D, P+T)
        new_cache = []
        for i, gate in enumerate(gates):  # v, gate (B, D, T)
            history = torch.cat([long_cache[i], v], dim=2)  # (B, D, P+T)
            new_cache.append(history[:, :, history.shape[2] - self.cache_len(P + T):])
            if T == 1:  # one step: a dot product with the reversed filter, no FFT
                conv = (history * filters[i].flip(-1)).sum(-1, keepdim=True)
            else:
                conv = causal_fft_conv(history, filters[i])[:, :, P:]
            v = gate * (conv + self.bias[i].unsqueeze(-1) * v)
        return self.out_proj(v.transpose(1, 2)), (short_cache, torch.stack(new_cache))


class AttentionMixer(nn.Module):
    """A causal attention block's mixer, with the same (x, state) -> (y, state) interface."""

    def __init__(self, config: HyenaConfig):
        super().__init__()
        self.config = config
        self.attn = CausalSelfAttention(TransformerConfig(config.hidden_size, config.hidden_size,
                                                          n_heads=config.n_heads))

    def initial_state(self, batch_size, device=None, dtype=None):
        c = self.config
        empty = torch.zeros(batch_size, c.n_heads, 0, c.hidden_size // c.n_heads, device=device, dtype=dtype)
        return empty, empty.clone()

    def forward(self, x, state):
        return self.attn(x, None if state[0].shape[2] == 0 else state)


class Block(nn.Module):
    def __init__(self, config: HyenaConfig, attention: bool):
        super().__init__()
        D, M = config.hidden_size, config.ffn_size
        self.norm1 = nn.LayerNorm(D)
        self.mixer = AttentionMixer(config) if attention else HyenaOperator(config)
        self.norm2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, M), nn.GELU(), nn.Linear(M, D))

    def forward(self, x, state):
        y, state = self.mixer(self.norm1(x), state)
        x = x + y
        return x + self.mlp(self.norm2(x)), state


class Hyena(nn.Module):
    """Hyena blocks (optionally striped with attention) with the liquidts signature
    `y, h = model(x, hx=None, timespans=None)`.

    Args:
        input_size: F, features per step.
        hidden_size: D, the model width and `output_size`.
        return_sequences: return (B, T, D) (default) or the last step (B, D).
        batch_first: x is (B, T, F) (default) or (T, B, F).
        **kwargs: HyenaConfig fields: n_layers=2, order=2, short_conv=3, filter_features=9,
            filter_width=32, filter_len=None, max_len=1024, fast_decay=0.3, slow_decay=1.5,
            ffn_mult=2.0, attention_at=() | "alternate" | (indices,), n_heads=4.
    """

    default_attention_at = ()

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True,
                 batch_first: bool = True, **kwargs):
        super().__init__()
        kwargs.setdefault("attention_at", self.default_attention_at)
        self.config = HyenaConfig(input_size, hidden_size, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.encoder = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(Block(self.config, i in self.config.attention_at)
                                    for i in range(self.config.n_layers))
        self.norm_f = nn.LayerNorm(hidden_size)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        return tuple(block.mixer.initial_state(batch_size, device, dtype) for block in self.blocks)

    def _growing_axis(self, block) -> int | None:
        """The axis of a block's state tensors that grows with the context (None: fixed size)."""
        if isinstance(block.mixer, AttentionMixer):
            return 2  # (B, NH, P, DH)
        return 3 if self.config.filter_len is None else None  # long cache (N, B, D, P)

    def _check_state(self, hx, x):
        expected = self.initial_state(x.shape[0], x.device, x.dtype)
        ok = isinstance(hx, (tuple, list)) and len(hx) == len(expected)
        for state, empty, block in zip(hx if ok else (), expected, self.blocks):
            ok = ok and isinstance(state, (tuple, list)) and len(state) == 2
            for k, (a, b) in enumerate(zip(state if ok else (), empty)):
                grows = self._growing_axis(block) if (k == 1 or isinstance(block.mixer, AttentionMixer)) else None
                ok = ok and isinstance(a, torch.Tensor) and a.dim() == b.dim() and all(
                    a.shape[d] == b.shape[d] for d in range(b.dim()) if d != grows)
        if not ok:
            raise ValueError("hx must be the state returned by this model (one (short, long) or (k, v) tuple per "
                             f"block, shaped like {[[tuple(t.shape) for t in e] for e in expected]})")

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x)
        y, state = self._run(x, hx)
        return finish_output(y, self.return_sequences, self.batch_first), state

    def _run(self, x, hx):
        h = self.encoder(x)  # (B, T, D)
        states = []
        for block, state in zip(self.blocks, hx):
            h, state = block(h, state)
            states.append(state)
        return self.norm_f(h), tuple(states)

    def step(self, x, hx=None):
        """One step: x (B, F) -> y (B, D), new state (see the module docstring for its size)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        x = x.unsqueeze(1)
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x)
        y, state = self._run(x, hx)
        return y[:, 0], state


class StripedHyena(Hyena):
    """Hyena with every other block attention (StripedHyena-style): ``attention_at="alternate"``."""

    default_attention_at = "alternate"
