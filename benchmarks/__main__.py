"""Run a benchmark suite and write its table, JSON and plot under benchmarks/results/.

    python -m benchmarks SUITE [--quick] [--tasks ETTh1 ...] [--models liquid linear ...] [--seeds 0 1 2]

Suites: ``ett`` (ETTh1, ETTh2, ETTm1, ETTm2 x horizons 96-720, lookback 96), ``weather`` (Jena,
21 variables, as published), ``seattle`` (daily temp_max, 7 days ahead), ``medical`` (ECG, PPG,
respiration at 100 Hz; PPG with its irregular clock and resampled; a 15,000-sample PPG).
``--quick`` runs each on a slice small enough for CI (files named ``<suite>-quick``). Small
networks run fastest on one CPU thread; the forecaster uses one by default (``--threads`` sets
torch's for everything else). Three suites have runners of their own (``python -m benchmarks
speed --help``, ``... classify --help``, ``... search --help``): ``speed`` (training, inference
and streaming cost against context length, every core and baseline), ``classify`` (PhysioNet
2012 mortality and JapaneseVowels with LiquidClassifier) and ``search`` (architecture search
against the hand-designed cores on an ett or weather task).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks import models, report, runner
from benchmarks.tasks import SUITES

RESULTS = Path(__file__).with_name("results")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Suites with their own runner: speed (cost against context length) and classify.
    if argv[:1] == ["speed"]:
        from benchmarks import speed

        return speed.main(argv[1:])
    if argv[:1] == ["classify"]:
        from benchmarks import classify

        return classify.main(argv[1:])
    if argv[:1] == ["search"]:
        from benchmarks import search

        return search.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=sorted([*SUITES, "speed", "classify", "search"]))
    parser.add_argument("--quick", action="store_true", help="a small slice of every task (CI)")
    parser.add_argument("--models", nargs="+", default=list(models.DEFAULT_MODELS))
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="only the tasks whose names start with one of these (e.g. ETTh1 physio)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (quick: 0)")
    parser.add_argument("--data-home", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="LiquidForecaster parameters for every network model, e.g. max_epochs=5")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--resume", action="store_true", help="keep the records already in the JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    params = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.quick:
        # A smoke test of every task and model, not a measurement: small networks, two epochs.
        params.setdefault("max_epochs", 2)
        params.setdefault("units", 16)
        params.setdefault("backbone_units", 16)
    tasks = all_tasks = SUITES[args.suite](args.data_home, args.quick)
    if args.tasks:
        tasks = [t for t in tasks if t.name.startswith(tuple(args.tasks))]
        if not tasks:
            parser.error(f"no task of suite {args.suite!r} starts with {args.tasks}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.suite}-quick" if args.quick else args.suite
    meta = dict(command="python -m benchmarks " + " ".join(argv),
                commit=_commit(), machine=f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), "
                f"{_cpus()} CPUs", torch=torch.__version__, threads=args.threads, seeds=seeds,
                date=datetime.date.today().isoformat(), params=params)
    json_path = out / f"{stem}.json"
    if not args.resume and json_path.exists():
        json_path.unlink()
    if args.resume and json_path.exists():
        # A resumed file lists every command that added records to it.
        before = json.loads(json_path.read_text()).get("meta", {})
        commands = [*before.get("command", "").split("; "), meta["command"]]
        meta["command"] = "; ".join(c for c in dict.fromkeys(commands) if c)
    runner.write_records(json_path, runner.json_records(json_path), meta)
    records = runner.run_suite(tasks, args.models, seeds, params, json_path, args.resume)
    # The report covers every task with records, also those of earlier (resumed) runs.
    names = list(dict.fromkeys([*args.models, *(r["model"] for r in records)]))
    shown = [t for t in all_tasks if any(r["task"] == t.name for r in records)]
    (out / f"{stem}.md").write_text(report.markdown(args.suite, shown, records, names, meta))
    report.plot(args.suite, shown, records, names, out / f"{stem}.png")
    print(f"wrote {out / stem}.md, .json, .png")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


if __name__ == "__main__":
    sys.exit(main())
