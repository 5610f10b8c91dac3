"""xLSTM: extended LSTM with mLSTM and sLSTM blocks (Beck et al., NeurIPS 2024), in plain PyTorch.

    XLSTM(input_size, hidden_size)
    ├── encoder       Linear F -> D
    ├── blocks        num_blocks residual blocks; indices in `slstm_at` are sLSTM, the rest mLSTM
    │                 (default "alternate": blocks 1, 3, 5, ... are sLSTM; "all": sLSTM only)
    │   ├── mLSTM block   x + MLSTMLayer(LayerNorm(x))                      (pre up-projection)
    │   │   └── MLSTMLayer: up D -> 2 Di (x_m, z); conv(K)+SiLU -> q, k; x_m -> v (block-diagonal
    │   │       projections); matrix-memory cell; per-head norm; + skip * conv(x_m); * SiLU(z); down Di -> D
    │   └── sLSTM block   x + SLSTMLayer(LayerNorm(x)), then x + GatedFFN(LayerNorm(x))  (post up-projection)
    │       └── SLSTMLayer: conv(K)+SiLU -> i, f; x -> z, o (block-diagonal); scalar-memory cell
    │           with head-wise (block-diagonal) recurrent weights; per-head norm
    └── post_norm     LayerNorm(D)

Letters: B batch, T time, F input features, D hidden_size, Di = mLSTM inner width, NH heads,
DH = head width, K conv kernel.

mLSTM cell (per head; q, k, v in R^DH, gate pre-activations i~, f~ scalars; k scaled by 1/sqrt(DH)):
    C_t = f_t C_{t-1} + i_t k_t v_t^T       n_t = f_t n_{t-1} + i_t k_t
    h_t = C_t^T q_t / max(|n_t^T q_t|, 1)   i_t = exp(i~_t), f_t = sigmoid(f~_t)
sLSTM cell (per unit; pre-activations W x_t + R h_{t-1} + b, R block-diagonal over heads):
    c_t = f_t c_{t-1} + i_t tanh(z~_t)      n_t = f_t n_{t-1} + i_t
    h_t = sigmoid(o~_t) c_t / n_t           i_t = exp(i~_t), f_t = sigmoid(f~_t)
Both keep the stabiliser m_t = max(log f_t + m_{t-1}, i~_t) and store C, c, n scaled by exp(-m_t),
so the exponential input gate never overflows; the outputs are unchanged by the scaling.
The mLSTM has a parallel form (a causal, gate-decayed attention matrix, O(T^2) memory; the default
for training) and a recurrent form (`mlstm_mode="recurrent"`, and `step`), which agree.
An empty memory has m = -inf, so the first step's stabiliser is its own input gate.

State `h`: one tuple per block, mLSTM (C (B, NH, DH, DH), n (B, NH, DH), m (B, NH), conv (B, Di, K-1)),
sLSTM (h, c, n, m each (B, NH, DH), conv (B, D, K-1)); feeding in chunks with it equals feeding whole.
`timespans` is accepted and ignored: the gates see the inputs, not the elapsed time.

The layer layout and initialisation follow the authors' reference (`xlstm` package, vanilla
backend), so weights can be copied across. Small forecasting stacks: `slstm_at="all"` (sLSTM only),
num_blocks=1 or 2; `round_proj_to=1` keeps the up-projections exactly proj_factor * D wide.
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._input import check_sequence, finish_output

MLSTM_MODES = ("parallel", "recurrent")


@dataclass
class XLSTMConfig:
    input_size: int
    hidden_size: int  # D
    num_blocks: int = 2
    slstm_at: tuple[int, ...] | str = "alternate"  # sLSTM block indices, "all", or the odd indices
    mlstm_num_heads: int = 4
    mlstm_proj_factor: float = 2.0  # Di = proj_factor * D, rounded up to round_proj_to
    mlstm_qkv_blocksize: int = 4  # width of the blocks of the block-diagonal q, k, v projections
    mlstm_conv_kernel: int = 4
    mlstm_mode: str = "parallel"
    slstm_num_heads: int = 4
    slstm_conv_kernel: int = 4  # 0: no convolution before the i, f gates
    ffn_proj_factor: float = 1.3  # gated FFN after each sLSTM layer; 0: none
    round_proj_to: int = 64
    eps: float = 1e-6  # mLSTM normaliser
    _slstm_set: frozenset = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "num_blocks", "mlstm_num_heads", "mlstm_qkv_blocksize",
                     "mlstm_conv_kernel", "slstm_num_heads", "round_proj_to"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.slstm_conv_kernel < 0 or self.ffn_proj_factor < 0:
            raise ValueError("slstm_conv_kernel and ffn_proj_factor must be >= 0")
        if self.mlstm_mode not in MLSTM_MODES:
            raise ValueError(f"mlstm_mode must be one of {MLSTM_MODES}, got {self.mlstm_mode!r}")
        at = {"all": range(self.num_blocks), "alternate": range(1, self.num_blocks, 2)}.get(
            self.slstm_at, self.slstm_at) if isinstance(self.slstm_at, str) else self.slstm_at
        if isinstance(at, str) or any(not isinstance(i, int) or not 0 <= i < self.num_blocks for i in at):
            raise ValueError(f"slstm_at must be 'all', 'alternate' or block indices in [0, {self.num_blocks}), "
                             f"got {self.slstm_at!r}")
        self._slstm_set = frozenset(at)
        if self._slstm_set and self.hidden_size % self.slstm_num_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by "
                             f"slstm_num_heads={self.slstm_num_heads}")
        if len(self._slstm_set) < self.num_blocks:
            Di = self.mlstm_inner
            if Di % self.mlstm_num_heads or Di % self.mlstm_qkv_blocksize:
                raise ValueError(f"mLSTM inner width {Di} must be divisible by mlstm_num_heads="
                                 f"{self.mlstm_num_heads} and mlstm_qkv_blocksize={self.mlstm_qkv_blocksize}")

    def round_up(self, width: float) -> int:
        return int(math.ceil(width / self.round_proj_to) * self.round_proj_to)

    @property
    def mlstm_inner(self) -> int:  # Di
        return self.round_up(self.mlstm_proj_factor * self.hidden_size)

    def is_slstm(self, block_idx: int) -> bool:
        return block_idx in self._slstm_set


# ---------------------------------------------------------------------------------------------
# shared pieces


class HeadwiseLinear(nn.Module):
    """Block-diagonal linear map: the features are split in `num_heads` groups mapped separately."""

    def __init__(self, features: int, num_heads: int, init_dim: int):
        super().__init__()
        self.num_heads = num_heads
        d = features // num_heads
        self.weight = nn.Parameter(torch.randn(num_heads, d, d) * math.sqrt(2 / (5 * init_dim)))

    def forward(self, x):
        xh = x.view(*x.shape[:-1], self.num_heads, -1)  # (..., NH, d)
        return torch.einsum("...hi,hoi->...ho", xh, self.weight).reshape(x.shape)


def causal_conv(x, conv: nn.Conv1d, state):
    """Depthwise causal conv over time, carrying the last K-1 inputs: x (B, T, C), state (B, C, K-1)."""
    xt = torch.cat([state, x.transpose(1, 2)], dim=2)  # (B, C, K-1+T)
    new_state = xt[:, :, xt.shape[2] - state.shape[2]:]  # (B, C, K-1)
    return conv(xt).transpose(1, 2), new_state  # (B, T, C)


def head_norm(h, weight, eps=1e-5):
    """Layer norm within each head (a group norm): h (B, T, NH, DH) -> (B, T, NH * DH)."""
    B, T, NH, DH = h.shape
    return F.group_norm(h.reshape(B * T, NH * DH), NH, weight, None, eps).view(B, T, NH * DH)


def small_init_(w, dim):
    return nn.init.normal_(w, 0.0, math.sqrt(2 / (5 * dim)))


# ---------------------------------------------------------------------------------------------
# mLSTM


def mlstm_parallel(q, k, v, i_pre, f_pre, C0, n0, m0, eps=1e-6):
    """Parallel mLSTM over a sequence from the state (C0, n0, m0).

    q, k, v: (B, NH, T, DH) with k already scaled; i_pre, f_pre: (B, NH, T);
    C0 (B, NH, DH, DH), n0 (B, NH, DH), m0 (B, NH). Returns h (B, NH, T, DH) and (C, n, m) at T.
    """
    T = q.shape[2]
    Fc = torch.cumsum(F.logsigmoid(f_pre), dim=-1)  # (B, NH, T) log prod of forget gates up to t
    # log weight of the input at s in the memory at t: sum_{s<r<=t} log f_r + i~_s
    log_D = Fc.unsqueeze(-1) - Fc.unsqueeze(-2) + i_pre.unsqueeze(-2)  # (B, NH, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    log_D = log_D.masked_fill(~causal, float("-inf"))
    log_w0 = Fc + m0.unsqueeze(-1)  # (B, NH, T) log weight of the carried memory at t
    m = torch.maximum(log_D.amax(-1), log_w0)  # (B, NH, T) the stabiliser m_t of the recurrence
    Dm = torch.exp(log_D - m.unsqueeze(-1))  # (B, NH, T, T)
    w0 = torch.exp(log_w0 - m)  # (B, NH, T)
    S = (q @ k.transpose(-1, -2)) * Dm  # (B, NH, T, T)
    num = S @ v + w0.unsqueeze(-1) * (q @ C0)  # (B, NH, T, DH)
    den = S.sum(-1) + w0 * (q @ n0.unsqueeze(-1)).squeeze(-1)  # (B, NH, T)
    h = num / (torch.maximum(den.abs(), torch.exp(-m)) + eps).unsqueeze(-1)  # (B, NH, T, DH)
    kw = k * Dm[:, :, -1].unsqueeze(-1)  # (B, NH, T, DH) inputs weighted as in the final memory
    C = w0[..., -1, None, None] * C0 + kw.transpose(-1, -2) @ v  # (B, NH, DH, DH)
    n = w0[..., -1, None] * n0 + kw.sum(2)  # (B, NH, DH)
    return h, (C, n, m[..., -1])


def mlstm_recurrent(q, k, v, i_pre, f_pre, C, n, m, eps=1e-6):
    """The same map as `mlstm_parallel`, one step at a time (O(1) memory in T)."""
    hs = []
    log_f = F.logsigmoid(f_pre)  # (B, NH, T)
    for q_t, k_t, v_t, i_t, lf_t in zip(q.unbind(2), k.unbind(2), v.unbind(2), i_pre.unbind(2), log_f.unbind(2)):
        m_new = torch.maximum(lf_t + m, i_t)  # (B, NH)
        f_s = torch.exp(lf_t + m - m_new).unsqueeze(-1)  # (B, NH, 1)
        i_s = torch.exp(i_t - m_new).unsqueeze(-1)  # (B, NH, 1)
        C = f_s.unsqueeze(-1) * C + (i_s * k_t).unsqueeze(-1) * v_t.unsqueeze(-2)  # (B, NH, DH, DH)
        n = f_s * n + i_s * k_t  # (B, NH, DH)
        m = m_new
        num = (q_t.unsqueeze(-2) @ C).squeeze(-2)  # (B, NH, DH)
        den = (q_t * n).sum(-1)  # (B, NH)
        hs.append(num / (torch.maximum(den.abs(), torch.exp(-m)) + eps).unsqueeze(-1))
    return torch.stack(hs, dim=2), (C, n, m)  # (B, NH, T, DH)


class MLSTMLayer(nn.Module):
    def __init__(self, config: XLSTMConfig):
        super().__init__()
        c = self.config = config
        D, Di, NH = c.hidden_size, c.mlstm_inner, c.mlstm_num_heads
        self.proj_up = nn.Linear(D, 2 * Di, bias=False)
        self.q_proj = HeadwiseLinear(Di, Di // c.mlstm_qkv_blocksize, init_dim=D)
        self.k_proj = HeadwiseLinear(Di, Di // c.mlstm_qkv_blocksize, init_dim=D)
        self.v_proj = HeadwiseLinear(Di, Di // c.mlstm_qkv_blocksize, init_dim=D)
        self.conv1d = nn.Conv1d(Di, Di, c.mlstm_conv_kernel, groups=Di)
        self.igate = nn.Linear(3 * Di, NH)
        self.fgate = nn.Linear(3 * Di, NH)
        self.norm_weight = nn.Parameter(torch.ones(Di))
        self.learnable_skip = nn.Parameter(torch.ones(Di))
        self.proj_down = nn.Linear(Di, D, bias=False)
        small_init_(self.proj_up.weight, D)
        nn.init.normal_(self.proj_down.weight, 0.0, 2 / c.num_blocks / math.sqrt(D))
        # gates start near "remember" (f ~ sigmoid(3..6)) with a small random input gate
        nn.init.zeros_(self.fgate.weight)
        with torch.no_grad():
            self.fgate.bias.copy_(torch.linspace(3.0, 6.0, NH))
        nn.init.zeros_(self.igate.weight)
        nn.init.normal_(self.igate.bias, 0.0, 0.1)

    def initial_state(self, B, device, dtype):
        c = self.config
        NH, DH, Di = c.mlstm_num_heads, c.mlstm_inner // c.mlstm_num_heads, c.mlstm_inner
        z = dict(device=device, dtype=dtype)
        return (torch.zeros(B, NH, DH, DH, **z), torch.zeros(B, NH, DH, **z),
                torch.full((B, NH), float("-inf"), **z), torch.zeros(B, Di, c.mlstm_conv_kernel - 1, **z))

    def forward(self, x, state, mode):
        c = self.config
        B, T, _ = x.shape
        NH, Di = c.mlstm_num_heads, c.mlstm_inner
        C0, n0, m0, conv_state = state
        x_m, z = self.proj_up(x).split(Di, dim=-1)  # (B, T, Di) each
        x_c, conv_state = causal_conv(x_m, self.conv1d, conv_state)
        x_c = F.silu(x_c)  # (B, T, Di)
        q, k, v = self.q_proj(x_c), self.k_proj(x_c), self.v_proj(x_m)  # (B, T, Di)
        qkv = torch.cat([q, k, v], dim=-1)  # (B, T, 3 Di)
        i_pre = self.igate(qkv).transpose(1, 2)  # (B, NH, T)
        f_pre = self.fgate(qkv).transpose(1, 2)  # (B, NH, T)
        q, k, v = (t.view(B, T, NH, -1).transpose(1, 2) for t in (q, k, v))  # (B, NH, T, DH)
        k = k / math.sqrt(k.shape[-1])
        cell = mlstm_parallel if mode == "parallel" else mlstm_recurrent
        h, (C, n, m) = cell(q, k, v, i_pre, f_pre, C0, n0, m0, c.eps)  # (B, NH, T, DH)
        h = head_norm(h.transpose(1, 2), self.norm_weight)  # (B, T, Di)
        h = (h + self.learnable_skip * x_c) * F.silu(z)  # (B, T, Di)
        return self.proj_down(h), (C, n, m, conv_state)


# ---------------------------------------------------------------------------------------------
# sLSTM


def slstm_scan(pre, R, h, c, n, m):
    """The sLSTM recurrence. pre: (B, T, NH, 4, DH) input pre-activations (i, f, z, o) with bias;
    R: (NH, DH, 4 DH) block-diagonal recurrent weights; h, c, n, m: (B, NH, DH)."""
    B, T, NH, G, DH = pre.shape
    hs = []
    for pre_t in pre.unbind(1):
        raw = pre_t + (h.unsqueeze(2) @ R).view(B, NH, G, DH)  # (B, NH, 4, DH)
        i_t, f_t, z_t, o_t = raw.unbind(2)  # (B, NH, DH)
        log_f = F.logsigmoid(f_t)
        m_new = torch.maximum(log_f + m, i_t)
        i_s = torch.exp(i_t - m_new)
        f_s = torch.exp(log_f + m - m_new)
        c = f_s * c + i_s * torch.tanh(z_t)
        n = f_s * n + i_s  # >= 1 from the first step on (one of i_s, f_s is 1), so c / n is safe
        m = m_new
        h = torch.sigmoid(o_t) * c / n
        hs.append(h)
    return torch.stack(hs, dim=1), (h, c, n, m)  # (B, T, NH, DH)


class SLSTMLayer(nn.Module):
    def __init__(self, config: XLSTMConfig, block_idx: int):
        super().__init__()
        c = self.config = config
        D, NH = c.hidden_size, c.slstm_num_heads
        DH = D // NH
        if c.slstm_conv_kernel > 0:
            self.conv1d = nn.Conv1d(D, D, c.slstm_conv_kernel, groups=D)
        self.igate = HeadwiseLinear(D, NH, init_dim=D)
        self.fgate = HeadwiseLinear(D, NH, init_dim=D)
        self.zgate = HeadwiseLinear(D, NH, init_dim=D)
        self.ogate = HeadwiseLinear(D, NH, init_dim=D)
        self.recurrent_weight = nn.Parameter(torch.zeros(NH, DH, 4 * DH))  # (NH, DH_in, 4 DH_out)
        bias = torch.zeros(NH, 4, DH)  # (NH, gate, DH)
        # forget-gate bias spread over units by a power law that depends on depth, so units
        # start with a range of memory lengths (the xLSTM paper's "powerlaw_blockdependent")
        depth = block_idx / (c.num_blocks - 1) if c.num_blocks > 1 else 0.0
        bias[:, 1] = -(-5.0 + 12.0 * torch.linspace(0, 1, DH) ** (0.3 + 1.3 * depth))
        self.bias = nn.Parameter(bias)
        self.norm_weight = nn.Parameter(torch.ones(D))

    def initial_state(self, B, device, dtype):
        c = self.config
        NH, DH = c.slstm_num_heads, c.hidden_size // c.slstm_num_heads
        z = dict(device=device, dtype=dtype)
        return (torch.zeros(B, NH, DH, **z), torch.zeros(B, NH, DH, **z), torch.zeros(B, NH, DH, **z),
                torch.full((B, NH, DH), float("-inf"), **z),
                torch.zeros(B, c.hidden_size, max(c.slstm_conv_kernel - 1, 0), **z))

    def forward(self, x, state, mode=None):
        c = self.config
        B, T, D = x.shape
        NH = c.slstm_num_heads
        h, cc, n, m, conv_state = state
        if c.slstm_conv_kernel > 0:
            x_c, conv_state = causal_conv(x, self.conv1d, conv_state)
            x_c = F.silu(x_c)  # (B, T, D)
        else:
            x_c = x
        pre = torch.stack([self.igate(x_c), self.fgate(x_c), self.zgate(x), self.ogate(x)], dim=2)  # (B, T, 4, D)
        pre = pre.view(B, T, 4, NH, -1).transpose(2, 3) + self.bias  # (B, T, NH, 4, DH)
        hs, (h, cc, n, m) = slstm_scan(pre, self.recurrent_weight, h, cc, n, m)  # (B, T, NH, DH)
        return head_norm(hs, self.norm_weight), (h, cc, n, m, conv_state)  # (B, T, D)


class GatedFFN(nn.Module):
    def __init__(self, config: XLSTMConfig):
        super().__init__()
        D = config.hidden_size
        self.inner = config.round_up(config.ffn_proj_factor * D)
        self.proj_up = nn.Linear(D, 2 * self.inner, bias=False)
        self.proj_down = nn.Linear(self.inner, D, bias=False)
        small_init_(self.proj_up.weight, D)
        nn.init.normal_(self.proj_down.weight, 0.0, 2 / config.num_blocks / math.sqrt(D))

    def forward(self, x):
        gate, up = self.proj_up(x).split(self.inner, dim=-1)
        return self.proj_down(F.gelu(gate) * up)


# ---------------------------------------------------------------------------------------------
# blocks and stack


class XLSTMBlock(nn.Module):
    def __init__(self, config: XLSTMConfig, block_idx: int):
        super().__init__()
        D = config.hidden_size
        self.norm = nn.LayerNorm(D, bias=False)
        slstm = config.is_slstm(block_idx)
        self.cell = SLSTMLayer(config, block_idx) if slstm else MLSTMLayer(config)
        self.ffn = GatedFFN(config) if slstm and config.ffn_proj_factor > 0 else None
        self.ffn_norm = nn.LayerNorm(D, bias=False) if self.ffn is not None else None

    def forward(self, x, state, mode):
        y, state = self.cell(self.norm(x), state, mode)
        x = x + y
        if self.ffn is not None:
            x = x + self.ffn(self.ffn_norm(x))
        return x, state


class XLSTM(nn.Module):
    """A stack of mLSTM / sLSTM blocks with the liquidts signature `y, h = model(x, hx=None, timespans=None)`.

    Args:
        input_size: F, features per step.
        hidden_size: D, the model width and `output_size`.
        return_sequences: return (B, T, D) (default) or the last step (B, D).
        batch_first: x is (B, T, F) (default) or (T, B, F).
        **kwargs: XLSTMConfig fields: num_blocks=2, slstm_at="alternate" | "all" | (indices,),
            mlstm_num_heads=4,
            mlstm_proj_factor=2.0, mlstm_qkv_blocksize=4, mlstm_conv_kernel=4,
            mlstm_mode="parallel" | "recurrent", slstm_num_heads=4, slstm_conv_kernel=4,
            ffn_proj_factor=1.3, round_proj_to=64.
    """

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True,
                 batch_first: bool = True, **kwargs):
        super().__init__()
        self.config = XLSTMConfig(input_size, hidden_size, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.encoder = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(XLSTMBlock(self.config, i) for i in range(self.config.num_blocks))
        self.post_norm = nn.LayerNorm(hidden_size, bias=False)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32):
        return tuple(b.cell.initial_state(batch_size, device, dtype) for b in self.blocks)

    def _check_state(self, hx, x):
        expected = self.initial_state(x.shape[0], x.device, x.dtype)
        ok = isinstance(hx, (tuple, list)) and len(hx) == len(expected) and all(
            isinstance(s, (tuple, list)) and len(s) == len(e)
            and all(isinstance(a, torch.Tensor) and a.shape == b.shape for a, b in zip(s, e))
            for s, e in zip(hx, expected))
        if not ok:
            raise ValueError("hx must be the state returned by this model (one tuple per block with shapes "
                             f"{[[tuple(t.shape) for t in e] for e in expected]})")

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x)
        y, state = self._run(x, hx, self.config.mlstm_mode)
        return finish_output(y, self.return_sequences, self.batch_first), state

    def _run(self, x, hx, mode):
        h = self.encoder(x)  # (B, T, D)
        states = []
        for block, state in zip(self.blocks, hx):
            h, state = block(h, state, mode)
            states.append(state)
        return self.post_norm(h), tuple(states)  # (B, T, D)

    def step(self, x, hx=None):
        """One step of recurrent inference: x (B, F) -> y (B, D), new state; memory does not grow with T."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        x = x.unsqueeze(1)  # (B, 1, F)
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x)
        y, state = self._run(x, hx, "recurrent")  # (B, 1, D)
        return y[:, 0], state
