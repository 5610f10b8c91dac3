"""Mamba: a selective state space model (Gu & Dao, 2023), in plain PyTorch.

    Mamba(input_size, hidden_size)
    ├── encoder      Linear F -> D
    ├── layers       n_layers x  x + MambaBlock(RMSNorm(x))
    │   └── MambaBlock
    │       ├── in_proj       D -> 2 ED, split into x and the gate z
    │       ├── conv1d        causal depthwise conv over time (kernel K), then SiLU
    │       ├── x_proj        ED -> R + 2 N: low-rank Δ, B_t, C_t (input dependent: "selective")
    │       ├── dt_proj       R -> ED, Δ = softplus(.)
    │       ├── selective SSM h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t,   y_t = C_t h_t + D x_t
    │       └── out_proj      (y * SiLU(z)) ED -> D
    └── norm_f       RMSNorm(D)

Letters: B batch, T time, F input features, D hidden_size, E expand, ED = E * D, N d_state,
R dt_rank, K d_conv, L n_layers. A = -exp(A_log) is diagonal (ED, N), initialised to -(1..N)
(S4D-real); B is discretised by the simplified (Euler) rule Δ B, as in the paper's code.

The scan over time is chosen by `scan`:
  "loop"      one step at a time (pscan.scan_loop); the fastest choice on a CPU.
  "parallel"  associative doubling scan (pscan.scan_parallel); log2(T) rounds, for GPUs.
  "auto"      the fused `mamba_ssm` kernel on CUDA when `import mamba_ssm` works and no state is
              carried in, else "parallel" on CUDA and "loop" on the CPU.
`step` advances one time step in O(1) memory for streaming inference.

State `h` = (ssm, conv): ssm (L, B, ED, N) and conv (L, B, ED, K-1), the last K-1 conv inputs.
Feeding a sequence in chunks with the returned state gives the output of feeding it whole.
`timespans` is accepted and ignored: Δ is learnt from the input, not from elapsed time.

Small forecasting configurations (as in S-Mamba and similar papers): expand=1, d_conv=2,
d_state=16, n_layers=1 or 2.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._input import check_sequence, finish_output
from .pscan import scan_loop, scan_parallel

try:  # the fused CUDA kernel, used only when installed; it is never a requirement
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
except ImportError:
    selective_scan_fn = None

SCANS = ("auto", "loop", "parallel")


@dataclass
class MambaConfig:
    input_size: int
    hidden_size: int  # D
    n_layers: int = 2  # L
    d_state: int = 16  # N
    expand: int = 2  # E
    d_conv: int = 4  # K
    dt_rank: int | str = "auto"  # R; "auto" = ceil(D / 16)
    dt_min: float = 0.001
    dt_max: float = 0.1
    dt_init_floor: float = 1e-4
    rms_norm_eps: float = 1e-5
    bias: bool = False  # in_proj / out_proj
    conv_bias: bool = True
    scan: str = "auto"

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "n_layers", "d_state", "expand", "d_conv"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {self.scan!r}")
        if self.dt_rank == "auto":
            self.dt_rank = math.ceil(self.hidden_size / 16)
        if not isinstance(self.dt_rank, int) or self.dt_rank < 1:
            raise ValueError(f"dt_rank must be 'auto' or a positive int, got {self.dt_rank!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {self.dt_min}, {self.dt_max}")

    @property
    def d_inner(self) -> int:  # ED
        return self.expand * self.hidden_size


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def selective_scan(u, delta, A, Bm, Cm, D, h0=None, scan="loop"):
    """The selective SSM over a sequence.

    u, delta: (B, T, ED); A: (ED, N); Bm, Cm: (B, T, N); D: (ED,); h0: (B, ED, N) or None.
    Returns y (B, T, ED) and the last state (B, ED, N).
    """
    if scan == "auto":
        if u.is_cuda and selective_scan_fn is not None and h0 is None:
            y, h_last = selective_scan_fn(u.transpose(1, 2), delta.transpose(1, 2), A,
                                          Bm.transpose(1, 2), Cm.transpose(1, 2), D,
                                          return_last_state=True)
            return y.transpose(1, 2), h_last
        scan = "parallel" if u.is_cuda else "loop"
    dA = delta.unsqueeze(-1) * A  # (B, T, ED, N) log of the decay
    dBu = (delta * u).unsqueeze(-1) * Bm.unsqueeze(2)  # (B, T, ED, N)
    hs = scan_loop(torch.exp(dA), dBu, h0) if scan == "loop" else scan_parallel(dA, dBu, h0)  # (B, T, ED, N)
    y = (hs @ Cm.unsqueeze(-1)).squeeze(-1) + D * u  # (B, T, ED)
    return y, hs[:, -1]


class MambaBlock(nn.Module):
    def __init__(self, config: MambaConfig):
        super().__init__()
        c = config
        self.config = c
        ED, N, R = c.d_inner, c.d_state, c.dt_rank
        self.in_proj = nn.Linear(c.hidden_size, 2 * ED, bias=c.bias)
        # padding is done by hand (the carried conv buffer or zeros), so chunks join seamlessly
        self.conv1d = nn.Conv1d(ED, ED, kernel_size=c.d_conv, groups=ED, bias=c.conv_bias)
        self.x_proj = nn.Linear(ED, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, ED, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -R ** -0.5, R ** -0.5)
        # Δ starts log-uniform in [dt_min, dt_max]: the bias is its inverse softplus
        dt = torch.exp(torch.rand(ED) * (math.log(c.dt_max) - math.log(c.dt_min)) + math.log(c.dt_min))
        dt = dt.clamp(min=c.dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32).repeat(ED, 1)))  # (ED, N)
        self.D = nn.Parameter(torch.ones(ED))
        self.out_proj = nn.Linear(ED, c.hidden_size, bias=c.bias)

    def _ssm_inputs(self, x):
        """x (..., ED) -> Δ (..., ED), B (..., N), C (..., N)."""
        c = self.config
        dt, Bm, Cm = self.x_proj(x).split([c.dt_rank, c.d_state, c.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt)), Bm, Cm

    def forward(self, x, ssm_state=None, conv_state=None, scan="loop"):
        """x (B, T, D), ssm_state (B, ED, N), conv_state (B, ED, K-1) -> y (B, T, D), states."""
        Bsz, T, _ = x.shape
        xin, z = self.in_proj(x).chunk(2, dim=-1)  # (B, T, ED) each
        xin = xin.transpose(1, 2)  # (B, ED, T)
        if conv_state is None:
            conv_state = xin.new_zeros(Bsz, self.config.d_inner, self.config.d_conv - 1)
        xin = torch.cat([conv_state, xin], dim=2)  # (B, ED, K-1+T)
        conv_state = xin[:, :, xin.shape[2] - (self.config.d_conv - 1):]  # (B, ED, K-1)
        u = F.silu(self.conv1d(xin)).transpose(1, 2)  # (B, T, ED)
        delta, Bm, Cm = self._ssm_inputs(u)
        A = -torch.exp(self.A_log)  # (ED, N)
        y, ssm_state = selective_scan(u, delta, A, Bm, Cm, self.D, ssm_state, scan)  # (B, T, ED)
        return self.out_proj(y * F.silu(z)), ssm_state, conv_state

    def step(self, x, ssm_state, conv_state):
        """One time step: x (B, D), ssm_state (B, ED, N), conv_state (B, ED, K-1)."""
        xin, z = self.in_proj(x).chunk(2, dim=-1)  # (B, ED)
        window = torch.cat([conv_state, xin.unsqueeze(2)], dim=2)  # (B, ED, K)
        u = (window * self.conv1d.weight.squeeze(1)).sum(-1)  # (B, ED)
        if self.conv1d.bias is not None:
            u = u + self.conv1d.bias
        u = F.silu(u)
        delta, Bm, Cm = self._ssm_inputs(u)  # (B, ED), (B, N), (B, N)
        A = -torch.exp(self.A_log)  # (ED, N)
        ssm_state = torch.exp(delta.unsqueeze(-1) * A) * ssm_state \
            + (delta * u).unsqueeze(-1) * Bm.unsqueeze(1)  # (B, ED, N)
        y = (ssm_state @ Cm.unsqueeze(-1)).squeeze(-1) + self.D * u  # (B, ED)
        return self.out_proj(y * F.silu(z)), ssm_state, window[:, :, 1:]


class ResidualBlock(nn.Module):
    def __init__(self, config: MambaConfig):
        super().__init__()
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mixer = MambaBlock(config)

    def forward(self, x, ssm_state=None, conv_state=None, scan="loop"):
        y, ssm_state, conv_state = self.mixer(self.norm(x), ssm_state, conv_state, scan)
        return x + y, ssm_state, conv_state

    def step(self, x, ssm_state, conv_state):
        y, ssm_state, conv_state = self.mixer.step(self.norm(x), ssm_state, conv_state)
        return x + y, ssm_state, conv_state


class Mamba(nn.Module):
    """Stacked Mamba blocks with the liquidts signature `y, h = model(x, hx=None, timespans=None)`.

    Args:
        input_size: F, features per step.
        hidden_size: D, the model width and `output_size`.
        return_sequences: return (B, T, D) (default) or the last step (B, D).
        batch_first: x is (B, T, F) (default) or (T, B, F).
        **kwargs: MambaConfig fields: n_layers=2, d_state=16, expand=2, d_conv=4, dt_rank="auto",
            dt_min, dt_max, rms_norm_eps, bias, conv_bias, scan="auto" | "loop" | "parallel".
    """

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True,
                 batch_first: bool = True, **kwargs):
        super().__init__()
        self.config = MambaConfig(input_size, hidden_size, **kwargs)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.return_sequences = return_sequences
        self.batch_first = batch_first
        self.encoder = nn.Linear(input_size, hidden_size)
        self.layers = nn.ModuleList(ResidualBlock(self.config) for _ in range(self.config.n_layers))
        self.norm_f = RMSNorm(hidden_size, self.config.rms_norm_eps)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        """Zero state: (ssm (L, B, ED, N), conv (L, B, ED, K-1))."""
        c = self.config
        ssm = torch.zeros(c.n_layers, batch_size, c.d_inner, c.d_state, device=device, dtype=dtype)
        conv = torch.zeros(c.n_layers, batch_size, c.d_inner, c.d_conv - 1, device=device, dtype=dtype)
        return ssm, conv

    def _check_state(self, hx, batch_size):
        c = self.config
        expected = ((c.n_layers, batch_size, c.d_inner, c.d_state),
                    (c.n_layers, batch_size, c.d_inner, c.d_conv - 1))
        if (not isinstance(hx, (tuple, list)) or len(hx) != 2
                or tuple(hx[0].shape) != expected[0] or tuple(hx[1].shape) != expected[1]):
            got = [tuple(t.shape) for t in hx] if isinstance(hx, (tuple, list)) else type(hx).__name__
            raise ValueError(f"hx must be (ssm, conv) with shapes {expected}, got {got}")

    def forward(self, x, hx=None, timespans=None):
        x = check_sequence(x, self.input_size, self.batch_first)  # (B, T, F)
        if hx is not None:
            self._check_state(hx, x.shape[0])
        h = self.encoder(x)  # (B, T, D)
        ssm_out, conv_out = [], []
        for i, layer in enumerate(self.layers):
            ssm, conv = (None, None) if hx is None else (hx[0][i], hx[1][i])
            h, ssm, conv = layer(h, ssm, conv, self.config.scan)
            ssm_out.append(ssm)
            conv_out.append(conv)
        y = self.norm_f(h)  # (B, T, D)
        return finish_output(y, self.return_sequences, self.batch_first), \
            (torch.stack(ssm_out), torch.stack(conv_out))

    def step(self, x, hx=None):
        """One step of streaming inference in O(1) memory: x (B, F) -> y (B, D), new state."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"step expects x of shape (B, {self.input_size}), got {shape}")
        if hx is None:
            hx = self.initial_state(x.shape[0], x.device, x.dtype)
        else:
            self._check_state(hx, x.shape[0])
        h = self.encoder(x)  # (B, D)
        ssm_out, conv_out = [], []
        for i, layer in enumerate(self.layers):
            h, ssm, conv = layer.step(h, hx[0][i], hx[1][i])
            ssm_out.append(ssm)
            conv_out.append(conv)
        return self.norm_f(h), (torch.stack(ssm_out), torch.stack(conv_out))
