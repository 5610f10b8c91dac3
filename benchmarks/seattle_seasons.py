"""Does the core help on the `seattle` task's half-year in other years? The same protocol, moved back.

The `seattle` suite tests on July-December 2015 and fits on everything before. This script moves
that split back by whole years (tests on July-December 2014, then 2013, fitting on everything
before each) and scores the default forecaster, the same network without its core and ridge on
lags, as the suite does, so one can tell whether what the core does on the 2015 test half-year
is particular to that year (2015 had a record warm summer) or to the season.

    python benchmarks/seattle_seasons.py [--years 0 1 2] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.runner import run_one  # noqa: E402
from benchmarks.tasks import seattle_task  # noqa: E402

def moved_back(task, years: int):
    """``task`` with its fitting rows and test origins moved back ``years`` years of days."""
    days = 365 * years
    return dataclasses.replace(task, fit_end=task.fit_end - days, test_start=task.test_start - days,
                               test_end=task.test_end - days)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[0, 1, 2], help="years moved back")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
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
