"""``liquidts forecast``: fit a LiquidForecaster on a CSV (or the Seattle demo) and write the forecast.

    liquidts forecast data.csv --target T --horizon 24 --out forecast.csv [--plot f.png]
    liquidts forecast --demo seattle --plot seattle.png

The demo fits on the daily Seattle weather without its last 180 days, backtests 7-day
forecasts from each of those days against persistence, then forecasts the 7 days after the data;
it writes and plots that forecast beside the last week's backtest and what happened then.
"""

from __future__ import annotations

import argparse
import os
import time

from liquidts._cli_util import HelpFormatter, fail, positive_int

#: Units of the demo's columns (vega_datasets' Seattle weather), for the plot's value axis.
DEMO_UNITS = {"temp_max": "°C", "temp_min": "°C", "precipitation": "mm", "wind": "m/s"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``forecast`` command to an argparse subparsers object."""
    p = subparsers.add_parser("forecast", help="forecast a CSV time series with a liquid network",
                              description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("csv", nargs="?", help="wide CSV with a time column, or long CSV (unique_id, ds, y)")
    p.add_argument("--demo", choices=["seattle"], help="forecast the daily Seattle weather (vega_datasets)")
    p.add_argument("--target", nargs="+", help="column(s) to forecast (default: the only numeric one, or y)")
    p.add_argument("--time-col", help="time column of a wide CSV (default: the first column)")
    p.add_argument("--horizon", type=positive_int, help="steps to forecast (default 24; demo 7)")
    p.add_argument("--lookback", type=positive_int,
                   help="past steps the model reads (default max(96, 2*horizon), at most 720)")
    p.add_argument("--model", default="cfc",
                   help="cfc, ltc, ncp, lstm, gru, mamba, xlstm or linear (default cfc)")
    p.add_argument("--max-epochs", type=positive_int, help="training epochs at most (default: the estimator's)")
    p.add_argument("--interval", type=float, nargs=2, default=(0.1, 0.9), metavar=("LO", "HI"),
                   help="quantiles of the interval written and drawn (default 0.1 0.9)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (default 1: small recurrent models run fastest on one)")
    p.add_argument("--out", help="forecast CSV to write (default: print it)")
    p.add_argument("--plot", help="PNG of history, forecast and interval")
    p.add_argument("--quiet", action="store_true", help="no training progress bar")
    p.set_defaults(func=run)
    return p


def _fail(flag: str, message: str):
    """A usage error: one line naming the flag on stderr and exit status 2 (as argparse does)."""
    fail("liquidts forecast", flag, message)


def _check_output(flag: str, path: str | None, suffixes=None) -> None:
    """Refuse an output path that cannot be written, before any training."""
    if path is None:
        return
    if os.path.isdir(path):
        _fail(flag, f"{path} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        _fail(flag, f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        _fail(flag, f"cannot write {path}: permission denied")
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffixes is not None and suffix and suffix not in suffixes:
        _fail(flag, f"cannot write a .{suffix} image; use one of {', '.join('.' + k for k in sorted(suffixes))}")


def _read_csv(path: str, time_col: str | None):
    """The CSV as a wide frame indexed by its time column, or as a long frame (unique_id, ds, ...)."""
    import pandas as pd

    from liquidts.forecast.validate import _time_values
    from liquidts.forecast.windows import to_index

    if not os.path.exists(path):
        _fail("csv", f"file not found: {path}")
    if os.path.isdir(path):
        _fail("csv", f"{path} is a folder, not a CSV file")
    try:
        df = pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail("csv", f"could not read {path} as CSV: {reason}")
    if df.shape[1] < 2 or len(df) == 0:
        _fail("csv", f"{path} needs a header row, a time column, at least one numeric column and rows of data "
              f"(found columns {list(df.columns)} and {len(df)} rows)")
    long = {"unique_id", "ds"} <= set(df.columns)
    col = "ds" if long else time_col or df.columns[0]
    if col not in df.columns:
        _fail("--time-col", f"time column {col!r} not in {path} (columns: {list(df.columns)})")
    try:
        times, kind, tz = _time_values(df[col], f"column {col!r}")
    except (TypeError, ValueError) as exc:
        hint = "fix the ds column" if long else "name the time column with --time-col"
        _fail("csv" if long else "--time-col", f"{exc} (in {path}); {hint}")
    stamps = to_index(times, kind, tz, name=col)
    if long:
        return df.assign(ds=stamps)
    return df.drop(columns=[col]).set_index(stamps)


def _check_target(df, target, path: str) -> None:
    import pandas as pd

    long = {"unique_id", "ds"} <= set(df.columns)
    body = df.drop(columns=["unique_id", "ds"]) if long else df
    if target:
        missing = [t for t in target if t not in body.columns]
        if missing:
            _fail("--target", f"column(s) {missing} not in {path} (columns: {list(body.columns)})")
        return
    if long:
        if "y" not in body.columns:
            _fail("--target", f"a long CSV forecasts column 'y' by default, and {path} has none; "
                  f"name the target (columns: {list(body.columns)})")
        return
    numeric = [c for c in body.columns if pd.api.types.is_numeric_dtype(body[c])]
    if len(numeric) != 1:
        _fail("--target", f"required: {path} has {len(numeric)} numeric columns {numeric}; name the one(s) to "
              "forecast")


def run(args) -> int:
    import numpy as np
    import pandas as pd

    from liquidts.forecast import LiquidForecaster, available_models
    from liquidts.forecast.base import quantile_column
    from liquidts.forecast.validate import validate_frame

    # Every check of the command line and the data runs here, before any training.
    if (args.csv is None) == (args.demo is None):
        _fail("csv", "give a CSV file or --demo seattle (one of them)")
    lo, hi = args.interval
    if not 0 < lo < hi < 1:
        _fail("--interval", f"needs 0 < LO < HI < 1, got {lo:g} {hi:g}")
    if args.model.lower() not in available_models():
        _fail("--model", f"unknown model {args.model!r}; choose from {', '.join(available_models())}")
    _check_output("--out", args.out)
    if args.plot:
        from matplotlib.figure import Figure

        _check_output("--plot", args.plot, set(Figure().canvas.get_supported_filetypes()))
    actual = backtest = backtest_rows = None
    if args.demo == "seattle":
        from liquidts.datasets import load_seattle_weather

        horizon = args.horizon or 7
        full = load_seattle_weather().drop(columns="weather")
        # Fit on all but the last 180 days and backtest over them; the last `horizon` days'
        # backtest is written beside what happened, then the days after the data are forecast.
        backtest_rows = 180
        df, actual = full.iloc[:-backtest_rows], full.iloc[-horizon:]
        target = args.target or ["temp_max"]
    else:
        df = _read_csv(args.csv, args.time_col)
        horizon = args.horizon or 24
        target = args.target
        _check_target(df, target, args.csv)
        if args.plot and {"unique_id", "ds"} <= set(df.columns):
            _fail("--plot", "draws one series; pass a wide CSV (one time column, one column per series)")
    chosen = target[0] if target and len(target) == 1 else target
    try:
        panel = validate_frame(df, target=chosen)
    except (TypeError, ValueError) as exc:
        _fail("csv" if args.csv else "--demo", str(exc))
    lookback = args.lookback or min(720, max(96, 2 * horizon))
    shortest = min(len(s.times) for s in panel.series)
    if shortest < lookback + horizon:
        _fail("--lookback", f"lookback {lookback} + horizon {horizon} needs {lookback + horizon} rows per series, "
              f"but {'a series has' if panel.long else 'the data has'} {shortest}; lower --lookback or --horizon")
    options = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    est = LiquidForecaster(model=args.model, horizon=horizon, lookback=args.lookback,
                           target=chosen,
                           random_state=args.seed, n_threads=args.threads, verbose=not args.quiet, **options)
    start = time.perf_counter()
    try:
        est.fit(df)
    except (TypeError, ValueError) as exc:  # a problem of the data the checks above did not foresee
        _fail("csv" if args.csv else "--demo", str(exc))
    fit_s = time.perf_counter() - start
    print(f"fitted {args.model} on {len(df)} rows in {fit_s:.1f} s ({est.n_epochs_} epochs)")
    if actual is not None:
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
        backtest = est.predict(quantiles=list(args.interval))
        lo, hi = (backtest[quantile_column(t, q)].to_numpy() for q in args.interval)
        inside = np.mean((actual[t].to_numpy() >= lo) & (actual[t].to_numpy() <= hi))
        err = np.abs(backtest[t].to_numpy() - actual[t].to_numpy()).mean()
        print(f"last {horizon} days, forecast from the day before them: MAE {err:.2f}, {100 * inside:.0f}% inside "
              f"the {args.interval[0]:g}-{args.interval[1]:g} interval")
        est.update(full.iloc[len(full) - horizon:])
        df = full
    forecast = table = est.predict(quantiles=list(args.interval))
    if backtest is not None:
        print(f"forecast for the {horizon} days after the data: {forecast.index[0]:%Y-%m-%d} to "
              f"{forecast.index[-1]:%Y-%m-%d}")
        # One table: the last days' backtest with what happened, then the days after the data.
        actual_columns = {c: f"{c}_actual" for c in est.targets_}
        table = pd.concat([backtest.join(actual[est.targets_].rename(columns=actual_columns)).assign(kind="backtest"),
                           forecast.assign(kind="forecast")])
        table = table[["kind", *forecast.columns, *actual_columns.values()]]
    if args.out:
        try:
            table.to_csv(args.out)
        except OSError as exc:
            _fail("--out", f"cannot write {args.out}: {exc}")
        print(f"wrote {args.out}")
    else:
        print(table.to_string())
    if args.plot:
        from liquidts.forecast.plot import plot_forecast

        for t in est.targets_[:1]:
            ax = plot_forecast(df, forecast, t, interval=tuple(args.interval), actual=actual, backtest=backtest,
                               title=f"{t}: {horizon}-step forecast ({args.model})",
                               ylabel=f"{t} ({DEMO_UNITS[t]})" if backtest is not None and t in DEMO_UNITS else t)
            ax.figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0
