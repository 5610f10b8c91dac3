"""Architecture search against the hand-designed cores, on a forecasting task of the ett or weather suite.

    python -m benchmarks search [--task ETTh1-96] [--population 8] [--generations 4] [--workers 2]
                                [--set max_epochs=8 windows_per_epoch=8192] [--quick]

Every candidate is scored by the same evaluation, ``liquidts.search.evaluate_genome``: a
LiquidForecaster whose core is the genome's, fitted on the task's fitting rows (training and
validation split of the standard protocol) with the protocol's validation windows for early
stopping; its validation MSE once fitted (core and linear path blended, as it forecasts), the
core's parameters and the state it carries after the segments it reads. The hand-designed cores are written as genomes and scored the same way: the
default CfC (``cfc:64:d1``), an LSTM, a Transformer and a Mamba/CfC hybrid. The search is
``ArchitectureSearch`` (NSGA-II on validation MSE, parameters and state bytes) with a fixed seed.

The bar it reports (STAR's margins): a searched genome within 1% of the best hand-designed
validation MSE with at least 30% less state and at least 13% fewer parameters. The test split is
never read. Writes ``search-<task>.md``, ``.json`` and ``.png``; ``--checkpoint`` lets a killed
search resume, and a finished one go on for more ``--generations``; the hand-designed cores'
scores are kept beside it (``<checkpoint>.hand.json``) and not fitted again.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import multiprocessing
import platform
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).with_name("results")

#: Hand-designed cores at the forecaster's width ``w``, as genomes.
HAND_DESIGNED = {
    "CfC (default core)": "cfc:{w}:d1",
    "LSTM": "lstm:{w}",
    "Transformer": "transformer:{w}",
    "Mamba/CfC hybrid": "mamba:{w}+ln+res|cfc:{w}:d1+ln+res",
}
#: STAR's margins: quality within 1%, state at least 30% and parameters at least 13% smaller.
QUALITY_MARGIN, STATE_CUT, PARAMS_CUT = 0.01, 0.30, 0.13
#: The columns of the report's tables of searched genomes.
GENOME_COLUMNS = ["genome", "val_loss", "gain_kept", "params", "state_bytes", "generation"]


def task_data(name: str, data_home, quick: bool):
    """(fitting rows, forecaster parameters) of the ett/weather task ``name`` (e.g. ETTh1-96)."""
    from benchmarks.tasks import SUITES

    suite = "weather" if name.startswith("weather") else "ett"
    tasks = [t for t in SUITES[suite](data_home, quick) if t.name == name]
    if not tasks:
        raise SystemExit(f"no task {name!r} in suite {suite!r}")
    task = tasks[0]
    params = dict(horizon=task.horizon, lookback=task.lookback, target=task.targets,
                  validation_fraction=task.validation_fraction)
    return task.frame.iloc[: task.fit_end], params


def hand_designed(df, params, units, random_state, workers) -> pd.DataFrame:
    """The hand-designed genomes' evaluations (the search's own evaluation and seed rule)."""
    from liquidts.search import Genome, evaluate_genome, evaluation_seed

    texts = [t.format(w=units) for t in HAND_DESIGNED.values()]
    jobs = [(text, df, params, evaluation_seed(Genome.from_string(text), random_state), units) for text in texts]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(evaluate_genome, *zip(*jobs)))
    out = pd.DataFrame(rows)
    out.insert(0, "model", list(HAND_DESIGNED))
    return out


def reference_scores(df, params, units, random_state, workers, checkpoint) -> tuple[pd.DataFrame, float]:
    """The hand-designed cores' evaluations and the no-core validation MSE, read back from beside
    ``checkpoint`` when a run with the same task parameters stored them there."""
    # score: what val_loss measures (the fitted forecaster's validation loss), so that scores of
    # an earlier meaning are fitted again rather than compared with new ones.
    key = json.loads(json.dumps(dict(params=params, units=units, seed=random_state, score="validation_score_"),
                                default=str))
    store = Path(f"{checkpoint}.hand.json") if checkpoint else None
    if store is not None and store.exists():
        saved = json.loads(store.read_text())
        if saved["key"] == key:
            return pd.DataFrame(saved["hand_designed"]), saved["without_core"]
    hand = hand_designed(df, params, units, random_state, workers)
    no_core = without_core(df, params, units, random_state)
    if store is not None:
        store.write_text(json.dumps(dict(key=key, hand_designed=hand.to_dict("records"), without_core=no_core),
                                    indent=1, default=float))
    return hand, no_core


def without_core(df, params, units, random_state) -> float:
    """The same forecaster's validation MSE with no core (its linear path alone): how much of the
    validation MSE any core can move."""
    import torch

    from liquidts.forecast import LiquidForecaster

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LiquidForecaster(model="linear", units=units, random_state=random_state, n_threads=1, **params).fit(df)
    return float(est.validation_score_)


def star_check(hand: pd.DataFrame, history: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """The best hand-designed model and the searched genomes that meet STAR's margins against it."""
    best = hand.sort_values("val_loss").iloc[0]
    ok = history[history["error"].isna()]
    wins = ok[(ok["val_loss"] <= best["val_loss"] * (1 + QUALITY_MARGIN))
              & (ok["state_bytes"] <= best["state_bytes"] * (1 - STATE_CUT))
              & (ok["params"] <= best["params"] * (1 - PARAMS_CUT))]
    return best, wins.sort_values("val_loss")


