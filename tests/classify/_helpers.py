"""Synthetic irregular data for the classifier tests."""

import numpy as np
import pandas as pd


def timing_frame(n: int = 120, seed: int = 0):
    """Two classes that differ only in timing: every value is 1.0, but class 1 subjects are
    observed at long gaps (about 3) and class 0 at short gaps (about 0.5); each subject has its own
    irregular times and 6-14 observations of ``a``, plus ``b`` now and then. Returns (X, y)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for i in range(n):
        label = i % 2
        k = int(rng.integers(6, 15))
        gaps = rng.exponential(3.0 if label else 0.5, size=k) + 0.05
        times = np.cumsum(gaps)
        for t in times:
            rows.append((f"s{i:03d}", float(t), "a", 1.0))
            if rng.random() < 0.3:
                rows.append((f"s{i:03d}", float(t), "b", float(rng.normal())))
        labels[f"s{i:03d}"] = label
    X = pd.DataFrame(rows, columns=["id", "time", "variable", "value"])
    return X, pd.Series(labels)


def value_frame(n: int = 90, classes=("low", "mid", "high"), seed: int = 1):
    """Three classes by the level of ``a`` (regular-ish times), with a static ``age``: (X, y)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for i in range(n):
        c = i % len(classes)
        rows.append((100 + i, 0.0, "age", float(rng.integers(20, 90))))
        for t in np.sort(rng.uniform(0, 10, size=int(rng.integers(3, 9)))):
            rows.append((100 + i, float(t), "a", float(c + 0.3 * rng.normal())))
            if rng.random() < 0.5:
                rows.append((100 + i, float(t), "b", float(rng.normal())))
        labels[100 + i] = classes[c]
    X = pd.DataFrame(rows, columns=["id", "time", "variable", "value"])
    return X, pd.Series(labels)


def tiny(**kwargs):
    """A small, fast LiquidClassifier."""
    from liquidts import LiquidClassifier

    params = dict(units=8, backbone_units=8, max_epochs=3, batch_size=16, random_state=0)
    params.update(kwargs)
    return LiquidClassifier(**params)
