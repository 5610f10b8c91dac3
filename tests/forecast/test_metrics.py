"""Metrics against values worked out by hand."""

import numpy as np
import pytest

from liquidts.forecast import metrics


def test_point_metrics():
    y, p = np.array([1.0, 2.0, 4.0, np.nan]), np.array([2.0, 2.0, 2.0, 9.0])
    assert metrics.mae(y, p) == pytest.approx(1.0)
    assert metrics.rmse(y, p) == pytest.approx(np.sqrt(5 / 3))
    assert metrics.mape(y, p) == pytest.approx(100 * (1 + 0 + 0.5) / 3)
    assert metrics.smape(y, p) == pytest.approx(100 * (2 / 3 + 0 + 4 / 6) / 3)


def test_mase_scales_by_in_sample_seasonal_naive():
    train = np.array([1.0, 3.0, 2.0, 4.0])  # season 2 differences: 1, 1
    assert metrics.mase([5.0], [3.0], train, season_length=2) == pytest.approx(2.0)
    assert np.isnan(metrics.mase([1.0], [1.0], np.ones(4)))


def test_quantile_loss():
    assert metrics.quantile_loss([10.0], [8.0], 0.9) == pytest.approx(0.9 * 2)
    assert metrics.quantile_loss([10.0], [12.0], 0.9) == pytest.approx(0.1 * 2)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        metrics.mae([1, 2], [1])