def with_gain_kept(frame: pd.DataFrame, without_core: float, best_loss: float) -> pd.DataFrame:
    """``frame`` with ``gain_kept``: how much of the best hand-designed core's improvement on the
    forecaster without a core each row keeps (1: all of it; above 1: more; NaN, shown as n/a,
    where no hand-designed core improves on it). Where cores take
    only about 1% off the linear path (ETTh1-96), STAR's 1% quality margin admits almost any
    genome; this says which of them actually do the core's work."""
    gain = without_core - best_loss
    return frame.assign(gain_kept=(without_core - frame["val_loss"]) / gain if gain > 0 else np.nan)


def _table(frame: pd.DataFrame, cols: list) -> list:
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for _, r in frame.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"`{v}`" if c == "genome" else f"{v:.4f}" if c == "val_loss" else
                         (f"{v:.0%}" if np.isfinite(v) else "n/a") if c == "gain_kept" else
                         f"{int(v):,}" if c in ("params", "state_bytes") else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _evaluation_time(history: pd.DataFrame) -> str:
    """The evaluations' recorded wall time, summed over every run of a resumed search (records
    written before evaluations were timed have none)."""
    timed = history["seconds"].dropna() if "seconds" in history else pd.Series(dtype=float)
    if timed.empty:
        return ""
    return (f" The checkpoint records {timed.sum() / 3600:.1f} h of evaluation (wall time, summed over workers) for "
            f"{len(timed)} of the {len(history)} evaluations.")


def markdown(meta: dict, hand: pd.DataFrame, search, best: pd.Series, wins: pd.DataFrame) -> str:
    history = search.history_
    kept = functools.partial(with_gain_kept, without_core=meta["without_core"], best_loss=best["val_loss"])
    lines = [f"# Architecture search on {meta['task']}", "",
             f"Command: `{meta['command']}`  ",
             f"Commit: `{meta['commit']}`; machine: {meta['machine']}; date: {meta['date']}; "
             f"{meta['evaluations']} evaluations; this run took {meta['search_s'] / 60:.1f} min for the search "
             f"and {meta['hand_s'] / 60:.1f} min for the hand-designed cores with {meta['workers']} worker(s), "
             "one torch thread each (a resumed run counts only what it did not read back from its checkpoint)."
             + _evaluation_time(history),
             "",
             "Every row is the same evaluation: the forecaster with that core fitted on the task's fitting "
             "rows with forecaster parameters " + ", ".join(f"`{k}={v:.3g}`" if isinstance(v, float) else f"`{k}={v}`"
                                                          for k, v in meta["params"].items() if k != "target")
             + f", width {meta['units']}; `val_loss` is its validation MSE once fitted (core and linear path blended; normalised units), `params` "
             "the core's parameters, `state_bytes` what the core carries per sequence after the segments it "
             "reads. The test split is never read.", "",
             "## Hand-designed cores", ""]
    lines += _table(kept(hand), ["model", "genome", "val_loss", "gain_kept", "params", "state_bytes"])
    lines += ["", f"The same forecaster without a core (its linear path alone): validation MSE "
                  f"{meta['without_core']:.4f}, the reference any core improves on. `gain_kept`: the share of "
                  "the best hand-designed core's improvement on it that a row keeps.", ""]
    lines += ["", f"## The search's Pareto front ({len(search.pareto_)} of {len(history)} evaluated genomes)", ""]
    lines += _table(kept(search.pareto_), GENOME_COLUMNS)
    state_max = best["state_bytes"] * (1 - STATE_CUT)
    params_max = best["params"] * (1 - PARAMS_CUT)
    lines += ["", "## STAR's margins", "",
              f"Best hand-designed core: {best['model']} (`{best['genome']}`), validation MSE "
              f"{best['val_loss']:.4f}, {int(best['params']):,} parameters, {int(best['state_bytes']):,} state bytes. "
              f"A searched genome meets the bar with validation MSE <= {best['val_loss'] * (1 + QUALITY_MARGIN):.4f}, "
              f"state <= {state_max:,.0f} bytes and parameters <= {params_max:,.0f}.", ""]
    if len(wins):
        wins = kept(wins)
        full = int((wins["gain_kept"] >= 1).sum())
        lines += [f"**Met** by {len(wins)} evaluated genome(s), {full} of them keeping all of the best "
                  "hand-designed core's gain (`gain_kept` >= 100%):", ""]
        lines += _table(wins.head(10), GENOME_COLUMNS)
    else:
        closest = history[history["error"].isna()].sort_values("val_loss").head(5)
        lines += ["**Not met** by any evaluated genome. The five with the lowest validation MSE:", ""]
        lines += _table(kept(closest), GENOME_COLUMNS)
    lines += ["", f"The search's choice (`tolerance=0.01`: the leanest genome on its front within 1% of the front's "
                  f"lowest validation MSE): `{search.best_genome_}`.", ""]
    return "\n".join(lines)


