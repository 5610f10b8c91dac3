"""LiquidForecaster: a scikit-learn style estimator that forecasts DataFrames with liquid networks.

Data flow: DataFrame -> validate -> per-series scaling -> stacked rows (values, elapsed times,
calendar, features known ahead) -> windows gathered by cutoff -> :class:`ForecastNetwork`
(window normalisation, segments, core, parallel readout, linear path) -> inverse scaling ->
DataFrame indexed by the future timestamps. ``predict(df=...)`` runs the same path with the
fitted scaler and network, so training and serving cannot drift apart.

Letters: L lookback, H horizon, C columns (T targets, then covariates), Q outputs per target.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import math
import operator
import os
import tempfile
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from liquidts.forecast.base import QUANTILE_GRID, BaseForecaster, check_quantiles
from liquidts.forecast.validate import Panel, Series, check_positive_int
from liquidts.forecast.windows import (CALENDAR_PERIODS, Rows, calendar_features, calendar_names, elapsed,
                                       fit_scaler, index_values, infer_step, stack_rows)

# torch, safetensors and the modules built on torch (cores, distributed, network, ridge,
# training) are imported in the functions that use them, so that importing, making, cloning or
# printing a forecaster starts without torch (start-up time: about 1.3 s).
if TYPE_CHECKING:
    import torch
    from torch import nn

    from liquidts.forecast.network import ForecastNetwork, NetworkConfig

_FORMAT = "liquidts.LiquidForecaster/5"
# Format 4 had no seasonal profile: its networks are format 5's with a zero profile.
_FORMAT_BEFORE_SEASON = "liquidts.LiquidForecaster/4"
# Format 3 applied normalization="series" to the core as well; its files load where the linear
# path was per window too (window_norm 1: the same network), and say so otherwise.
_FORMAT_BEFORE_PER_PATH = "liquidts.LiquidForecaster/3"
CV_FOLDS = 5  # blocked cross-validation folds choosing the linear path's start
#: deseasonalize="auto" removes the calendar cycles the training data repeat fewer times than
#: this. Measured on the benchmark suites (benchmarks/results/seattle.md and docs/forecasting.md):
#: every cycle removed helps on daily Seattle (3.5 yearly cycles) and ETTh1, and costs 1-2% on
#: ETTh2 and 7% on Weather, whose daily and weekly cycles (52-480 repetitions) the network learns
#: better than a fixed profile (benchmarks/results/deseasonalize.md).
FEW_CYCLES = 10
NORMALIZATIONS = ("window", "series", "auto")


class LiquidForecaster(BaseForecaster):
    """Forecast one or many time series with a liquid (CfC/LTC/NCP) or baseline sequence core.

    Parameters
    ----------
    model : str or torch.nn.Module, default "cfc"
        The sequence core: ``"cfc"``, ``"ltc"``, ``"ncp"`` (CfC on an AutoNCP wiring), a
        baseline from ``liquidts.baselines.BASELINES`` (``"lstm"``, ``"gru"``, ``"mamba"``,
        ``"xlstm"``), ``"linear"`` (no core: the linear path alone, the ablation), or a module
        following ``y, h = module(x, hx, timespans)`` that reads ``units`` features per segment.
    horizon : int, default 24
        Steps forecast at once; ``predict(h)`` accepts any ``h <= horizon``.
    lookback : int or None, default None
        Past steps the model reads; None: ``max(96, 2 * horizon)``, at most 720.
    target, covariates, future_covariates, time_col, id_col :
        Column roles. ``target`` (default: the only numeric column, or ``y`` in long format)
        may list several columns. ``covariates`` default: all other numeric columns (known up
        to the forecast origin). ``future_covariates``: covariates whose future values you
        give to ``predict(futr_df=...)``.
    calendar : bool, default True
        Add sin/cos of hour of day, day of week and day of year to each step's inputs and to the
        features known for the forecast steps: each cycle that varies at the data's step and that
        the training data covers at least twice.
    deseasonalize : {"auto", True, False}, default "auto"
        Subtract from each target its seasonal profile (a least-squares fit of calendar cycles'
        sin/cos features to the training rows, each target keeping the cycles that lower its
        BIC) before either path reads it, and add the profile back to the forecast: the network
        then models departures from the seasonal normal. ``"auto"``: only the cycles the data
        repeat fewer than :data:`FEW_CYCLES` times (three years of daily data: the yearly
        cycle), of whose phases the network sees too few examples to learn them from its
        calendar inputs (per-window normalisation then reads a season's rise or fall inside a
        lookback as a trend that goes on past the season's turn); recurrent forecasters on
        few seasons gain most from deseasonalised inputs (Hewamalage, Bergmeir & Bandara 2021).
        ``True``: every calendar cycle; ``False``: none. Needs ``calendar=True``. The profile is
        ``net_.season``.
    channels : {"independent", "mixed"}, default "independent"
        ``"independent"``: one shared network reads each target on its own (with the covariates
        and calendar), as PatchTST and DLinear do; ``"mixed"``: one sequence reads all targets.
    normalization : {"auto", "window", "series"}, default "auto"
        The linear path's scaling (the core always reads each window normalised by the window's
        own mean and std, restored at the output: RevIN, Kim et al. 2022). ``"window"``: the
        same for the linear path (RLinear), robust to a level that drifts. ``"series"``: the
        series' scaling, so the linear path sees absolute levels (a stationary series with a
        strong seasonal level returns to it). ``"auto"``: the series' scaling where the linear
        path's forward-chaining cross-validation finds it better on average and on the most
        recent fold, else ``"window"`` (liquidts.forecast.ridge.choose); the choice is
        ``net_.window_norm`` (1: per window).
    segment : int or None, default None
        Steps per segment the core reads as one input; None: ``lookback / 8`` rounded (at least 1).
    units : int, default 64
        Width of the segment embedding, the core and the readout.
    backbone_units : int, default 64
        Backbone width of the CfC core.
    linear_path : bool, default True
        Add a linear map from each target's normalised lookback to its horizon, started at the
        ridge solution; the core learns what it leaves.
    dropout : float, default 0.1
        Dropout in the readout.
    loss : {"mse", "mae", "quantile"}, default "mse"
        With ``"quantile"`` the network forecasts ``quantiles`` and the point forecast is the
        median; otherwise intervals come from the quantiles of held-out residuals.
    max_epochs, batch_size, learning_rate, weight_decay : training (AdamW, decoupled decay).
    windows_per_epoch : int or None, default 16384
        An epoch trains on at most this many windows, drawn afresh in random order each epoch
        (None: all), so large data sets cost a bounded time per epoch.
    validation_fraction, patience : the last fraction of each series' windows is held out
        for early stopping; training stops after ``patience`` epochs without improvement and
        keeps the best weights. ``validation_fraction=0`` trains ``max_epochs`` epochs.
    warm_start : bool, default False
        A second ``fit`` continues from the fitted network and scaler instead of starting over.
    random_state : int or None; device : "cpu", "cuda" or "auto".
    n_threads : int or None, default 1
        torch CPU threads during fit and predict (the caller's setting is restored after);
        small recurrent networks run fastest on one. None leaves torch's setting alone.
    verbose : bool, default False
        Show a tqdm progress bar while fitting.
    checkpoint : str or path or None, default None
        A file where ``fit`` saves its training state after every epoch (weights, optimizer,
        random states, epoch count, early-stopping record; written atomically). A fit started
        while a checkpoint of the same fit (same data and parameters) exists resumes from it and
        ends with the weights the uninterrupted fit would have (on CPU); the file is removed when
        the fit completes. A checkpoint of another fit is overwritten, with a warning.

    Attributes (after fit): ``net_``, ``lookback_``, ``segment_``, ``n_features_in_``,
    ``targets_``, ``covariates_``, ``step_``, ``freq_``, ``n_epochs_``, ``loss_curve_``,
    ``validation_scores_`` (per epoch, while the network trains: the core's own forecast where
    there is a core),
    ``best_validation_score_`` (the best of them), ``validation_score_`` (the fitted forecaster's:
    the two paths blended, on the same windows; None without validation windows), ``history_``,
    ``residual_grid_`` (``*_score_``: mean ``loss`` in the series' scaled units).

    Training across processes: under ``torchrun`` (every process running the same script on the
    same data) ``fit`` joins the default ``torch.distributed`` process group, initialising it from
    torchrun's environment when the script has not (gloo on the CPU, NCCL with ``device="cuda"``,
    each process on GPU ``LOCAL_RANK``). Every process draws the same windows and takes its share
    of each batch of ``batch_size`` (the global batch); the gradients are summed across processes,
    so with ``dropout=0`` the fit equals the single-process fit up to float rounding (with dropout
    each process draws its own masks). All processes end with rank 0's network. ``save`` writes on
    rank 0 only, after every process has called it (a barrier): call it on every process.
    See liquidts.forecast.distributed and docs/forecasting.md.
    """

    _max_h_is_horizon = True

    def __init__(self, model="cfc", horizon=24, lookback=None, target=None, covariates=None,
                 future_covariates=None, time_col=None, id_col=None, calendar=True, deseasonalize="auto",
                 channels="independent", normalization="auto", segment=None, units=64,
                 backbone_units=64, linear_path=True,
                 dropout=0.1, loss="mse", quantiles=(0.1, 0.5, 0.9), max_epochs=30, batch_size=128,
                 windows_per_epoch=16384,
                 learning_rate=1e-3, weight_decay=1e-4, validation_fraction=0.1, patience=5,
                 warm_start=False, random_state=None, device="cpu", n_threads=1, verbose=False,
                 checkpoint=None):
        self.model = model
        self.horizon = horizon
        self.lookback = lookback
        self.target = target
        self.covariates = covariates
        self.future_covariates = future_covariates
        self.time_col = time_col
        self.id_col = id_col
        self.calendar = calendar
        self.deseasonalize = deseasonalize
        self.channels = channels
        self.normalization = normalization
        self.segment = segment
        self.units = units
        self.backbone_units = backbone_units
        self.linear_path = linear_path
        self.dropout = dropout
        self.loss = loss
        self.quantiles = quantiles
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.windows_per_epoch = windows_per_epoch
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose
        self.checkpoint = checkpoint

    # ----- parameter checks -------------------------------------------------------------
    def _check_params(self) -> None:
        from liquidts.forecast.network import CHANNELS
        from liquidts.forecast.training import LOSSES

        check_positive_int(self.horizon, "horizon")
        for name in ("lookback", "segment"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        for name in ("units", "backbone_units", "max_epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.windows_per_epoch is not None:
            check_positive_int(self.windows_per_epoch, "windows_per_epoch")
        if self.n_threads is not None:
            check_positive_int(self.n_threads, "n_threads")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "quantile":
            check_quantiles(self.quantiles)
        if self.channels not in CHANNELS:
            raise ValueError(f"channels must be one of {CHANNELS}, got {self.channels!r}")
        if not (isinstance(self.deseasonalize, (bool, np.bool_)) or self.deseasonalize == "auto"):
            raise ValueError(f"deseasonalize must be 'auto', True or False, got {self.deseasonalize!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        _check_range(self.learning_rate, "learning_rate", 0, math.inf, low_open=True)
        _check_range(self.weight_decay, "weight_decay", 0, math.inf)
        _check_range(self.dropout, "dropout", 0, 1, high_open=True)
        _check_range(self.validation_fraction, "validation_fraction", 0, 1, high_open=True)
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")
        if self.checkpoint is not None:
            if not isinstance(self.checkpoint, (str, os.PathLike)):
                raise TypeError(f"checkpoint must be a file path or None, got {type(self.checkpoint).__name__}")
            folder = os.path.dirname(os.path.abspath(os.fspath(self.checkpoint)))
            if not os.path.isdir(folder) or os.path.isdir(os.fspath(self.checkpoint)):
                raise ValueError(f"checkpoint={os.fspath(self.checkpoint)!r} must be a file in an existing folder")

    def _resolve_device(self) -> torch.device:
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA GPU is available; use device='cpu' or 'auto'")
        return torch.device(self.device)

    def _quantile_levels(self) -> tuple[float, ...]:
        return tuple(sorted(check_quantiles(self.quantiles))) if self.loss == "quantile" else ()

    def _history_rows(self) -> int:
        # One row before the lookback gives its first step's elapsed time.
        return self.lookback_ + 1

    # ----- data -> tensors ----------------------------------------------------------------
    def _scaler_for(self, s: Series):
        k = self._scaler_index_.get(s.uid)
        if k is None:  # a series not seen in fit: scale it by its own history
            return fit_scaler(s.values)
        return self.scaler_mean_[k], self.scaler_std_[k]

    def _future_columns(self) -> list[int]:
        return [self.covariates_.index(c) + len(self.targets_) for c in self.future_covariates_]

    def _series_rows(self, s: Series, future_times_ns=None, future_values=None):
        """Per-row arrays of one series: (values (N, C) scaled, timespans (N,), calendar (N, K),
        known-ahead features (N, Kf)). With ``future_times_ns`` (H,), H rows of unknown values
        follow the series, carrying the calendar and ``future_values`` (H, future covariates)."""
        mean, std = self._scaler_for(s)
        times, values = s.times, s.values
        cols = self._future_columns()
        spans = elapsed(times, self.step_)
        if future_times_ns is not None:
            h = len(future_times_ns)
            spans = np.concatenate([spans, np.diff(np.r_[times[-1], future_times_ns]) / self.step_])
            times = np.concatenate([times, future_times_ns])
            blank = np.full((h, values.shape[1]), np.nan)
            if future_values is not None:
                blank[:, cols] = future_values
            values = np.concatenate([values, blank])
        with np.errstate(over="ignore"):
            scaled = (values - mean) / std
        # The network computes in float32: a series far off its fitted scale could overflow it.
        with np.errstate(invalid="ignore"):
            huge = np.abs(scaled) > 1e30
        if huge.any():
            name = (self.targets_ + self.covariates_)[int(np.flatnonzero(huge.any(0))[0])]
            where = f"column {name!r}" + (f" of series {s.uid!r}" if self.long_ else "")
            raise ValueError(f"{where} is more than 1e30 fitted standard deviations from the mean the model "
                             "was fitted on, beyond float32; refit on data of this scale")
        calendar = calendar_features(times, self.cal_names_, self.tz_)
        future = np.concatenate([calendar, scaled[:, cols]], axis=1)
        return scaled, spans, calendar, future

    def _training_rows(self, panel: Panel):
        """Stacked rows of every series and, per series, the cutoffs of its training and
        validation windows."""
        L, H = self.lookback_, self.horizon
        parts, train_cuts, val_cuts = [], [], []
        offset = 0
        for s in panel.series:
            n = len(s.times)
            if n < L + H:
                raise ValueError(
                    f"{f'series {s.uid!r}' if self.long_ else 'the data'} has {n} rows but lookback={L} + "
                    f"horizon={H} needs at least "
                    f"{L + H}; pass more history or lower lookback/horizon"
                )
            parts.append(self._series_rows(s))
            cutoffs = offset + np.arange(L - 1, n - H)
            n_val = int(round(len(cutoffs) * self.validation_fraction))
            val_cuts.append(cutoffs[len(cutoffs) - n_val:])
            if n_val:
                # Training windows must not see the validation targets: leave a gap of H.
                cutoffs = cutoffs[: max(len(cutoffs) - n_val - H + 1, 1)]
            train_cuts.append(cutoffs)
            offset += n
        rows, _ = stack_rows(parts, len(self.targets_))
        return rows, train_cuts, val_cuts

    def _start_linear_path(self, net: ForecastNetwork, rows: Rows, train_cuts: list, val_cuts: list):
        """The linear path's closed-form start: its inputs, penalty and the window normalisation
        chosen by forward-chaining cross-validation over all windows (see
        liquidts.forecast.ridge), then solved on the training windows."""
        from liquidts.forecast.ridge import fit_linear_path, normal_equations

        L, H = self.lookback_, self.horizon

        # Windows per pass, so one pass's least-squares rows stay near 2**22 numbers.
        chunk = max(1, 2**22 // (net.config.linear_features * net.config.n_targets))

        def equations(cuts):
            cuts = np.concatenate(cuts) if len(cuts) else np.zeros(0, dtype=np.int64)
            return normal_equations(net, (rows.gather(cuts[i: i + chunk], L, H)
                                          for i in range(0, len(cuts), chunk)))

        def total(equations_list):
            return functools.reduce(operator.add, [eq for eq in equations_list if eq is not None], None)

        # Each series' windows in CV_FOLDS consecutive blocks; a block's first and last H windows
        # are kept apart, so a fold can drop the edge next to its validation block: no training
        # target of a fold is then a validation target. Every piece is also cut where the series'
        # validation windows begin, so the training windows' equations are a sum of pieces and
        # no window is read twice.
        parts = [[[[], []] for _ in range(3)] for _ in range(CV_FOLDS)]  # block, head/body/tail, train/val
        rest = []  # training windows of series too short to cut into blocks
        for fitted, held_out in zip(train_cuts, val_cuts):
            windows = np.concatenate([fitted, held_out])
            if len(windows) < CV_FOLDS * (2 * H + 1):
                rest.append(fitted)
                continue
            for k, block in enumerate(np.array_split(windows, CV_FOLDS)):
                for e, piece in enumerate((block[:H], block[H: len(block) - H], block[len(block) - H:])):
                    seen = np.isin(piece, held_out)
                    parts[k][e][0].append(piece[~seen])
                    parts[k][e][1].append(piece[seen])
        candidates = {}
        for norm in {"window": (True,), "series": (False,), "auto": (True, False)}[self.normalization]:
            net.set_window_normalisation(norm)
            pieces = [[[equations(cuts) for cuts in piece] for piece in block] for block in parts]
            train_eq = total([equations(rest)] + [piece[0] for block in pieces for piece in block])
            if train_eq is None:
                return
            blocks = [[total(piece) for piece in block] for block in pieces]
            folds = []
            if all(eq is not None for block in blocks for eq in block):
                # Forward chaining: each block is forecast from the blocks before it, as the
                # future is from the past, so a level that drifts shows up as error.
                # The tail of the block just before is left out: its targets reach into block k.
                for k in range(1, CV_FOLDS):
                    earlier = [eq for j in range(k) for e, eq in enumerate(blocks[j]) if (j, e) != (k - 1, 2)]
                    folds.append((total(earlier), total(blocks[k])))
            candidates[norm] = (train_eq, folds)
        fit_linear_path(net, candidates)

    def _seasonal_cycles(self, span: int) -> list[int]:
        """The calendar cycles (indices into ``cal_names_``) the seasonal profile may use."""
        cycles = range(len(self.cal_names_))
        if isinstance(self.deseasonalize, str):  # "auto"
            return [c for c in cycles if span < FEW_CYCLES * CALENDAR_PERIODS[self.cal_names_[c]]]
        return list(cycles) if self.deseasonalize else []

    # ----- the network ---------------------------------------------------------------------
    def _network_config(self, n_calendar: int) -> NetworkConfig:
        from liquidts.forecast.network import NetworkConfig

        return NetworkConfig(
            lookback=self.lookback_, horizon=self.horizon, n_targets=len(self.targets_),
            n_covariates=len(self.covariates_), n_calendar=n_calendar,
            n_future=n_calendar + len(self.future_covariates_),
            n_outputs=len(self._quantile_levels()) or 1, point_output=self._point_index(),
            segment=self.segment_, width=self.units,
            channels=self.channels, linear_path=self.linear_path, dropout=self.dropout)

    def _new_net(self, config: NetworkConfig) -> ForecastNetwork:
        from liquidts.forecast.cores import build_core
        from liquidts.forecast.network import ForecastNetwork

        core = build_core(self.model, self.units, self.backbone_units)
        return ForecastNetwork(config, core)

    # ----- fitting -----------------------------------------------------------------------------
    def fit(self, df, y=None):
        """Fit on ``df`` (wide or long); with ``warm_start=True`` continue a previous fit."""
        self._check_params()
        keep = self.warm_start and hasattr(self, "net_")
        with _torch_threads(self.n_threads):
            return self._fit(df, epochs=self.max_epochs, keep=keep)

    def partial_fit(self, df, y=None):
        """One more epoch over ``df`` from the current network, scaler and optimizer (fit first
        if unfitted)."""
        self._check_params()
        with _torch_threads(self.n_threads):
            return self._fit(df, epochs=1, keep=hasattr(self, "net_"))

    def _fit(self, df, epochs: int, keep: bool):
        """Everything is computed into ``state`` and assigned at the end: an interrupted or
        failed fit leaves the previous fitted state as it was."""
        import torch

        from liquidts.forecast import distributed
        from liquidts.forecast.training import evaluate, train

        panel = self._validate(df, fitted=keep)
        state = {}
        if keep:
            self._check_warm_start()
            state.update(lookback_=self.lookback_, segment_=self.segment_, cal_names_=self.cal_names_,
                         scaler_ids_=self.scaler_ids_, scaler_mean_=self.scaler_mean_,
                         scaler_std_=self.scaler_std_)
        else:
            layout = self._layout(panel)
            lookback = self.lookback or min(720, max(96, 2 * self.horizon))
            stats = [fit_scaler(s.values) for s in panel.series]
            state.update(layout, lookback_=lookback,
                         segment_=self.segment or max(1, round(lookback / 8)),
                         cal_names_=(calendar_names(layout["step_"], _span(panel), layout["time_kind_"])
                                     if self.calendar else []),
                         scaler_ids_=[s.uid for s in panel.series],
                         scaler_mean_=np.stack([m for m, _ in stats]),
                         scaler_std_=np.stack([sd for _, sd in stats]))
        # The helpers below read the layout and scaler from self: give them the new ones on a
        # shallow copy, so self is untouched until the end.
        work = copy.copy(self)
        work.__dict__.update(state)
        work._scaler_index_ = {uid: k for k, uid in enumerate(work.scaler_ids_)}
        rows, train_per_series, val_per_series = work._training_rows(panel)
        train_cuts, val_cuts = np.concatenate(train_per_series), np.concatenate(val_per_series)
        device = self._resolve_device()
        # Several processes (torchrun) fit this forecaster together; None: this process alone.
        group = distributed.join(device)
        if group is not None:
            device = distributed.own_device(device)
        main = group is None or group.main  # the process that writes files
        seed, resume = self.random_state, None
        if self.checkpoint is not None:
            fingerprint = self._fingerprint(rows, train_cuts, val_cuts, keep)
            resume = _read_checkpoint(self.checkpoint, fingerprint) if main else None
            if group is not None:
                resume = group.broadcast_object(resume)
            if resume is not None and seed is None:
                seed = resume["seed"]  # the interrupted fit's seed, so the network starts the same
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
            if group is not None:
                seed = group.broadcast_object(seed)
        levels = self._quantile_levels()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if keep:
                net = copy.deepcopy(self.net_)
                n_epochs, optimizer_state = self.n_epochs_, getattr(self, "optimizer_state_", None)
            else:
                net = work._new_net(work._network_config(2 * len(work.cal_names_)))
                net.set_window_normalisation(self.normalization != "series")
                seen = _rows_of_windows(train_per_series, work.lookback_, self.horizon)
                net.set_season(rows.values[seen, : rows.n_targets], rows.calendar[seen],
                               work._seasonal_cycles(_span(panel)))
                if net.linear is not None:
                    work._start_linear_path(net, rows, train_per_series, val_per_series)
                n_epochs, optimizer_state = 0, None
            # The linear path keeps its closed-form solution; the core trains alone (share 1)
            # and the two are combined on held-out windows after training.
            if net.linear is not None:
                net.linear.requires_grad_(False)
            net.blend.fill_(1.0)
            net.to(device)
            if group is not None:
                group.broadcast(net)
            bar = _progress(self.verbose and main, epochs)
            run = train(net, rows, train_cuts, val_cuts, lookback=work.lookback_, horizon=self.horizon,
                        loss=self.loss, levels=levels, epochs=epochs, batch_size=self.batch_size,
                        learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                        patience=self.patience, generator=torch.Generator().manual_seed(seed),
                        device=device, windows_per_epoch=self.windows_per_epoch,
                        optimizer_state=optimizer_state, progress=bar,
                        resume=None if resume is None else resume["train"],
                        checkpoint=None if self.checkpoint is None or not main else _checkpoint_writer(
                            self.checkpoint, fingerprint, seed), group=group, seed=seed)
            bar.close()
        if run.diverged:
            warnings.warn(
                f"training diverged (non-finite loss) after {run.epochs} epoch(s) with "
                f"learning_rate={self.learning_rate}; the last finite weights were kept. Lower "
                "learning_rate.", RuntimeWarning, stacklevel=3)
        net.to("cpu").eval()
        residual_cuts = val_cuts if len(val_cuts) else train_cuts
        net.fit_blend(rows.batches(residual_cuts, work.lookback_, self.horizon, net.config.windows_per_pass))
        if group is not None:
            group.broadcast(net)  # every process ends with rank 0's network
        # What the fitted forecaster scores on the validation windows: during training the core
        # forecast alone (share 1), so its scores leave out what the blend adds.
        validation_score = (evaluate(net, rows, val_cuts, work.lookback_, self.horizon, self.loss, levels,
                                     torch.device("cpu"), group=group) if len(val_cuts) else None)
        state.update(net_=net, device_=str(device), n_epochs_=n_epochs + run.epochs,
                     core_name_=_model_name(self.model), normalization_=self.normalization,
                     loss_curve_=run.loss_curve, validation_scores_=run.validation_scores,
                     best_validation_score_=run.best_score, validation_score_=validation_score,
                     optimizer_state_=run.optimizer_state,
                     n_features_in_=net.config.step_features,
                     residual_grid_=work._residual_grid(net, rows, residual_cuts))
        history = panel.series if not keep else self._merged_history(panel)
        self.__dict__.update(state)
        self._scaler_index_ = work._scaler_index_
        self._store_history(history)
        if self.checkpoint is not None and main and os.path.exists(self.checkpoint):
            os.remove(self.checkpoint)  # the fit is complete: nothing left to resume
        return self

    def _fingerprint(self, rows: Rows, train_cuts, val_cuts, keep: bool) -> str:
        """What makes two fits the same fit: the parameters that shape training, the training rows
        and windows, and (warm start) the network and epochs it starts from."""
        import torch
        from torch import nn

        ignore = {"checkpoint", "verbose", "n_threads", "device"}
        params = {k: v for k, v in self.get_params().items() if k not in ignore}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode())
        if isinstance(self.model, nn.Module):
            digest.update(_checksum(dict(self.model.state_dict()), "").encode())
        arrays = [rows.values, rows.timespans, rows.calendar, rows.future,
                  torch.as_tensor(np.asarray(train_cuts)), torch.as_tensor(np.asarray(val_cuts))]
        digest.update(_checksum({str(i): a for i, a in enumerate(arrays)}, "").encode())
        if keep:
            digest.update(_checksum(dict(self.net_.state_dict()), str(self.n_epochs_)).encode())
        return digest.hexdigest()

    def _layout(self, panel: Panel) -> dict:
        step, freq = infer_step(panel)
        return dict(targets_=list(panel.targets), covariates_=list(panel.covariates),
                    future_covariates_=list(panel.future_covariates), long_=panel.long,
                    time_name_=panel.time_name, id_name_=panel.id_name, step_=step, freq_=freq,
                    time_kind_=panel.time_kind, tz_=panel.tz)

    def _check_warm_start(self) -> None:
        """A warm start continues the same network: the parameters that shape it must not change."""
        fitted = self.net_.config
        lookback = self.lookback or self.lookback_
        segment = self.segment or self.segment_
        changed = [name for name, now, before in (
            ("horizon", self.horizon, fitted.horizon), ("lookback", lookback, fitted.lookback),
            ("segment", segment, fitted.segment), ("units", self.units, fitted.width),
            ("channels", self.channels, fitted.channels), ("linear_path", self.linear_path, fitted.linear_path),
            ("model", _model_name(self.model), self.core_name_),
            ("normalization", self.normalization, self.normalization_),
            ("quantiles", len(self._quantile_levels()) or 1, fitted.n_outputs),
        ) if now != before]
        if changed:
            raise ValueError(f"warm start continues the fitted network, but {changed} changed since it "
                             "was fitted; refit from scratch (warm_start=False) to change them")

    def _merged_history(self, panel: Panel) -> list[Series]:
        """History after a warm start: the new frame's series replace the stored ones of the same id."""
        by_id = {s.uid: s for s in self.history_}
        by_id.update({s.uid: s for s in panel.series})
        return list(by_id.values())

    def _point_index(self) -> int:
        qs = self._quantile_levels()
        return int(np.argmin([abs(q - 0.5) for q in qs])) if qs else 0

    def _residual_grid(self, net, rows: Rows, cutoffs) -> np.ndarray:
        """Quantiles of the held-out residuals per horizon step and target, in scaled units (99, H, T)."""
        import torch

        resid = []
        with torch.no_grad():
            for b in rows.batches(cutoffs, self.lookback_, self.horizon, net.config.windows_per_pass):
                resid.append((b.target - net(b)[..., self._point_index()]).numpy())
        return column_quantiles(np.concatenate(resid), QUANTILE_GRID)

    def score(self, df) -> float:
        """Mean loss (the ``loss`` it was fitted with, in scaled units) over every window of ``df``."""
        from liquidts.forecast.training import evaluate

        self._check_fitted()
        panel = self._validate(df, fitted=True)
        parts, cuts, offset = [], [], 0
        for s in panel.series:
            n = len(s.times)
            parts.append(self._series_rows(s))
            cuts.append(offset + np.arange(self.lookback_ - 1, n - self.horizon))
            offset += n
        rows, _ = stack_rows(parts, len(self.targets_))
        with _torch_threads(self.n_threads):
            return evaluate(self.net_, rows, np.concatenate(cuts), self.lookback_, self.horizon, self.loss,
                            self._quantile_levels(), "cpu")

    # ----- forecasting ---------------------------------------------------------------------
    def core_inputs(self, df=None):
        """What the sequence core reads for the forecast from the end of each series of ``df``
        (default: the training history): embedded segments (N, G, units) and their timespans
        (N, G), one sequence per series and target. The plotting module traces neurons on these."""
        with _torch_threads(self.n_threads):
            return self.net_.core_inputs(self.forecast_window(df)[0])

    def forecast_window(self, df=None):
        """The network's input for the forecast from the end of each series of ``df`` (default: the
        training history), and each series' scaler: ``(batch, mean (S, C), std (S, C))``. ``net_(batch)``
        is the forecast (S, H, T, Q) in scaled units; ``out * std[:, None, :T, None] + mean[...]`` restores
        the series' units (what ``predict`` does). Used by ``liquidts.export`` to feed exported networks."""
        self._check_fitted()
        series = self.history_ if df is None else self._validate(df, fitted=True).series
        H = self.horizon
        stamps = [self._future_times(s, H) for s in series]
        scales = [self._scaler_for(s) for s in series]
        return (self._forecast_batch(series, H, [None] * len(series), stamps),
                np.stack([m for m, _ in scales]), np.stack([sd for _, sd in scales]))

    def _forecast_batch(self, series, h, futr, stamps):
        """The window ending at each series' last row, with its H forecast steps ahead."""
        L, H = self.lookback_, self.horizon
        parts = []
        for s, fv, t in zip(series, futr, stamps):
            if len(s.times) < L:
                raise ValueError(f"{f'series {s.uid!r}' if self.long_ else 'the data'} has {len(s.times)} rows "
                                 "but the model reads "
                                 f"lookback={L}; pass at least {L} rows of history")
            tail = Series(s.uid, s.times[-(L + 1):], s.values[-(L + 1):])
            # The network always reads all H future steps: the calendar is known for each, and
            # the user's future covariates (given for h steps) are padded with their last value.
            if h < H:
                t = self._future_times(s, H)
                if fv is not None:
                    fv = np.concatenate([fv, np.repeat(fv[-1:], H - h, axis=0)])
            parts.append(self._series_rows(tail, index_values(t), fv))
        rows, starts = stack_rows(parts, len(self.targets_))
        last = [start + min(len(s.times), L + 1) - 1 for start, s in zip(starts, series)]
        return rows.gather(last, L, H, with_target=False)

    def _forecast(self, series, h, futr, qs, stamps):
        import torch

        batch = self._forecast_batch(series, h, futr, stamps)
        with _torch_threads(self.n_threads), torch.no_grad():
            out = self.net_(batch)[:, :h].numpy().astype(np.float64)  # (S, h, T, Q)
        scales = [self._scaler_for(s) for s in series]
        T = len(self.targets_)
        mean = np.stack([m[:T] for m, _ in scales])[:, None, :, None]
        std = np.stack([sd[:T] for _, sd in scales])[:, None, :, None]
        out = out * std + mean  # (S, h, T, Q)
        points = list(out[..., self._point_index()])
        if not qs:
            return points, None
        fitted = self._quantile_levels()
        if not fitted:
            return points, self._scaled_residual_quantiles(qs, points, std[..., 0], h)
        missing = [q for q in qs if not any(np.isclose(q, f) for f in fitted)]
        if missing:
            raise ValueError(f"quantiles {missing} were not fitted; this model forecasts {list(fitted)} "
                             "(set quantiles= before fit)")
        # Quantile heads are trained separately and can cross; sorting them restores the order
        # the levels promise (Chernozhukov et al., 2010: rearrangement never increases the loss).
        ordered = np.sort(out, axis=-1)
        return points, {q: list(ordered[..., int(np.argmin([abs(q - f) for f in fitted]))]) for q in qs}

    def _rolling_forecast(self, df, series: Series, start: int, h: int) -> np.ndarray:
        import torch

        L, H, T = self.lookback_, self.horizon, len(self.targets_)
        if start < L:
            raise ValueError(f"the first origin needs lookback={L} rows before it; start must be >= {L}")
        if self.future_covariates_:
            raise ValueError("rolling_forecast cannot read future covariates from df; with future_covariates "
                             "call predict(df=..., futr_df=...) per origin")
        # H blank rows after the end carry the calendar of the last origins' forecast steps.
        after = index_values(self._future_times(series, H))
        rows, _ = stack_rows([self._series_rows(series, after)], T)
        origins = np.arange(start, len(series.times) - h + 1)
        out = []
        with _torch_threads(self.n_threads), torch.no_grad():
            for batch in rows.batches(origins - 1, L, H, self.net_.config.windows_per_pass, with_target=False):
                out.append(self.net_(batch)[:, :h, :, self._point_index()].numpy())
        mean, std = self._scaler_for(series)
        return np.concatenate(out).astype(np.float64) * std[:T] + mean[:T]

    def _scaled_residual_quantiles(self, qs, points, std, h):
        """Point + residual quantile (kept in scaled units) times each series' std."""
        out = {}
        grid = self.residual_grid_
        for q in qs:
            level = np.empty(grid.shape[1:])
            for k in range(grid.shape[1]):
                for j in range(grid.shape[2]):
                    level[k, j] = np.interp(q, QUANTILE_GRID, grid[:, k, j])
            out[q] = [p + level[:h] * sd for p, sd in zip(points, std)]
        return out

    # ----- persistence -------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted forecaster to one safetensors file (weights, scaler, history, config).

        The file is written next to ``path`` under a temporary name and then renamed over it, so an
        existing model file is replaced whole or not at all. A SHA-256 of the tensors and the
        metadata is stored with them and checked by :meth:`load`.

        Across processes (torch.distributed), only rank 0 writes, and every process returns once
        the file is written: call ``save`` on every process."""
        import torch

        from liquidts.forecast import distributed

        self._check_fitted()
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        params["model"] = self.model if isinstance(self.model, str) else None
        if params.get("checkpoint") is not None:
            params["checkpoint"] = os.fspath(params["checkpoint"])
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        arrays = {"scaler.mean": self.scaler_mean_, "scaler.std": self.scaler_std_,
                  "residual_grid": self.residual_grid_}
        for i, s in enumerate(self.history_):
            arrays[f"history.{i}.times"] = s.times
            arrays[f"history.{i}.values"] = s.values
        tensors.update({k: torch.from_numpy(np.array(v, order="C")) for k, v in arrays.items()})
        state = {
            "format": _FORMAT,
            "params": params,
            "tuple_params": [k for k, v in self.get_params().items() if isinstance(v, tuple)],
            "targets_": self.targets_, "covariates_": self.covariates_,
            "future_covariates_": self.future_covariates_, "long_": self.long_,
            "time_name_": self.time_name_, "id_name_": self.id_name_, "step_": self.step_,
            "freq_": self.freq_, "time_kind_": self.time_kind_,
            "tz_": None if self.tz_ is None else str(self.tz_),
            "lookback_": self.lookback_, "segment_": self.segment_,
            "cal_names_": self.cal_names_, "n_features_in_": self.n_features_in_,
            "n_epochs_": self.n_epochs_, "device_": self.device_, "core_name_": self.core_name_,
            "normalization_": self.normalization_,
            "scaler_ids_": [_encode_id(u) for u in self.scaler_ids_],
            "history_ids": [_encode_id(s.uid) for s in self.history_],
            "network": vars(self.net_.config),
        }
        try:
            meta = json.dumps(state, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot save this forecaster: a parameter or column name is not a plain "
                             f"string/number ({exc})") from None
        group = distributed.current(torch.device("cpu"))
        try:
            if group is None or group.main:
                write_checked(path, tensors, meta)
        finally:
            if group is not None:
                group.barrier()  # the file is there when save returns on any process

    @classmethod
    def load(cls, path, model: nn.Module | None = None) -> "LiquidForecaster":
        """Read a forecaster written by :meth:`save` (no pickle). A forecaster fitted with a
        custom module needs that module's class again: pass a fresh instance as ``model``.

        A file that is not one :meth:`save` wrote, or one altered since (truncated, flipped bytes),
        raises ``ValueError("not a valid liquidts file: ...")``."""
        import torch

        from liquidts.forecast.network import NetworkConfig

        state, tensors = read_checked(path, "LiquidForecaster", (_FORMAT, _FORMAT_BEFORE_SEASON,
                                                                 _FORMAT_BEFORE_PER_PATH))
        if state["format"] == _FORMAT_BEFORE_PER_PATH and float(tensors["net.window_norm"]) == 0.0:
            raise ValueError(f"{os.fspath(path)} was saved by an earlier liquidts, whose series scaling "
                             "(normalization='series', or 'auto' choosing it) applied to the core as well; this "
                             "version normalises the core per window, so that model cannot be run as it was "
                             "fitted: refit it and save it again")
        params = state["params"]
        if state["format"] != _FORMAT:
            params.setdefault("deseasonalize", False)
        for k in state["tuple_params"]:
            params[k] = tuple(params[k])
        if params["model"] is None:
            if model is None:
                raise ValueError("this forecaster was fitted with a custom module: pass model=<a new instance>")
            params["model"] = model
        est = cls(**params)
        for k in ("targets_", "covariates_", "future_covariates_", "long_", "time_name_", "id_name_",
                  "step_", "freq_", "time_kind_", "lookback_", "segment_", "cal_names_", "n_features_in_",
                  "n_epochs_", "device_", "core_name_", "normalization_"):
            setattr(est, k, state[k])
        est.tz_ = None if state["tz_"] is None else pd.Timestamp(0, tz=state["tz_"]).tz
        est.scaler_ids_ = [_decode_id(u) for u in state["scaler_ids_"]]
        est._scaler_index_ = {uid: k for k, uid in enumerate(est.scaler_ids_)}
        est.scaler_mean_ = tensors["scaler.mean"].numpy()
        est.scaler_std_ = tensors["scaler.std"].numpy()
        est.residual_grid_ = tensors["residual_grid"].numpy()
        est.history_ = [Series(_decode_id(uid), tensors[f"history.{i}.times"].numpy(),
                               tensors[f"history.{i}.values"].numpy())
                        for i, uid in enumerate(state["history_ids"])]
        est.net_ = est._new_net(NetworkConfig(**state["network"]))
        weights = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        if state["format"] != _FORMAT:
            weights["season"] = torch.zeros_like(est.net_.season)
        est.net_.load_state_dict(weights)
        est.net_.eval()
        return est


def _rows_of_windows(cutoffs_per_series: list, lookback: int, horizon: int) -> np.ndarray:
    """Indices of the stacked rows that windows ending at these cutoffs read or forecast."""
    spans = [np.arange(c[0] - lookback + 1, c[-1] + horizon + 1) for c in cutoffs_per_series if len(c)]
    return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)


def _checkpoint_writer(path, fingerprint: str, seed: int):
    """The ``checkpoint`` callback of :func:`train`: each epoch's loop state, written atomically."""
    import torch

    def write(train_state: dict) -> None:
        state = {"fingerprint": fingerprint, "seed": seed, "train": train_state}
        atomic_write(path, lambda tmp: torch.save(state, tmp))
    return write


def _read_checkpoint(path, fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it belongs to the fit with this fingerprint; None (with a
    warning when a file is there) otherwise."""
    import torch

    if not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        found = state["fingerprint"]
    except Exception as exc:  # a damaged or foreign file: start afresh rather than fail
        warnings.warn(f"checkpoint {os.fspath(path)!r} is unreadable ({type(exc).__name__}); starting afresh "
                      "and overwriting it", UserWarning, stacklevel=4)
        return None
    if found != fingerprint:
        warnings.warn(f"checkpoint {os.fspath(path)!r} belongs to another fit (other data or parameters); "
                      "starting afresh and overwriting it", UserWarning, stacklevel=4)
        return None
    return state


def atomic_write(path, write) -> None:
    """Call ``write(tmp)`` on a temporary path in ``path``'s directory, then rename it over ``path``:
    a crash (or Ctrl-C) mid-write leaves any existing file at ``path`` as it was."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_checked(path, tensors: dict, meta: str) -> None:
    """Write ``tensors`` and the JSON ``meta`` to one safetensors file at ``path``, atomically,
    with a SHA-256 of both that :func:`read_checked` verifies."""
    from safetensors.torch import save_file

    digest = _checksum(tensors, meta)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"liquidts": meta, "sha256": digest}))


