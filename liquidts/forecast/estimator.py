"""LiquidForecaster: a scikit-learn style estimator that forecasts DataFrames with liquid networks.

Data flow: DataFrame -> validate -> per-series scaling -> windows (inputs, elapsed times,
observed masks, calendar and future covariates) -> encoder + direct multi-horizon head ->
inverse scaling -> DataFrame indexed by the future timestamps. ``predict(df=...)`` runs the
same path with the fitted scaler and network, so training and serving cannot drift apart.

Letters: B batch, L lookback, F input features, H horizon, T targets, Q outputs per target.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from liquidts.forecast.base import QUANTILE_GRID, BaseForecaster, check_quantiles
from liquidts.forecast.models import ForecastNet, build_encoder, encoder_output_size
from liquidts.forecast.validate import Panel, Series, check_positive_int
from liquidts.forecast.windows import (calendar_names, fit_scaler, future_inputs, future_times,
                                       make_windows, step_inputs)

_LOSSES = ("mse", "mae", "quantile")
_FORMAT = "liquidts.LiquidForecaster/1"


class LiquidForecaster(BaseForecaster):
    """Forecast one or many time series with a liquid (CfC/LTC/NCP) or baseline sequence model.

    Parameters
    ----------
    model : str or torch.nn.Module, default "cfc"
        ``"cfc"``, ``"ltc"``, ``"ncp"`` (CfC on an AutoNCP wiring), a baseline from
        ``liquidts.baselines.BASELINES`` (``"lstm"``, ``"gru"``, ``"mamba"``, ``"xlstm"``), or a
        module following ``y, h = module(x, hx, timespans)`` built for the input width
        (see ``n_features_in_`` after a fit, or :func:`input_width`).
    horizon : int, default 24
        Steps forecast at once; ``predict(h)`` accepts any ``h <= horizon``.
    lookback : int or None, default None
        Past steps the model reads; None: ``max(28, 4 * horizon)``, at most 256.
    target, covariates, future_covariates, time_col, id_col :
        Column roles. ``target`` (default: the only numeric column, or ``y`` in long format)
        may list several columns. ``covariates`` default: all other numeric columns (known up
        to the forecast origin). ``future_covariates``: covariates whose future values you
        give to ``predict(futr_df=...)``.
    calendar : bool, default True
        Add sin/cos of hour of day, day of week and day of year (those that vary at the data's
        step) to the inputs and to the future-known features of the head.
    units, backbone_units, dropout : network size (``units`` neurons in the encoder).
    loss : {"mse", "mae", "quantile"}, default "mse"
        With ``"quantile"`` the network forecasts ``quantiles`` and the point forecast is the
        median; otherwise intervals come from the quantiles of held-out residuals.
    max_epochs, batch_size, learning_rate, weight_decay : training.
    validation_fraction, patience : the last fraction of each series' windows is held out
        for early stopping; training stops after ``patience`` epochs without improvement and
        keeps the best weights. ``validation_fraction=0`` trains ``max_epochs`` epochs.
    warm_start : bool, default False
        A second ``fit`` continues from the fitted network and scaler instead of starting over.
    random_state : int or None; device : "cpu", "cuda" or "auto"; verbose : tqdm progress bar.

    Attributes (after fit): ``net_``, ``lookback_``, ``n_features_in_``, ``targets_``,
    ``covariates_``, ``step_``, ``freq_``, ``n_epochs_``, ``history_``, ``residual_grid_``.
    """

    _max_h_is_horizon = True

    def __init__(self, model="cfc", horizon=24, lookback=None, target=None, covariates=None,
                 future_covariates=None, time_col=None, id_col=None, calendar=True, units=32,
                 backbone_units=64, dropout=0.0, loss="mse", quantiles=(0.1, 0.5, 0.9),
                 max_epochs=100, batch_size=64, learning_rate=3e-3, weight_decay=1e-2,
                 validation_fraction=0.1, patience=10, warm_start=False, random_state=None,
                 device="cpu", verbose=False):
        self.model = model
        self.horizon = horizon
        self.lookback = lookback
        self.target = target
        self.covariates = covariates
        self.future_covariates = future_covariates
        self.time_col = time_col
        self.id_col = id_col
        self.calendar = calendar
        self.units = units
        self.backbone_units = backbone_units
        self.dropout = dropout
        self.loss = loss
        self.quantiles = quantiles
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ----- parameter checks -------------------------------------------------------------
    def _check_params(self) -> None:
        check_positive_int(self.horizon, "horizon")
        if self.lookback is not None:
            check_positive_int(self.lookback, "lookback")
        for name in ("units", "max_epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if self.loss == "quantile":
            check_quantiles(self.quantiles)
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")

    def _resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA GPU is available; use device='cpu' or 'auto'")
        return torch.device(self.device)

    def _quantile_levels(self) -> tuple[float, ...]:
        return tuple(sorted(check_quantiles(self.quantiles))) if self.loss == "quantile" else ()

    def _history_rows(self) -> int:
        return self.lookback_ + 1

    # ----- data -> tensors ----------------------------------------------------------------
    def _scaler_for(self, s: Series):
        k = self._scaler_index_.get(s.uid)
        if k is None:  # a series not seen in fit: scale it by its own history
            return fit_scaler(s.values)
        return self.scaler_mean_[k], self.scaler_std_[k]

    def _series_arrays(self, s: Series, futr_values=None):
        mean, std = self._scaler_for(s)
        inputs, dt = step_inputs(s.times, s.values, mean, std, self.step_, self.cal_names_)
        n_t = len(self.targets_)
        futr_cols = [self.covariates_.index(c) + n_t for c in self.future_covariates_]
        if futr_values is None:
            futr_values = s.values[:, futr_cols]
        future = future_inputs(s.times, futr_values, mean[futr_cols], std[futr_cols], self.cal_names_)
        targets = (s.values[:, :n_t] - mean[:n_t]) / std[:n_t]
        return inputs, dt, future, targets

    def _windows(self, panel: Panel):
        """Training and validation windows over all series, as float32 tensors."""
        train, val = [], []
        L, H = self.lookback_, self.horizon
        for s in panel.series:
            n = len(s.times)
            if n < L + H:
                raise ValueError(
                    f"series {s.uid!r} has {n} rows but lookback={L} + horizon={H} needs at least "
                    f"{L + H}; pass more history or lower lookback/horizon"
                )
            arrays = self._series_arrays(s)
            cutoffs = np.arange(L - 1, n - H)
            n_val = int(round(len(cutoffs) * self.validation_fraction))
            if n_val:
                # Training windows must not see the validation targets: leave a gap of H.
                val.append(make_windows(*arrays, L, H, cutoffs[-n_val:]))
                cutoffs = cutoffs[: max(len(cutoffs) - n_val - H + 1, 1)]
            train.append(make_windows(*arrays, L, H, cutoffs))

        def stack(parts):
            if not parts:
                return None
            return [torch.as_tensor(np.concatenate(p), dtype=torch.float32) for p in zip(*parts)]

        return stack(train), stack(val)

    # ----- training -------------------------------------------------------------------------
    def _loss(self, pred, y):
        """pred (B, H, T, Q), y (B, H, T) with NaN where unobserved -> mean loss over observed."""
        observed = ~torch.isnan(y)
        y = torch.nan_to_num(y)
        if self.loss == "quantile":
            q = torch.tensor(self._quantile_levels(), dtype=pred.dtype, device=pred.device)
            diff = y.unsqueeze(-1) - pred  # (B, H, T, Q)
            per = torch.maximum(q * diff, (q - 1) * diff).mean(-1)
        elif self.loss == "mae":
            per = (pred[..., 0] - y).abs()
        else:
            per = (pred[..., 0] - y) ** 2
        return (per * observed).sum() / observed.sum().clamp(min=1)

    def _new_net(self, n_features: int, n_future: int) -> ForecastNet:
        encoder = build_encoder(self.model, n_features, self.units, self.backbone_units, self.dropout)
        enc_out = encoder_output_size(encoder, n_features)
        n_out = len(self._quantile_levels()) or 1
        return ForecastNet(encoder, enc_out, self.lookback_, self.horizon, len(self.targets_),
                           n_future, n_out)

    def fit(self, df, y=None):
        """Fit on ``df`` (wide or long); with ``warm_start=True`` continue a previous fit."""
        self._check_params()
        keep = self.warm_start and hasattr(self, "net_")
        return self._fit(df, epochs=self.max_epochs, keep=keep)

    def partial_fit(self, df, y=None):
        """One more epoch over ``df`` from the current network and scaler (fit first if unfitted)."""
        self._check_params()
        return self._fit(df, epochs=1, keep=hasattr(self, "net_"))

    def _fit(self, df, epochs: int, keep: bool):
        panel = self._validate(df, fitted=keep)
        if not keep:
            self._set_layout(panel)
            self.lookback_ = self.lookback or min(256, max(28, 4 * self.horizon))
            self.cal_names_ = calendar_names(self.step_) if self.calendar else []
            self.scaler_ids_ = [s.uid for s in panel.series]
            stats = [fit_scaler(s.values) for s in panel.series]
            self.scaler_mean_ = np.stack([m for m, _ in stats])
            self.scaler_std_ = np.stack([sd for _, sd in stats])
        elif self.horizon != self.net_.horizon or self.lookback_ != self.net_.highway.in_features:
            raise ValueError("warm start needs the same horizon and lookback as the previous fit")
        self._scaler_index_ = {uid: k for k, uid in enumerate(self.scaler_ids_)}
        train, val = self._windows(panel)
        device = self._resolve_device()
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if not keep:
                n_features, n_future = train[0].shape[-1], train[2].shape[-1]
                self.n_features_in_ = int(n_features)
                self.net_ = self._new_net(n_features, n_future)
                self.n_epochs_ = 0
            self.net_.to(device)
            self._train(train, val, epochs, device, seed)
        self.net_.to("cpu").eval()
        self.device_ = str(device)
        self._fit_residuals(val if val is not None else train)
        self._store_history(panel.series if not keep else self._merged_history(panel))
        return self

    def _merged_history(self, panel: Panel) -> list[Series]:
        """History after a warm start: the new frame's series replace the stored ones of the same id."""
        by_id = {s.uid: s for s in self.history_}
        by_id.update({s.uid: s for s in panel.series})
        return list(by_id.values())

    def _train(self, train, val, epochs, device, seed) -> None:
        from tqdm.auto import tqdm

        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        n = len(train[0])
        best, best_state, waited = float("inf"), None, 0
        self.loss_curve_, self.validation_scores_ = [], []
        bar = tqdm(range(epochs), disable=not self.verbose, desc="fit", unit="epoch")
        for _ in bar:
            net.train()
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = order[start: start + self.batch_size]
                x, dt, fut, y = (t[idx].to(device) for t in train)
                loss = self._loss(net(x, dt, fut), y)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                total += loss.item() * len(idx)
            self.loss_curve_.append(total / n)
            self.n_epochs_ += 1
            if val is None:
                bar.set_postfix(loss=f"{total / n:.4f}")
                continue
            score = self._evaluate(val, device)
            self.validation_scores_.append(score)
            bar.set_postfix(loss=f"{total / n:.4f}", val=f"{score:.4f}")
            if score < best:
                best, waited = score, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.best_validation_score_ = best if val is not None else None

    def _evaluate(self, data, device, batch=1024) -> float:
        self.net_.eval()
        total, n = 0.0, len(data[0])
        with torch.no_grad():
            for start in range(0, n, batch):
                x, dt, fut, y = (t[start: start + batch].to(device) for t in data)
                total += self._loss(self.net_(x, dt, fut), y).item() * len(x)
        return total / n

    def _point_index(self) -> int:
        qs = self._quantile_levels()
        return int(np.argmin([abs(q - 0.5) for q in qs])) if qs else 0

    def _fit_residuals(self, data) -> None:
        """Quantiles of the held-out residuals per horizon step and target, in scaled units."""
        x, dt, fut, y = data
        with torch.no_grad():
            pred = self.net_(x, dt, fut)[..., self._point_index()]  # (n, H, T)
        resid = (y - pred).numpy()  # scaled; multiplied by each series' std at predict time
        with np.errstate(all="ignore"):
            grid = np.nanquantile(resid, QUANTILE_GRID, axis=0)  # (99, H, T)
        self.residual_grid_ = np.nan_to_num(grid)

    # ----- forecasting ---------------------------------------------------------------------
    def _forecast(self, series, h, futr, qs, stamps):
        L = self.lookback_
        xs, dts, futs, scales = [], [], [], []
        for s, fv, t in zip(series, futr, stamps):
            if len(s.times) < L:
                raise ValueError(f"series {s.uid!r} has {len(s.times)} rows but the model reads "
                                 f"lookback={L}; pass at least {L} rows of history")
            tail = Series(s.uid, s.times[-(L + 1):], s.values[-(L + 1):])
            inputs, dt, _, _ = self._series_arrays(tail)
            # The head always reads all H future steps: the calendar is known for each, and the
            # user's future covariates (given for h steps) are padded with their last value.
            if h < self.horizon:
                t = future_times(int(s.times[-1]), self.step_, self.freq_, self.horizon)
            mean, std = self._scaler_for(s)
            futr_cols = [self.covariates_.index(c) + len(self.targets_) for c in self.future_covariates_]
            if fv is None:
                fv = np.zeros((self.horizon, 0))
            elif h < self.horizon:
                fv = np.concatenate([fv, np.repeat(fv[-1:], self.horizon - h, axis=0)])
            fut = future_inputs(t.asi8, fv, mean[futr_cols], std[futr_cols], self.cal_names_)
            xs.append(inputs[-L:])
            dts.append(dt[-L:])
            futs.append(fut)
            scales.append((mean[: len(self.targets_)], std[: len(self.targets_)]))
        with torch.no_grad():
            out = self.net_(torch.as_tensor(np.stack(xs), dtype=torch.float32),
                            torch.as_tensor(np.stack(dts), dtype=torch.float32),
                            torch.as_tensor(np.stack(futs), dtype=torch.float32))  # (S, H, T, Q)
        out = out[:, :h].numpy().astype(np.float64)
        mean = np.stack([m for m, _ in scales])[:, None, :, None]
        std = np.stack([s for _, s in scales])[:, None, :, None]
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
        return points, {q: list(out[..., int(np.argmin([abs(q - f) for f in fitted]))]) for q in qs}

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
        """Write the fitted forecaster to one safetensors file (weights, scaler, history, config)."""
        self._check_fitted()
        if not isinstance(self.model, str):
            params_model = None
        else:
            params_model = self.model
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        params["model"] = params_model
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        arrays = {"scaler.mean": self.scaler_mean_, "scaler.std": self.scaler_std_,
                  "residual_grid": self.residual_grid_}
        for i, s in enumerate(self.history_):
            arrays[f"history.{i}.times"] = s.times
            arrays[f"history.{i}.values"] = s.values
        tensors.update({k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in arrays.items()})
        state = {
            "format": _FORMAT,
            "params": params,
            "tuple_params": [k for k, v in self.get_params().items() if isinstance(v, tuple)],
            "targets_": self.targets_, "covariates_": self.covariates_,
            "future_covariates_": self.future_covariates_, "long_": self.long_,
            "time_name_": self.time_name_, "id_name_": self.id_name_, "step_": self.step_,
            "freq_": self.freq_, "lookback_": self.lookback_, "cal_names_": self.cal_names_,
            "n_features_in_": self.n_features_in_, "n_epochs_": self.n_epochs_,
            "device_": self.device_,
            "scaler_ids_": [_plain(u) for u in self.scaler_ids_],
            "history_ids": [_plain(s.uid) for s in self.history_],
            "n_future": self.net_.n_future,
        }
        save_file(tensors, str(path), metadata={"liquidts": json.dumps(state)})

    @classmethod
    def load(cls, path, model: nn.Module | None = None) -> "LiquidForecaster":
        """Read a forecaster written by :meth:`save` (no pickle). A forecaster fitted with a
        custom module needs that module's class again: pass a fresh instance as ``model``."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "liquidts" not in meta:
            raise ValueError(f"{path} is not a file written by LiquidForecaster.save")
        state = json.loads(meta["liquidts"])
        if state.get("format") != _FORMAT:
            raise ValueError(f"{path} has format {state.get('format')!r}, expected {_FORMAT!r}")
        tensors = load_file(str(path))
        params = state["params"]
        for k in state["tuple_params"]:
            params[k] = tuple(params[k])
        if params["model"] is None:
            if model is None:
                raise ValueError("this forecaster was fitted with a custom module: pass model=<a new instance>")
            params["model"] = model
        est = cls(**params)
        for k in ("targets_", "covariates_", "future_covariates_", "long_", "time_name_", "id_name_",
                  "step_", "freq_", "lookback_", "cal_names_", "n_features_in_", "n_epochs_", "device_"):
            setattr(est, k, state[k])
        est.scaler_ids_ = state["scaler_ids_"]
        est._scaler_index_ = {uid: k for k, uid in enumerate(est.scaler_ids_)}
        est.scaler_mean_ = tensors["scaler.mean"].numpy()
        est.scaler_std_ = tensors["scaler.std"].numpy()
        est.residual_grid_ = tensors["residual_grid"].numpy()
        est.history_ = [Series(uid, tensors[f"history.{i}.times"].numpy(), tensors[f"history.{i}.values"].numpy())
                        for i, uid in enumerate(state["history_ids"])]
        est.net_ = est._new_net(est.n_features_in_, state["n_future"])
        est.net_.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        est.net_.eval()
        return est


def _plain(value):
    """numpy scalars -> Python scalars, so ids survive JSON."""
    return value.item() if hasattr(value, "item") else value


def input_width(n_targets: int, n_covariates: int, calendar_cycles: int) -> int:
    """Input features per step a custom ``model=`` module receives: values and observed masks
    of every column, plus sin/cos per calendar cycle (see ``calendar_names``)."""
    return 2 * (n_targets + n_covariates) + 2 * calendar_cycles


__all__ = ["LiquidForecaster", "input_width"]