def plot(search, hand: pd.DataFrame, without_core_loss: float, path: Path) -> None:
    from liquidts.search.plot import plot_pareto

    ax = plot_pareto(search)
    ax.axhline(without_core_loss, color="0.4", ls="--", lw=1, label="without a core (linear path)")
    ax.scatter(hand["state_bytes"], hand["val_loss"], marker="s", s=40, color="tab:green", zorder=4,
               label="hand-designed")
    for _, r in hand.iterrows():
        ax.annotate(r["model"], (r["state_bytes"], r["val_loss"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # never over a point
    ax.figure.set_size_inches(8, 4)
    ax.figure.savefig(path, dpi=120)


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="ETTh1-96")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="LiquidForecaster parameters of every evaluation, e.g. max_epochs=8")
    parser.add_argument("--quick", action="store_true",
                        help="the quick slice of the task, 2 generations x 4 genomes, width 16, 2 epochs (CI)")
    parser.add_argument("--data-home", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--checkpoint", default=None, help="a JSON file the search resumes from after a kill")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    from benchmarks.__main__ import _commit, _cpus, _value
    from liquidts.search import ArchitectureSearch

    df, params = task_data(args.task, args.data_home, args.quick)
    params.update({k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    population, generations, units = args.population, args.generations, args.units
    if args.quick:
        population, generations, units = 4, 2, 16
        params.setdefault("max_epochs", 2)
    start = time.perf_counter()
    hand, no_core = reference_scores(df, params, units, args.seed, args.workers, args.checkpoint)
    hand_s = time.perf_counter() - start
    search = ArchitectureSearch(population=population, generations=generations, n_workers=args.workers,
                                tolerance=QUALITY_MARGIN, refit=False, random_state=args.seed,
                                checkpoint=args.checkpoint, verbose=True)
    start = time.perf_counter()
    search.fit(df, units=units, **params)
    search_s = time.perf_counter() - start
    best, wins = star_check(hand, search.history_)
    meta = dict(command="python -m benchmarks search " + " ".join(argv), commit=_commit(), task=args.task,
                machine=f"{platform.machine()}, {_cpus()} CPUs", date=datetime.date.today().isoformat(),
                workers=args.workers, units=units, population=population, generations=generations,
                seed=args.seed, params={k: v for k, v in params.items()}, evaluations=len(search.history_),
                hand_s=round(hand_s, 1), search_s=round(search_s, 1), without_core=no_core, bar_met=bool(len(wins)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"search-{args.task}{'-quick' if args.quick else ''}"
    body = dict(meta=meta, hand_designed=hand.to_dict("records"),
                history=search.history_.replace({np.nan: None}).to_dict("records"),
                pareto=search.pareto_.to_dict("records"), chosen=str(search.best_genome_))
    stem.with_suffix(".json").write_text(json.dumps(body, indent=1, default=str))
    stem.with_suffix(".md").write_text(markdown(meta, hand, search, best, wins))
    plot(search, hand, no_core, stem.with_suffix(".png"))
    print(f"wrote {stem}.md, .json, .png; STAR's margins {'met' if len(wins) else 'not met'}")
    return 0