def read_checked(path, writer: str, fmt: str | tuple) -> tuple[dict, dict]:
    """The metadata (a dict) and tensors of a file :func:`write_checked` wrote for ``writer``
    (a class name, for messages) in format ``fmt`` (or one of several, the current first). A
    missing file raises FileNotFoundError; any other file, or one altered since (truncated,
    flipped bytes), ``ValueError("not a valid liquidts file: ...")``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")

    def invalid(why):
        return ValueError(f"not a valid liquidts file: {path}: {why}")

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise invalid(f"unreadable as safetensors ({type(exc).__name__}: {exc})") from None
    if "liquidts" not in meta:
        raise invalid(f"not a file written by {writer}.save (no liquidts metadata)")
    try:
        state = json.loads(meta["liquidts"])
    except json.JSONDecodeError as exc:
        raise invalid(f"damaged metadata ({exc})") from None
    formats = (fmt,) if isinstance(fmt, str) else tuple(fmt)
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else None
        raise invalid(f"format {found!r}, but this version of liquidts reads {formats[0]!r}; refit the model "
                      "and save it again")
    if meta.get("sha256") != _checksum(tensors, meta["liquidts"]):
        raise invalid("checksum mismatch: the file was altered or damaged after it was saved")
    return state, tensors


def _checksum(tensors: dict, meta: str) -> str:
    """SHA-256 of the metadata and every tensor (name, dtype, shape, bytes) in name order."""
    import torch

    digest = hashlib.sha256(meta.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def column_quantiles(values: np.ndarray, levels) -> np.ndarray:
    """``np.nanquantile(values, levels, axis=0)`` with 0 for all-NaN columns. np.quantile sorts
    every column at once where np.nanquantile goes column by column, so the slow one takes only
    the columns with a NaN (both give the same figures where both apply)."""
    complete = ~np.isnan(values).any(axis=0)
    out = np.empty((len(levels), *values.shape[1:]))
    out[:, complete] = np.quantile(values[:, complete], levels, axis=0)
    if not complete.all():
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no residuals there
            out[:, ~complete] = np.nanquantile(values[:, ~complete], levels, axis=0)
    return np.nan_to_num(out)


def _check_range(value, name, low, high, low_open=False, high_open=False) -> None:
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and (low < value if low_open else low <= value)
            and (value < high if high_open else value <= high)):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


@contextlib.contextmanager
def _torch_threads(n):
    """Run a block with ``n`` torch CPU threads and restore the caller's count after (None: leave it)."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _progress(verbose: bool, epochs: int):
    """A tqdm bar over epochs; ``bar(loss=..., val=...)`` advances it."""
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, disable=not verbose, desc="fit", unit="epoch")

    class _Bar:
        def __call__(self, **scores):
            bar.set_postfix({k: f"{v:.4f}" for k, v in scores.items()})
            bar.update(1)

        def close(self):
            bar.close()

    return _Bar()


def _model_name(model) -> str:
    return model.lower() if isinstance(model, str) else type(model).__name__


def _span(panel: Panel) -> int:
    """The longest series' time span, in nanoseconds."""
    return max(int(s.times[-1] - s.times[0]) for s in panel.series)


def _encode_id(uid):
    """A series id as JSON: strings and numbers as they are, timestamps tagged (with their zone)."""
    if isinstance(uid, pd.Timestamp):
        return {"timestamp": uid.isoformat(), "tz": None if uid.tz is None else str(uid.tz)}
    return uid.item() if isinstance(uid, np.generic) else uid


def _decode_id(value):
    if isinstance(value, dict):
        stamp = pd.Timestamp(value["timestamp"])
        return stamp.tz_convert(value["tz"]) if value["tz"] is not None else stamp
    return value


__all__ = ["LiquidForecaster"]
