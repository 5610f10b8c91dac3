"""Seattle weather: does the default LiquidForecaster beat persistence and seasonal naive by 15%?

Protocol: daily Seattle weather 2012-2015 (vega_datasets, real observations), target
``temp_max``, the other numeric columns (precipitation, temp_min, wind) as covariates. The
last 180 days are held out; every model is fitted once on the rows before them and forecasts
7 days ahead from every day of the hold-out whose 7 days lie inside it (174 origins), reading
the true history up to each origin. Reported: MAE over all origins and steps, the improvement
``1 - MAE / MAE_baseline`` over persistence and seasonal naive (same day last year), ridge
regression on 28 lags (+ calendar features, as a strong linear reference) and the fit time.

    python benchmarks/bench_forecast_seattle.py [--seeds 0 1 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from sklearn.linear_model import Ridge

from liquidts.forecast.classical import DLinear, Naive, SeasonalNaive
from liquidts.datasets import load_seattle_weather
from liquidts.forecast import LiquidForecaster
from liquidts.forecast.windows import calendar_features

HOLDOUT, H, TARGET = 180, 7, "temp_max"


def backtest(est, df, first) -> np.ndarray:
    """Absolute errors (origins, H) of ``est`` fitted on df[:first], forecasting from each origin."""
    errs = []
    for cut in range(first, len(df) - H + 1):
        pred = est.predict(df=df.iloc[:cut])[TARGET].to_numpy()
        errs.append(np.abs(pred - df[TARGET].to_numpy()[cut: cut + H]))
    return np.array(errs)


def ridge_lags(df, first, lags=28, calendar=False) -> np.ndarray:
    """Direct 7-output ridge regression on the last ``lags`` target values (and future calendar)."""
    y = df[TARGET].to_numpy()
    cal = calendar_features(df.index.as_unit("ns").asi8, ["doy"])
    ext = np.concatenate([cal, calendar_features(df.index[-1:].as_unit("ns").asi8
                                                  + np.arange(1, H + 1) * 86_400 * 10**9, ["doy"])])

    def feats(cut):  # history y[:cut], forecasting rows cut..cut+H-1
        parts = [y[cut - lags: cut]]
        if calendar:
            parts.append(ext[cut: cut + H].ravel())
        return np.concatenate(parts)

    train_cuts = range(lags, first - H + 1)
    X = np.array([feats(c) for c in train_cuts])
    Y = np.array([y[c: c + H] for c in train_cuts])
    model = Ridge(alpha=1.0).fit(X, Y)
    test_cuts = range(first, len(df) - H + 1)
    pred = model.predict(np.array([feats(c) for c in test_cuts]))
    return np.abs(pred - np.array([y[c: c + H] for c in test_cuts]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="cfc")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    df = load_seattle_weather().drop(columns="weather")
    first = len(df) - HOLDOUT
    train = df.iloc[:first]
    print(f"Seattle weather: {len(df)} days, fit on {first}, {len(df) - H + 1 - first} origins x {H} days "
          f"| torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}")

    mae = {
        "persistence": backtest(Naive(horizon=H, target=TARGET).fit(train), df, first).mean(),
        "seasonal naive (365 d)": backtest(SeasonalNaive(365, horizon=H, target=TARGET).fit(train),
                                           df, first).mean(),
        "ridge, 28 lags": ridge_lags(df, first).mean(),
        "ridge, 28 lags + day-of-year": ridge_lags(df, first, calendar=True).mean(),
        "DLinear (lookback 28)": backtest(DLinear(lookback=28, kernel_size=7, horizon=H, target=TARGET)
                                          .fit(train), df, first).mean(),
    }
    fits = {}
    for seed in args.seeds:
        est = LiquidForecaster(model=args.model, horizon=H, target=TARGET, random_state=seed)
        start = time.perf_counter()
        est.fit(train)
        fits[seed] = (time.perf_counter() - start, est.n_epochs_)
        mae[f"LiquidForecaster({args.model}), seed {seed}"] = backtest(est, df, first).mean()

    pers, snaive = mae["persistence"], mae["seasonal naive (365 d)"]
    print("\n| model | MAE (degC) | vs persistence | vs seasonal naive |\n| --- | --- | --- | --- |")
    for name, value in mae.items():
        print(f"| {name} | {value:.3f} | {100 * (1 - value / pers):+.1f}% | {100 * (1 - value / snaive):+.1f}% |")
    liquid = [mae[f"LiquidForecaster({args.model}), seed {s}"] for s in args.seeds]
    print(f"\nLiquidForecaster mean over seeds {args.seeds}: MAE {np.mean(liquid):.3f}, "
          f"improvement {100 * (1 - np.mean(liquid) / pers):.1f}% over persistence, "
          f"{100 * (1 - np.mean(liquid) / snaive):.1f}% over seasonal naive (bar: 15%)")
    worst = max(liquid)
    print(f"worst seed: {100 * (1 - worst / pers):.1f}% / {100 * (1 - worst / snaive):.1f}%")
    for seed, (secs, epochs) in fits.items():
        print(f"fit time seed {seed}: {secs:.1f} s, {epochs} epochs (bar: 180 s)")


if __name__ == "__main__":
    main()
