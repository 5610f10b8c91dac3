"""A causal, pre-norm Transformer (decoder only), with Pangu-π's two additions as options.

    Transformer(input_size, hidden_size)
    ├── encoder      Linear F -> D
    ├── blocks       n_layers x
    │   ├── h = h + Attention(LN(h)) [+ Σ_i Shortcut_i(LN(h))]      causal multi-head attention, RoPE
    │   └── h = h + MLP(LN(h))                                       D -> M -> D, GELU or series activation
    └── norm_f       LayerNorm(D)

Letters: B batch, T new steps, P steps already in the cache, D hidden_size, NH heads, DH = D / NH,
M = ffn_mult * D, L n_layers.

Positions are rotary (RoPE, Su et al. 2021): the query and key of absolute step p are rotated by
angles p * θ_j, so attention depends on relative offsets and no table bounds the context.

Streaming state: the KV cache, ``h = (k, v)`` each (L, B, NH, P, DH): every layer's rotated keys and
values of all P steps seen. A call with ``hx`` attends over the cache and the new steps and returns
the cache grown by T, so feeding a sequence in chunks (or one step at a time through ``step``)
gives the output of feeding it whole. The cache grows linearly with the context: 2 * L * D
numbers per step and sample, and each new step costs O(P * D) to attend. That is the contrast with
the recurrent models here, whose state is a fixed size.

Pangu-π options (Wang et al., 2023, "PanGu-π: enhancing language model architectures via
nonlinearity compensation"):

* ``augmented_shortcuts=n``: n extra per-step branches in parallel with attention,
  ``Shortcut_i(z) = W2_i GELU(W1_i z)`` with a bottleneck of ``D / shortcut_ratio``; they keep
  token features diverse where attention alone tends to make them collapse. Per step, so they add
  nothing to the streaming state.
* ``series_activation=n``: the MLP's activation becomes ``Σ_{i<n} a_i GELU(x + b_i)`` with learnt
  a_i, b_i per channel (a series of shifted activations, more nonlinearity at the cost of 2 n M
  parameters). ``0`` keeps plain GELU.

`timespans` is accepted and ignored: positions count steps, not elapsed time.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._input import check_sequence, finish_output


@dataclass
class TransformerConfig:
    input_size: int
    hidden_size: int  # D
    n_layers: int = 2  # L
    n_heads: int = 4  # NH
    ffn_mult: float = 4.0  # M = ffn_mult * D
    dropout: float = 0.0
    rope_base: float = 10000.0
    augmented_shortcuts: int = 0  # Pangu-π: extra per-step branches beside attention
    shortcut_ratio: int = 4  # bottleneck D / shortcut_ratio of each augmented shortcut
    series_activation: int = 0  # Pangu-π: terms of the series activation in the MLP (0: GELU)

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "n_layers", "n_heads", "shortcut_ratio"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        for name in ("augmented_shortcuts", "series_activation"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an int >= 0, got {getattr(self, name)!r}")
        if self.hidden_size % self.n_heads or (self.hidden_size // self.n_heads) % 2:
            raise ValueError(f"hidden_size {self.hidden_size} must split into {self.n_heads} heads of even width")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.ffn_mult <= 0:
            raise ValueError(f"ffn_mult must be > 0, got {self.ffn_mult}")

    @property
    def head_dim(self) -> int:  # DH
        return self.hidden_size // self.n_heads

    @property
    def ffn_size(self) -> int:  # M
        return max(1, int(round(self.ffn_mult * self.hidden_size)))


def rotate(x: torch.Tensor, start: int, base: float) -> torch.Tensor:
    """RoPE: rotate pairs (x[..., 2j], x[..., 2j+1]) of x (B, NH, T, DH) at steps start..start+T-1
    by the angle p * base^(-2j/DH)."""
    T, DH = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, DH, 2, device=x.device, dtype=torch.float64) / DH)  # (DH/2,)
    pos = torch.arange(start, start + T, device=x.device, dtype=torch.float64)  # (T,)
    angle = pos[:, None] * inv_freq[None, :]  # (T, DH/2), float64 so far-off positions stay exact
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class SeriesActivation(nn.Module):
    """Σ_i a_i GELU(x + b_i) over n terms, a_i and b_i per channel (Pangu-π's series activation).
    Starts at a_0 = 1, b_0 = 0 and small a_i (i > 0) at spread shifts: close to plain GELU."""

    def __init__(self, channels: int, n: int):
        super().__init__()
        self.scale = nn.Parameter(torch.cat([torch.ones(1, channels), 0.1 * torch.ones(n - 1, channels)]))
        self.shift = nn.Parameter(torch.linspace(-1.0, 1.0, n).unsqueeze(1).repeat(1, channels)
                                  if n > 1 else torch.zeros(1, channels))

    def forward(self, x):
        return (self.scale * F.gelu(x.unsqueeze(-2) + self.shift)).sum(-2)  # (..., n, M) -> (..., M)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        D = config.hidden_size
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x, cache=None):
        """x (B, T, D), cache (k, v) each (B, NH, P, DH) or None -> y (B, T, D), new cache (P + T steps)."""
        c = self.config
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, c.n_heads, c.head_dim).permute(2, 0, 3, 1, 4)  # (B, NH, T, DH) each
        P = 0 if cache is None else cache[0].shape[2]
        q, k = rotate(q, P, c.rope_base), rotate(k, P, c.rope_base)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, NH, P+T, DH)
        dropout = c.dropout if self.training else 0.0
        if P == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        else:  # new step t (absolute P + t) sees every cached step and the new ones up to itself
            allowed = torch.arange(P + T, device=x.device)[None, :] <= P + torch.arange(T, device=x.device)[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        return self.proj(y.transpose(1, 2).reshape(B, T, D)), (k, v)


class Block(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        D, M = config.hidden_size, config.ffn_size
        self.norm1 = nn.LayerNorm(D)
        self.attn = CausalSelfAttention(config)
        bottleneck = max(1, D // config.shortcut_ratio)
        self.shortcuts = nn.ModuleList(
            nn.Sequential(nn.Linear(D, bottleneck), nn.GELU(), nn.Linear(bottleneck, D))
            for _ in range(config.augmented_shortcuts))
        self.norm2 = nn.LayerNorm(D)
        act = SeriesActivation(M, config.series_activation) if config.series_activation else nn.GELU()
        self.mlp = nn.Sequential(nn.Linear(D, M), act, nn.Linear(M, D))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, cache=None):
        z = self.norm1(x)
        y, cache = self.attn(z, cache)
        for shortcut in self.shortcuts:
            y = y + shortcut(z)
        x = x + self.drop(y)
        return x + self.drop(self.mlp(self.norm2(x))), cache


class Transformer(nn.Module):
    """Causal pre-norm Transformer with the liquidts signature `y, h = model(x, hx=None, timespans=None)`.

    Args:
        input_size: F, features per step.
        hidden_size: D, the model width and `output_size`.
        return_sequences: return (B, T, D) (default) or the last step (B, D).
        batch_first: x is (B, T, F) (default) or (T, B, F).
        **kwargs: TransformerConfig fields: n_layers=2, n_heads=4, ffn_mult=4.0, dropout=0.0,
            rope_base=10000, augmented_shortcuts=0, shortcut_ratio=4, series_activation=0.

    State ``h = (k, v)``, the KV cache, each (L, B, NH, P, DH); see the module docstring.
    """

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True,
                 batch_first: bool = True, **kwargs):
        super().__init__()
        self.config = TransformerConfig(input_size, hidden_size, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.encoder = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(Block(self.config) for _ in range(self.config.n_layers))
        self.norm_f = nn.LayerNorm(hidden_size)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        """An empty cache: (k, v) each (L, B, NH, 0, DH)."""
        c = self.config
        empty = torch.zeros(c.n_layers, batch_size, c.n_heads, 0, c.head_dim, device=device, dtype=dtype)
        return empty, empty.clone()

    def _check_state(self, hx, batch_size):
        c = self.config
        ok = (isinstance(hx, (tuple, list)) and len(hx) == 2 and all(isinstance(t, torch.Tensor) for t in hx)
              and hx[0].shape == hx[1].shape and hx[0].dim() == 5
              and tuple(hx[0].shape[:3]) == (c.n_layers, batch_size, c.n_heads) and hx[0].shape[4] == c.head_dim)
        if not ok:
            got = [tuple(t.shape) for t in hx] if isinstance(hx, (tuple, list)) else type(hx).__name__
            raise ValueError(f"hx must be the KV cache (k, v), each ({c.n_layers}, {batch_size}, {c.n_heads}, P, "
                             f"{c.head_dim}), got {got}")

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        if hx is not None:
            self._check_state(hx, x.shape[0])
        y, state = self._run(x, hx)
        return finish_output(y, self.return_sequences, self.batch_first), state

    def _run(self, x, hx):
        h = self.encoder(x)  # (B, T, D)
        ks, vs = [], []
        for i, block in enumerate(self.blocks):
            cache = None if hx is None or hx[0].shape[3] == 0 else (hx[0][i], hx[1][i])
            h, (k, v) = block(h, cache)
            ks.append(k)
            vs.append(v)
        return self.norm_f(h), (torch.stack(ks), torch.stack(vs))

    def step(self, x, hx=None):
        """One step: x (B, F) -> y (B, D), the cache grown by one step."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        if hx is not None:
            self._check_state(hx, x.shape[0])
        y, state = self._run(x.unsqueeze(1), hx)
        return y[:, 0], state


def kv_cache_bytes(config: TransformerConfig, context: int, batch_size: int = 1, bytes_per_number: int = 4) -> int:
    """Bytes of the KV cache after ``context`` steps: 2 (k and v) * L * B * P * D numbers."""
    return 2 * config.n_layers * batch_size * context * config.hidden_size * bytes_per_number

