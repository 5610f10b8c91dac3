"""The forecasting network: window normalisation, segments, a sequence core, a parallel readout.

::

    window values (B, L, C) --minus each target's seasonal profile (calendar x season)-->
    --RevIN: each column by the window's own mean and std-->
    per target channel (or all targets together, channels="mixed"): every step's value,
    observed flag, covariates, calendar and log elapsed time, cut into L/S segments of S steps
      --embed--> (N, L/S, D) --core, timespans = each segment's elapsed time--> last output (N, U)
      --readout: for horizon segment m, tanh(W_u u + pos_m + channel + W_f future_m)
      --> S values per segment--> (N, H, Q)
    + linear path: Linear(L -> H*Q) on each target's lookback, normalised per window (RLinear)
      or in the series' scaling (window_norm), brought into the core's units
    --> restore the window's mean and std, add the forecast steps' seasonal profile --> (B, H, T, Q)

The recurrence runs over L/S segments, not L steps (SegRNN, Lin et al. 2023), so it is short
and fast; the readout decodes every horizon segment in parallel from the one final state,
with a learned embedding per position (SegRNN's PMF). The linear path is a ridge regression
solved in closed form and kept fixed (liquidts.forecast.ridge); the core learns a forecast of
its own (its readout's last layer starts at zero), and the two are combined per horizon step by
the core's least-squares share on held-out windows (:meth:`ForecastNetwork.fit_blend`).
``core=None`` is the ablation: the linear path alone. The seasonal profile (``season``, zero
unless set) is a fixed linear function of the calendar features, fitted to the training targets
by least squares (:meth:`ForecastNetwork.set_season`): both paths then model departures from the
seasonal normal, which keeps a trend inside a window (spring warming) from being read as
something that continues past the season's turn.

Letters: B batch, L lookback, C columns (T targets, then covariates), K calendar features,
Kf features known ahead, H horizon, S segment length, G = ceil(L / S) input segments,
M = ceil(H / S) output segments, N sequences (B * T channel-independent, B mixed),
F features per step of one sequence, D width, U core outputs, Q outputs per target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liquidts.forecast.cores import core_output_size, last_output
from liquidts.forecast.windows import Batch
from liquidts.kernels.tanh_dropout import tanh_dropout

CHANNELS = ("independent", "mixed")
#: Readout activations (sequences x horizon segments x width) a pass without gradient aims at:
#: 2^22 floats, 16 MB. Much larger tensors leave the caches, and each element then costs several
#: times more (a readout tanh over 7,168 x 60 x 64 values took 3.4x longer per value than over
#: 896 x 60 x 64 on the 2-core machine).
READOUT_FLOATS = 1 << 22
_EPS = 1e-5  # variance floor of the window normalisation, in the series' scaled units


@dataclass
class NetworkConfig:
    lookback: int  # L
    horizon: int  # H
    n_targets: int  # T
    n_covariates: int
    n_calendar: int  # K
    n_future: int  # Kf
    n_outputs: int = 1  # Q: 1, or the number of quantiles
    point_output: int = 0  # which of the Q outputs is the point forecast (the median)
    segment: int = 12  # S
    width: int = 64  # D
    channels: str = "independent"
    linear_path: bool = True
    dropout: float = 0.1

    @property
    def n_segments(self) -> int:
        return math.ceil(self.lookback / self.segment)

    @property
    def n_out_segments(self) -> int:
        return math.ceil(self.horizon / self.segment)

    @property
    def step_features(self) -> int:
        """F: value and observed flag of the sequence's own targets, covariates, calendar, log dt."""
        own = 1 if self.channels == "independent" else self.n_targets
        return 2 * own + 2 * self.n_covariates + self.n_calendar + 1

    @property
    def linear_features(self) -> int:
        """P: inputs of the linear path per target: its lookback, the covariates' last segment,
        the calendar of the first forecast step (which fixes the calendar of the others) and the
        future covariates of every forecast step."""
        return (self.lookback + self.segment * self.n_covariates + self.n_calendar
                + self.horizon * (self.n_future - self.n_calendar))

    @property
    def targets_per_sequence(self) -> int:
        return 1 if self.channels == "independent" else self.n_targets

    @property
    def windows_per_pass(self) -> int:
        """Windows per forward pass without gradient (validation, the blend, the residuals,
        forecasts): about :data:`READOUT_FLOATS` readout activations, at most 1024 windows."""
        sequences = self.n_targets // self.targets_per_sequence
        return max(1, min(1024, READOUT_FLOATS // (sequences * self.n_out_segments * self.width)))


class ForecastNetwork(nn.Module):
    """See the module docstring. ``core``: a module ``y, h = core(x, hx, timespans)`` reading
    ``config.width`` features per segment, or None for the linear path alone."""

    def __init__(self, config: NetworkConfig, core: nn.Module | None):
        super().__init__()
        if config.channels not in CHANNELS:
            raise ValueError(f"channels must be one of {CHANNELS}, got {config.channels!r}")
        if core is None and not config.linear_path:
            raise ValueError("a network without a core needs its linear path (linear_path=True)")
        self.config = c = config
        T, D, S = c.n_targets, c.width, c.segment
        self.linear = nn.Linear(c.linear_features, c.horizon * c.n_outputs) if c.linear_path else None
        # Which of the linear path's inputs it reads (chosen by cross-validation in
        # liquidts.forecast.ridge; all, until then).
        self.register_buffer("linear_mask", torch.ones(c.linear_features))
        # The linear path's inputs and outputs: 1, each window by its own statistics (RevIN); 0,
        # the series' scaling (chosen in liquidts.forecast.ridge). The core always reads each
        # window normalised by its own statistics.
        self.register_buffer("window_norm", torch.ones(()))
        # Per horizon step, the share of the core's forecast in the output (the rest is the
        # linear path's): 1 while the core trains, then chosen on held-out windows (fit_blend).
        self.register_buffer("blend", torch.ones(c.horizon))
        # Each target's seasonal profile: its value is calendar (K,) @ season[:, t], subtracted
        # from the inputs and added to the forecast (zero: no seasonal adjustment).
        self.register_buffer("season", torch.zeros(c.n_calendar, T))
        self.core = core
        if core is None:
            return
        per_seq = c.targets_per_sequence
        # Reversible normalisation's learnable affine, per target (Kim et al., ICLR 2022).
        self.revin_weight = nn.Parameter(torch.ones(T))
        self.revin_bias = nn.Parameter(torch.zeros(T))
        self.embed = nn.Linear(S * c.step_features, D)
        self.from_core = nn.Linear(core_output_size(core, D), D)
        self.from_future = nn.Linear(S * c.n_future, D, bias=False) if c.n_future else None
        self.position = nn.Parameter(torch.randn(c.n_out_segments, D) * 0.1)
        self.channel = nn.Parameter(torch.randn(T, D) * 0.1) if c.channels == "independent" else None
        self.out = nn.Linear(D, S * per_seq * c.n_outputs)
        # The readout adds nothing until training finds something the linear path misses.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    # ----- normalisation -------------------------------------------------------------------
    def _normalise(self, values, per_window=1.0):
        """values (B, L, C) with NaN -> z (B, L, C), observed (B, L, C), and the targets' mean and
        std (B, 1, T) over each window's observed steps. Targets are normalised by those window
        statistics (and restored at the output); covariates, read but never forecast, keep the
        series' scaling, so their absolute values (a day's rain) stay visible. Missing values are 0.
        ``per_window`` 0 (the linear path's ``window_norm``): the statistics are the identity."""
        T = self.config.n_targets
        observed = ~torch.isnan(values)
        v = torch.where(observed, values, 0.0)
        targets, seen = v[..., :T], observed[..., :T]
        count = seen.sum(1, keepdim=True).clamp(min=1)
        mean = targets.sum(1, keepdim=True) / count
        var = (torch.where(seen, targets - mean, 0.0) ** 2).sum(1, keepdim=True) / count
        std = (var + _EPS).sqrt()
        mean = mean * per_window
        std = std * per_window + (1.0 - per_window)
        z = torch.where(seen, (targets - mean) / std, 0.0)
        return torch.cat([z, v[..., T:]], dim=-1), observed.to(values.dtype), mean, std

    def _deseasonalise(self, batch: Batch) -> Batch:
        """``batch`` with each target's seasonal profile subtracted from its values and target."""
        if self.config.n_calendar == 0:
            return batch
        T = self.config.n_targets
        values = torch.cat([batch.values[..., :T] - batch.calendar @ self.season, batch.values[..., T:]], dim=-1)
        target = None if batch.target is None else batch.target - self._season_ahead(batch)
        return batch._replace(values=values, target=target)

    def _season_ahead(self, batch: Batch) -> torch.Tensor:
        """The seasonal profile (B, H, T) at the forecast steps."""
        return batch.future[..., : self.config.n_calendar] @ self.season

    def _affine(self, z_targets):
        return z_targets * self.revin_weight + self.revin_bias

    def _unaffine(self, y):
        """y (B, H, T, Q) -> undo the affine."""
        return (y - self.revin_bias[:, None]) / self.revin_weight[:, None]

    def _restore(self, y, mean, std):
        """y (B, H, T, Q) in normalised units -> the series' scaled units."""
        return y * std.unsqueeze(-1) + mean.unsqueeze(-1)  # mean/std (B, 1, T, 1)

    # ----- the two paths ---------------------------------------------------------------------
    def _linear_inputs(self, z, batch: Batch):
        """The linear path's inputs per target (B*T, P): see :attr:`NetworkConfig.linear_features`."""
        c = self.config
        B, L, T = z.shape[0], c.lookback, c.n_targets
        own = z[..., :T].transpose(1, 2)  # (B, T, L)
        K = c.n_calendar
        shared = torch.cat([z[:, L - c.segment:, T:].flatten(1),  # (B, S*Cc) the covariates' last segment
                            batch.future[:, 0, :K],  # (B, K) the calendar of the first forecast step
                            batch.future[:, :, K:].flatten(1)], dim=1)  # (B, H*(Kf-K)) future covariates
        inputs = torch.cat([own, shared.unsqueeze(1).expand(B, T, shared.shape[1])], dim=-1)
        return inputs.reshape(B * T, -1) * self.linear_mask

    def _linear_path(self, z, batch: Batch):
        """-> (B, H, T, Q) in normalised units."""
        c = self.config
        out = self.linear(self._linear_inputs(z, batch))  # (B*T, H*Q)
        return out.view(-1, c.n_targets, c.horizon, c.n_outputs).transpose(1, 2)

    def _sequences(self, z, observed, batch: Batch):
        """Per-step features of each sequence (N, L, F)."""
        c = self.config
        T = c.n_targets
        B, L = z.shape[0], z.shape[1]
        shared = [z[..., T:], observed[..., T:], batch.calendar,
                  torch.log(batch.timespans.clamp(min=1e-3)).unsqueeze(-1)]
        shared = torch.cat(shared, dim=-1)  # (B, L, F - 2 * own)
        if c.channels == "mixed":
            return torch.cat([z[..., :T], observed[..., :T], shared], dim=-1)
        own = torch.stack([z[..., :T], observed[..., :T]], dim=-1)  # (B, L, T, 2)
        shared = shared.unsqueeze(2).expand(B, L, T, shared.shape[-1])
        seq = torch.cat([own, shared], dim=-1).transpose(1, 2)  # (B, T, L, F)
        return seq.reshape(B * T, L, -1)

    def _segments(self, z, observed, batch: Batch):
        """The core's inputs: embedded segments (N, G, D) and their timespans (N, G)."""
        c = self.config
        B, T, S, G = z.shape[0], c.n_targets, c.segment, c.n_segments
        seq = self._sequences(z, observed, batch)  # (N, L, F)
        N = seq.shape[0]
        pad = G * S - c.lookback
        # Left padding with zero features (observed flag 0) and zero elapsed time.
        seq = F.pad(seq, (0, 0, pad, 0))
        spans = F.pad(batch.timespans, (pad, 0))  # (B, G*S)
        seg_spans = spans.view(B, G, S).sum(-1) / S  # (B, G): 1 for evenly spaced steps
        if c.targets_per_sequence == 1:
            seg_spans = seg_spans.repeat_interleave(T, dim=0)  # (N, G)
        return F.relu(self.embed(seq.reshape(N, G, S * seq.shape[-1]))), seg_spans

    @torch.no_grad()
    def core_inputs(self, batch: Batch):
        """What the core reads for ``batch``: embedded segments (N, G, D) and their timespans
        (N, G), sequence ``b * T + t`` for target t of window b (channel-independent)."""
        if self.core is None:
            raise ValueError("this network has no core (model='linear'): it reads no segments")
        z, observed, _, _ = self._normalise(self._deseasonalise(batch).values)
        T = self.config.n_targets
        z = torch.cat([self._affine(z[..., :T]), z[..., T:]], dim=-1)
        return self._segments(z, observed, batch)

    def _core_path(self, z, observed, batch: Batch):
        c = self.config
        B, T, S, M, D = z.shape[0], c.n_targets, c.segment, c.n_out_segments, c.width
        per_seq = c.targets_per_sequence
        x, seg_spans = self._segments(z, observed, batch)  # (N, G, D), (N, G)
        N = x.shape[0]
        y, _ = self.core(x, None, seg_spans)
        hidden = self.from_core(last_output(y)).view(B, -1, D)  # (B, N/B, D)
        if self.channel is not None:
            hidden = hidden + self.channel.view(1, T, D)
        query = self.position.view(1, M, D)
        if self.from_future is not None:
            fut = F.pad(batch.future, (0, 0, 0, M * S - c.horizon))  # (B, M*S, Kf)
            query = query + self.from_future(fut.reshape(B, M, -1))  # (B, M, D)
        # What is per sequence and what is per segment are added where they are small; the
        # activation of their sum (N, M, D) is the readout's one pass over it, the sum never
        # formed (kernels/tanh_dropout).
        act = tanh_dropout(hidden.reshape(N, D), query, c.dropout, self.training)
        out = self.out(act)  # (N, M, S*per_seq*Q)
        out = out.view(N, M * S, per_seq, c.n_outputs)[:, : c.horizon]  # (N, H, per_seq, Q)
        if per_seq == 1:
            out = out.view(B, T, c.horizon, c.n_outputs).transpose(1, 2)
        return out  # (B, H, T, Q)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Forecast (B, H, T, Q) in the series' scaled units from a :class:`Batch`."""
        linear, core, mean, std = self._paths(self._deseasonalise(batch))
        if core is None:
            out = linear
        elif linear is None:
            out = core
        else:
            # The point forecasts are combined; quantiles keep the core's spread around its point.
            point = core[..., self.config.point_output:self.config.point_output + 1]
            share = self.blend.view(1, -1, 1, 1)
            out = linear + share * (point - linear) + (core - point)
        out = self._restore(out, mean, std)
        return out if self.config.n_calendar == 0 else out + self._season_ahead(batch).unsqueeze(-1)

    def _paths(self, batch: Batch):
        """Both paths' forecasts (B, H, T, Q) in the core's normalised units (the linear path's
        own without a core; None for a path the network lacks) and the mean and std (B, 1, T)
        that restore them, from a deseasonalised ``batch``."""
        T = self.config.n_targets
        linear = core = None
        if self.linear is not None:
            z, _, mean, std = self._normalise(batch.values, self.window_norm)
            linear = self._linear_path(z, batch)
        if self.core is None:
            return linear, core, mean[..., :T], std[..., :T]
        z, observed, core_mean, core_std = self._normalise(batch.values)
        if linear is not None:
            # Into the core's units: the identity, to the bit, when both are per window.
            ratio, shift = std / core_std, (mean - core_mean) / core_std  # (B, 1, T)
            linear = linear * ratio.unsqueeze(-1) + shift.unsqueeze(-1)
        # RevIN's affine wraps the core alone: the linear path keeps its closed-form solution.
        affine = torch.cat([self._affine(z[..., :T]), z[..., T:]], dim=-1)
        core = self._unaffine(self._core_path(affine, observed, batch))
        return linear, core, core_mean[..., :T], core_std[..., :T]

    @torch.no_grad()
    def fit_blend(self, batches) -> torch.Tensor:
        """Choose, per horizon step, the share of the core's point forecast that minimises the
        squared error (in the series' scaled units, the training loss's) over ``batches`` of
        held-out windows: the least-squares weight of the core against the linear path, kept in
        [0, 1] (Bates & Granger, 1969, on combining forecasts)."""
        if self.core is None or self.linear is None:
            return self.blend
        num = torch.zeros(self.config.horizon, dtype=torch.float64)
        den = torch.zeros_like(num)
        for batch in batches:
            batch = self._deseasonalise(batch)
            linear, core, mean, std = self._paths(batch)
            target = (batch.target - mean) / std  # (B, H, T)
            weight = std.double() ** 2  # (B, 1, T): errors count in scaled units
            seen = ~torch.isnan(target)
            k = self.config.point_output
            gap = (core[..., k] - linear[..., k]).double()
            miss = (torch.nan_to_num(target) - linear[..., k]).double()
            num += (weight * gap * miss * seen).sum((0, 2))
            den += (weight * gap * gap * seen).sum((0, 2))
        share = torch.where(den > 0, num / den.clamp(min=1e-30), torch.ones_like(num)).clamp(0.0, 1.0)
        self.blend.copy_(share.float())
        return self.blend

    # ----- the linear path's closed-form start (liquidts.forecast.ridge) ------------------------
    def linear_blocks(self) -> dict:
        """Column indices of the linear path's input blocks; the first is always used."""
        c = self.config
        L, R, F = c.lookback, c.segment * c.n_covariates, c.n_calendar + c.horizon * (c.n_future - c.n_calendar)
        blocks = {"lookback": torch.arange(L), "covariates": torch.arange(L, L + R),
                  "future": torch.arange(L + R, L + R + F)}
        return {name: cols for name, cols in blocks.items() if len(cols)}

    @torch.no_grad()
    def linear_regression_rows(self, batch: Batch):
        """The linear path's least-squares rows for ``batch``: inputs (B*T, P), normalised targets
        (B*T, H) (NaN where missing) and row weights (B*T, 1), all float64."""
        c = self.config
        T = c.n_targets
        batch = self._deseasonalise(batch)
        z, _, mean, std = self._normalise(batch.values, self.window_norm)
        x = self._linear_inputs(z, batch)
        m, s = mean[:, 0, :T].double(), std[:, 0, :T].double()  # (B, T)
        # One copy of the targets, (B, H, T) -> (B, T, H) in float64, normalised in place.
        y = batch.target.transpose(1, 2).to(torch.float64, memory_format=torch.contiguous_format)
        y.sub_(m.unsqueeze(-1)).div_(s.unsqueeze(-1))
        return x.double(), y.view(len(x), -1), s.reshape(-1, 1)

    @torch.no_grad()
    def set_season(self, values: torch.Tensor, calendar: torch.Tensor, cycles: list) -> None:
        """Fit each target's seasonal profile to ``values`` (N, T) (scaled, NaN where missing) at
        rows with ``calendar`` (N, K): least squares on the sin/cos pair of each calendar cycle
        (the pairs of columns 2c, 2c + 1 for c in ``cycles``) and an intercept (which the profile
        leaves out: the normalisation takes the level), in float64. Each target keeps the cycles
        whose subset has the least BIC (Schwarz 1978): a cycle the data barely show (a
        day-of-week pattern in temperatures) would otherwise be fitted to noise and added to every
        forecast."""
        self.season.zero_()
        if not cycles:
            return
        subsets = [[c for i, c in enumerate(cycles) if mask >> i & 1] for mask in range(2 ** len(cycles))]
        for t in range(self.config.n_targets):
            y = values[:, t].double()
            seen = ~torch.isnan(y)
            y, features = y[seen], calendar[seen].double()
            n = len(y)
            intercept = torch.ones(n, 1, dtype=torch.float64)
            best = (math.inf, None, [])
            for subset in subsets:
                cols = [k for c in subset for k in (2 * c, 2 * c + 1)]
                if n <= len(cols) + 1:
                    continue
                x = torch.cat([features[:, cols], intercept], dim=1)
                solution = torch.linalg.lstsq(x, y.unsqueeze(1)).solution[:, 0]
                rss = float(((x @ solution - y) ** 2).sum())
                bic = n * math.log(max(rss, 1e-300) / n) + x.shape[1] * math.log(n)
                if bic < best[0]:
                    best = (bic, solution[:-1], cols)
            if best[2]:
                self.season[best[2], t] = best[1].float()

    @torch.no_grad()
    def set_window_normalisation(self, on: bool) -> None:
        self.window_norm.fill_(1.0 if on else 0.0)

    @torch.no_grad()
    def set_linear_path(self, solution: torch.Tensor, blocks: list) -> None:
        """Set the linear path from a least-squares ``solution`` (P + 1, H) (intercept last), reading
        only the named ``blocks``."""
        c = self.config
        P, H, Q = c.linear_features, c.horizon, c.n_outputs
        mask = torch.zeros(P)
        for name, cols in self.linear_blocks().items():
            if name in blocks:
                mask[cols] = 1.0
        self.linear_mask.copy_(mask)
        weight = solution[:P].T.repeat(Q, 1)  # (Q*H, P): row q*H + h
        bias = solution[P].repeat(Q)
        order = torch.arange(H * Q).view(Q, H).T.reshape(-1)  # row h*Q + q, the layout forward reads
        self.linear.weight.copy_(weight[order].float())
        self.linear.bias.copy_(bias[order].float())
