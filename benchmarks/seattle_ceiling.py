"""How low can any learner go on the `seattle` task? Regressions outside the forecaster, same protocol.

The `seattle` suite's bar asks for MAE <= 2.50 degC. This script fits learners that are not the
LiquidForecaster, on the same fitting rows and scored over the same 174 test origins (each
forecasting temp_max 1-7 days ahead), to show what the data allow: ridge and Huber regression (a
linear fit with a robust loss, closer to the MAE the task scores) on the last L days of temp_max,
with or without the other observations, plus two annual harmonics of the first forecast day; and
gradient-boosted trees (scikit-learn's HistGradientBoostingRegressor, squared and absolute loss)
on all of it. One model per horizon step, features standardised with the fitting rows' statistics.

    python benchmarks/seattle_ceiling.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.tasks import seattle_task  # noqa: E402

COLUMNS = ["temp_max", "temp_min", "precipitation", "wind"]


def design(values: np.ndarray, day_of_year: np.ndarray, origins, lookback: int, columns: list):
    """One row per origin (the index of the first forecast day): the last ``lookback`` days of
    ``columns`` and the annual harmonics (periods 1 and 1/2 year) of the first forecast day."""
    rows = []
    for i in origins:  # every origin, fitted or tested, has its first forecast day in the frame
        angle = 2 * np.pi * day_of_year[i] / 365.25
        rows.append(np.concatenate([values[i - lookback: i, columns].ravel(),
                                    [np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]]))
    return np.array(rows)


def learners(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import HuberRegressor, RidgeCV

    trees = dict(max_iter=300, learning_rate=0.03, max_leaf_nodes=15, min_samples_leaf=40, random_state=seed)
    return {"ridge": lambda: RidgeCV(alphas=np.logspace(-2, 4, 30)),
            "huber": lambda: HuberRegressor(alpha=1.0, epsilon=1.35, max_iter=2000),
            "boosted trees (squared)": lambda: HistGradientBoostingRegressor(l2_regularization=1.0, **trees),
            "boosted trees (absolute)": lambda: HistGradientBoostingRegressor(loss="absolute_error", **trees)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookbacks", type=int, nargs="+", default=[1, 3, 7, 14, 28, 56, 96])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task = seattle_task()
    H = task.horizon
    values = task.frame[COLUMNS].to_numpy(dtype=float)
    day_of_year = task.frame.index.dayofyear.to_numpy()
    truth = task.truth()[..., 0]  # (origins, H)
    target = values[:, 0]
    print("| learner | inputs | lookback (days) | MAE degC | MAE by day ahead 1..7 |")
    print("| --- | --- | --- | --- | --- |")
    for lookback in args.lookbacks:
        fit_origins = np.arange(lookback, task.fit_end - H + 1)
        test_origins = np.arange(task.test_start, task.test_end - H + 1)
        y = np.stack([target[fit_origins + h] for h in range(H)], axis=1)
        for inputs, columns in (("temp_max", [0]), ("all four observations", [0, 1, 2, 3])):
            x = design(values, day_of_year, fit_origins, lookback, columns)
            x_test = design(values, day_of_year, test_origins, lookback, columns)
            mean, std = x.mean(0), x.std(0) + 1e-12
            x, x_test = (x - mean) / std, (x_test - mean) / std
            for name, make in learners(args.seed).items():
                if name == "huber" and len(columns) > 1:
                    continue  # Huber on 4 x lookback inputs converges poorly and adds nothing here
                pred = np.stack([make().fit(x, y[:, h]).predict(x_test) for h in range(H)], axis=1)
                err = np.abs(pred - truth)
                steps = " ".join(f"{e:.2f}" for e in err.mean(0))
                print(f"| {name} | {inputs} | {lookback} | {err.mean():.4f} | {steps} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
