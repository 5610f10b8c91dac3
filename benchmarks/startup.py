"""Start-up time of ``from liquidts import LiquidForecaster`` and ``liquidts --help``.

Each is run in several fresh processes; the median wall time is printed, with ``import torch``
and a bare interpreter for scale. Usage: ``python benchmarks/startup.py [--runs 7]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "python -c 'from liquidts import LiquidForecaster'":
        [sys.executable, "-c", "from liquidts import LiquidForecaster"],
    "liquidts --help": None,  # filled in main(): the installed console script
}


def median_seconds(cmd: list[str], runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per case (default 7)")
    args = parser.parse_args(argv)
    script = shutil.which("liquidts") or os.path.join(os.path.dirname(sys.executable), "liquidts")
    cases = dict(CASES, **{"liquidts --help": [script, "--help"] if os.path.exists(script)
                           else [sys.executable, "-m", "liquidts.cli", "--help"]})
    print(f"{args.runs} fresh processes per command, median wall time:\n")
    print("| command | median s | min s | max s |")
    print("| --- | --- | --- | --- |")
    for name, cmd in cases.items():
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm the file cache
        med, lo, hi = median_seconds(cmd, args.runs)
        print(f"| `{name}` | {med:.2f} | {lo:.2f} | {hi:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
