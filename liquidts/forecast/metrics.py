"""Forecast error metrics over arrays of any matching shape, ignoring NaN in the truth."""

from __future__ import annotations

import numpy as np


def _pair(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    keep = ~np.isnan(y_true)
    return y_true[keep], y_pred[keep]


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in percent; rows where the truth is 0 are left out."""
    t, p = _pair(y_true, y_pred)
    nz = t != 0
    return float(100 * np.mean(np.abs((t[nz] - p[nz]) / t[nz]))) if nz.any() else float("nan")


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent (0..200); pairs that are both 0 count as no error."""
    t, p = _pair(y_true, y_pred)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(2 * np.abs(t - p), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * np.mean(ratio))


def mase(y_true, y_pred, y_train, season_length: int = 1) -> float:
    """MAE scaled by the in-sample MAE of the seasonal-naive forecast on ``y_train``."""
    hist = np.asarray(y_train, dtype=np.float64)
    diffs = np.abs(hist[season_length:] - hist[:-season_length])
    scale = np.nanmean(diffs) if diffs.size else np.nan
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return mae(y_true, y_pred) / float(scale)


def quantile_loss(y_true, y_quant, q: float) -> float:
    """Pinball loss of the q-quantile forecast (mean over points)."""
    t, p = _pair(y_true, y_quant)
    diff = t - p
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))
