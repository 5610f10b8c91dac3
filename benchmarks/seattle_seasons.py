"""Does the core help on the `seattle` task's half-year in other years? The same protocol, moved back.

The `seattle` suite tests on July-December 2015 and fits on everything before. This script moves
that split back by whole years (tests on July-December 2014, then 2013, fitting on everything
before each) and scores the default forecaster, the same network without its core and ridge on
lags, as the suite does, so one can tell whether what the core does on the 2015 test half-year
is particular to that year (2015 had a record warm summer) or to the season.

With ``--quarters N`` it instead refits at each of the N quarters (91 days) before the suite's
test half-year, fitting on everything before each and forecasting from each of its days; it
prints the core's effect per quarter, then chooses the blend share from those out-of-fold
forecasts (a multi-window backtest, instead of the fit's one held-out spring) and scores the
suite's test half-year with it.

    python benchmarks/seattle_seasons.py [--years 0 1 2] [--seeds 0 1 2]
    python benchmarks/seattle_seasons.py --quarters 4 [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import models  # noqa: E402
from benchmarks.runner import run_one  # noqa: E402
from benchmarks.tasks import seattle_task  # noqa: E402

def moved_back(task, years: int):
    """``task`` with its fitting rows and test origins moved back ``years`` years of days."""
    days = 365 * years
    return dataclasses.replace(task, fit_end=task.fit_end - days, test_start=task.test_start - days,
                               test_end=task.test_end - days)


def quarter(task, k: int):
    """``task`` fitted on everything before the k-th quarter (91 days) before its test half-year,
    forecasting from each day of that quarter."""
    start = task.test_start - 91 * k
    return dataclasses.replace(task, fit_end=start, test_start=start, test_end=start + 91 + task.horizon - 1)


def both_paths(task, seed: int):
    """The fitted default model's core forecast and linear-path forecast (origins, H) from every
    test origin, the truth, and the blend share the fit chose on its held-out windows."""
    est = models.build("liquid", task, seed)
    est.fit(task.frame.iloc[: task.fit_end])
    chosen = est.net_.blend.clone()
    forecasts = []
    for share in (1.0, 0.0):  # the core alone, then the linear path alone
        est.net_.blend.fill_(share)
        forecasts.append(est.rolling_forecast(task.frame.iloc[: task.test_end], task.test_start)[..., 0])
    return forecasts[0], forecasts[1], task.truth()[..., 0], chosen.numpy()


def least_squares_share(core, linear, truth):
    """Per step ahead, the share of the core against the linear path with least squared error, in [0, 1]."""
    seen = ~np.isnan(truth)
    gap, miss = np.where(seen, core - linear, 0.0), np.where(seen, truth - linear, 0.0)
    return np.clip((gap * miss).sum(0) / (gap * gap).sum(0), 0.0, 1.0)


def quarters(n: int, seeds) -> None:
    base = seattle_task()
    print("| first day of the quarter | liquid MAE (seeds) | mean | without the core | without the core vs liquid |")
    print("| --- | --- | --- | --- | --- |")
    oof = {seed: [] for seed in seeds}
    for k in range(1, n + 1):
        task = quarter(base, k)
        fits = {seed: both_paths(task, seed) for seed in seeds}
        for seed, (core, linear, truth, chosen) in fits.items():
            oof[seed].append((core, linear, truth))
        blended = [np.nanmean(np.abs(lin + ch * (core - lin) - truth)) for core, lin, truth, ch in fits.values()]
        linear = np.nanmean(np.abs(fits[seeds[0]][1] - fits[seeds[0]][2]))
        mean = statistics.mean(blended)
        print(f"| {task.frame.index[task.test_start].date()} | {', '.join(f'{m:.3f}' for m in blended)} "
              f"| {mean:.4f} | {linear:.4f} | {100 * (linear / mean - 1):+.1f}% |", flush=True)
    print()
    print("| seed | share chosen on the held-out spring (steps 1-7) | share chosen on the quarters' out-of-fold "
          "forecasts | test MAE, spring share | test MAE, out-of-fold share | without the core |")
    print("| --- | --- | --- | --- | --- | --- |")
    for seed in seeds:
        core, linear, truth = (np.concatenate(parts) for parts in zip(*oof[seed]))
        share = least_squares_share(core, linear, truth)
        core, linear, truth, chosen = both_paths(base, seed)

        def mae(s):
            return np.nanmean(np.abs(linear + s * (core - linear) - truth))

        print(f"| {seed} | {' '.join(f'{v:.2f}' for v in chosen)} | {' '.join(f'{v:.2f}' for v in share)} "
              f"| {mae(chosen):.3f} | {mae(share):.3f} | {mae(0.0):.4f} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[0, 1, 2], help="years moved back")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quarters", type=int, default=0,
                        help="refit at this many quarters before the test half-year instead (see above)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quarters:
        quarters(args.quarters, args.seeds)
        return 0
    print("| first test day | fitting days | liquid MAE (seeds) | mean | without the core | ridge on lags |"
          " without the core vs liquid |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for years in args.years:
        task = moved_back(seattle_task(), years)
        liquid = [run_one(task, "liquid", seed, {})["mae"] for seed in args.seeds]
        linear = run_one(task, "linear", 0, {})["mae"]  # the linear path is seed-free
        ridge = run_one(task, "ridge", 0, {})["mae"]
        mean = statistics.mean(liquid)
        first = task.frame.index[task.test_start].date()
        print(f"| {first} | {task.fit_end} | {', '.join(f'{m:.3f}' for m in liquid)} | {mean:.4f} | {linear:.4f} "
              f"| {ridge:.4f} | {100 * (linear / mean - 1):+.1f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
