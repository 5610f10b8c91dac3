"""``liquidts forecast``: fit a LiquidForecaster on a CSV (or the Seattle demo) and write the forecast.

    liquidts forecast data.csv --target T --horizon 24 --out forecast.csv [--plot f.png]
    liquidts forecast --demo seattle --plot seattle.png

The demo fits on the daily Seattle weather without its last 180 days, backtests 7-day
forecasts from each of those days against persistence, and plots the last week's forecast.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``forecast`` command to an argparse subparsers object."""
    p = subparsers.add_parser("forecast", help="forecast a CSV time series with a liquid network",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", nargs="?", help="wide CSV with a time column, or long CSV (unique_id, ds, y)")
    p.add_argument("--demo", choices=["seattle"], help="forecast the daily Seattle weather (vega_datasets)")
    p.add_argument("--target", nargs="+", help="column(s) to forecast (default: the only numeric one, or y)")
    p.add_argument("--time-col", help="time column of a wide CSV (default: the first column)")
    p.add_argument("--horizon", type=_positive, help="steps to forecast (default 24; demo 7)")
    p.add_argument("--lookback", type=_positive,
                   help="past steps the model reads (default max(96, 2*horizon), at most 720)")
    p.add_argument("--model", default="cfc",
                   help="cfc, ltc, ncp, lstm, gru, mamba, xlstm or linear (default cfc)")
    p.add_argument("--max-epochs", type=_positive, help="training epochs at most (default: the estimator's)")
    p.add_argument("--interval", type=float, nargs=2, default=(0.1, 0.9), metavar=("LO", "HI"),
                   help="quantiles of the interval written and drawn (default 0.1 0.9)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=_positive, default=1,
                   help="torch CPU threads (default 1: small recurrent models run fastest on one)")
    p.add_argument("--out", help="forecast CSV to write (default: print it)")
    p.add_argument("--plot", help="PNG of history, forecast and interval")
    p.add_argument("--quiet", action="store_true", help="no training progress bar")
    p.set_defaults(func=run)
    return p


def _positive(text: str) -> int:
    """argparse type: an integer >= 1 (argparse turns the error into a usage message, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _read_csv(path: str, time_col: str | None) -> tuple[pd.DataFrame, str | None]:
    df = pd.read_csv(path)
    if {"unique_id", "ds"} <= set(df.columns):
        df["ds"] = pd.to_datetime(df["ds"])
        return df, None
    col = time_col or df.columns[0]
    if col not in df.columns:
        raise SystemExit(f"error: time column {col!r} not in {path} (columns: {list(df.columns)})")
    try:
        with warnings.catch_warnings():  # pandas warns when it falls back to per-element parsing
            warnings.simplefilter("ignore", UserWarning)
            df[col] = pd.to_datetime(df[col])
    except (TypeError, ValueError):
        raise SystemExit(f"error: column {col!r} of {path} does not hold timestamps; "
                         "name the time column with --time-col") from None
    return df.set_index(col), None


def run(args) -> int:
    from liquidts.forecast import LiquidForecaster
    from liquidts.forecast.base import quantile_column

    if (args.csv is None) == (args.demo is None):
        raise SystemExit("error: give a CSV file or --demo seattle (one of them)")
    actual = backtest_rows = None
    if args.demo == "seattle":
        from liquidts.datasets import load_seattle_weather

        horizon = args.horizon or 7
        full = load_seattle_weather().drop(columns="weather")
        # Fit on all but the last 180 days, backtest over them, then forecast the last
        # `horizon` days from the history before them so the plot shows what happened.
        backtest_rows = 180
        df, actual = full.iloc[:-backtest_rows], full.iloc[-horizon:]
        target = args.target or ["temp_max"]
    else:
        df, _ = _read_csv(args.csv, args.time_col)
        horizon = args.horizon or 24
        target = args.target
    options = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    est = LiquidForecaster(model=args.model, horizon=horizon, lookback=args.lookback,
                           target=target[0] if target and len(target) == 1 else target,
                           random_state=args.seed, n_threads=args.threads, verbose=not args.quiet, **options)
    start = time.perf_counter()
    est.fit(df)
    fit_s = time.perf_counter() - start
    print(f"fitted {args.model} on {len(df)} rows in {fit_s:.1f} s ({est.n_epochs_} epochs)")
    if actual is not None:
        from liquidts.forecast.classical import Naive

        t = est.targets_[0]
        column = est.targets_.index(t)
        origins = range(len(df), len(full) - horizon + 1)
        truth = np.stack([full[t].to_numpy()[i: i + horizon] for i in origins])
        liquid = est.rolling_forecast(full, start=len(df), h=horizon)[..., column]
        persistence = np.repeat(full[t].to_numpy()[[i - 1 for i in origins]][:, None], horizon, axis=1)
        errors = {"liquid": np.abs(liquid - truth).mean(), "persistence": np.abs(persistence - truth).mean()}
        print(f"backtest, {horizon}-day forecasts from each of the last {backtest_rows} days: MAE "
              + ", ".join(f"{k} {v:.2f}" for k, v in errors.items())
              + f" ({100 * (1 - errors['liquid'] / errors['persistence']):.0f}% lower)")
        est.update(full.iloc[len(df): len(full) - horizon])
        df = full.iloc[: len(full) - horizon]
    forecast = est.predict(quantiles=list(args.interval))
    if actual is not None:
        lo, hi = (forecast[quantile_column(t, q)].to_numpy() for q in args.interval)
        inside = np.mean((actual[t].to_numpy() >= lo) & (actual[t].to_numpy() <= hi))
        err = np.abs(forecast[t].to_numpy() - actual[t].to_numpy()).mean()
        print(f"last {horizon} days: MAE {err:.2f}, {100 * inside:.0f}% inside the "
              f"{args.interval[0]:g}-{args.interval[1]:g} interval")
    if args.out:
        forecast.to_csv(args.out)
        print(f"wrote {args.out}")
    else:
        print(forecast.to_string())
    if args.plot:
        from liquidts.forecast.plot import plot_forecast

        if est.long_:
            raise SystemExit("error: --plot draws one series; pass a wide CSV")
        for t in est.targets_[:1]:
            ax = plot_forecast(df, forecast, t, interval=tuple(args.interval), actual=actual,
                               title=f"{t}: {horizon}-step forecast ({args.model})")
            ax.figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0
