"""ETTh1 multivariate long-horizon forecast with LiquidForecaster (standard protocol).

Protocol (datasets/README.md): ETTh1, all 7 variables as targets, train/validation/test = the
first 8640/2880/2880 rows, z-score fitted on the training rows, lookback 96, horizon 96, MSE and
MAE on the normalized scale over every test window (each reads its lookback from the rows
before it). The forecaster is fitted on train + validation rows with validation_fraction set so
early stopping watches the validation months. Compare with DLinear 0.386/0.400 and PatchTST
0.414/0.419 (lookback 96, /work/shared/NOTES.md).

    python benchmarks/bench_forecast_ett.py [--data-home ../shared/data] [--max-epochs 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from liquidts.datasets import ETT_SPLITS, load_ett
from liquidts.forecast import LiquidForecaster

L, H = 96, 96


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default="../shared/data")
    parser.add_argument("--name", default="ETTh1")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--model", default="cfc")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    raw = load_ett(args.name, data_home=args.data_home)
    n_train, n_val, n_test = ETT_SPLITS[args.name]
    mean, std = raw.iloc[:n_train].mean(), raw.iloc[:n_train].std(ddof=0)
    df = (raw - mean) / std  # the protocol's normalized scale
    cols = list(df.columns)
    fit_rows = df.iloc[: n_train + n_val]
    est = LiquidForecaster(model=args.model, horizon=H, lookback=L, target=cols, calendar=True,
                           max_epochs=args.max_epochs, validation_fraction=n_val / (n_train + n_val - L - H),
                           random_state=args.seed)
    start = time.perf_counter()
    est.fit(fit_rows)
    fit_s = time.perf_counter() - start

    first, last = n_train + n_val, n_train + n_val + n_test
    values = df.to_numpy()
    sq, ab = [], []
    start = time.perf_counter()
    for cut in range(first, last - H + 1):
        pred = est.predict(df=df.iloc[cut - L - 1: cut]).to_numpy()
        err = pred - values[cut: cut + H]
        sq.append((err ** 2).mean())
        ab.append(np.abs(err).mean())
    pred_s = time.perf_counter() - start
    print(f"{args.name} lookback {L} horizon {H}, {len(sq)} test windows, model {args.model}, "
          f"{est.n_epochs_} epochs (max {args.max_epochs}), fit {fit_s:.0f} s, test {pred_s:.0f} s")
    print(f"MSE {np.mean(sq):.3f}  MAE {np.mean(ab):.3f}   (DLinear 0.386 / 0.400, PatchTST 0.414 / 0.419)")


if __name__ == "__main__":
    main()
