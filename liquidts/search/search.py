"""ArchitectureSearch: multi-objective evolution of sequence-core genomes with pymoo's NSGA-II.

pymoo (``pip install 'liquidts[search]'``) runs the search: its NSGA-II binary tournament,
non-dominated sorting and crowding-distance survival; this module supplies the genome operators
(sampling, mutation, crossover, duplicate elimination from :mod:`liquidts.search.genome`) and the
evaluation: fit ``LiquidForecaster(model=build(genome, units), **forecaster_params)`` and read
the fitted forecaster's validation loss (``validation_score_``: the core and the linear path
blended, as it forecasts), the core's parameters and its inference state bytes.

Determinism: pymoo draws from ``random_state``; each evaluation is seeded from the genome and
``random_state`` alone (not from the worker or the order of completion) and runs on one torch
thread, so a genome always gets the same scores and the search gives the same result whatever
``n_workers`` is (on CPU).

Checkpoint: after every evaluation the evaluated genomes (with their scores), and after every
generation its surviving population, are written atomically as JSON (a kill loses at most the
evaluations running at the time). A search started with the same checkpoint file, data and
parameters replays the pymoo loop from the seed, reading the recorded scores instead of
re-fitting, and continues where the interrupted run stopped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from liquidts.search.genome import (OPERATORS, WIDTHS, Genome, build, count_parameters, crossover, mutate,
                                    random_genome, state_bytes, step_latency)

OBJECTIVES = ("val_loss", "params", "state_bytes", "latency")
FAILED = 1e30  # the score of an evaluation that raised or diverged
# 2: val_loss is the fitted forecaster's (blended) validation loss; 1 scored the core alone.
_FORMAT = "liquidts.ArchitectureSearch/2"


def _require_pymoo():
    try:
        import pymoo  # noqa: F401
    except ImportError:
        raise ImportError("ArchitectureSearch needs pymoo: pip install 'liquidts[search]' (or pip install pymoo)") \
            from None


def evaluation_seed(genome: Genome, random_state: int) -> int:
    """The seed of one genome's evaluation: a function of the genome and the search's seed only."""
    return int((genome.digest() ^ (int(random_state) * 0x9E3779B97F4A7C15)) % (2**31 - 1))


def evaluate_genome(text: str, df, forecaster_params: dict, seed: int, units: int) -> dict:
    """Fit a forecaster on the core of genome ``text`` (one torch thread) and return its scores
    (``latency``, ms per step, is always measured; it is an objective only when asked for) and
    ``seconds``, the evaluation's wall time.
    Module-level so worker processes can run it."""
    import torch

    from liquidts.forecast.estimator import LiquidForecaster

    start = time.perf_counter()
    torch.set_num_threads(1)
    genome = Genome.from_string(text)
    out = {"genome": text, "seed": seed, "error": None}
    try:
        torch.manual_seed(seed)
        core = build(genome, units)
        params = dict(forecaster_params)
        params.update(model=core, units=units, random_state=seed, n_threads=1, verbose=False, checkpoint=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = LiquidForecaster(**params).fit(df)
        loss = float(est.validation_score_)  # the fitted forecaster's: core and linear path blended
        if not math.isfinite(loss):
            raise FloatingPointError(f"non-finite validation loss {loss}")
        context = est.net_.config.n_segments
        out.update(val_loss=loss, params=count_parameters(core), state_bytes=state_bytes(core, context),
                   epochs=int(est.n_epochs_), latency=step_latency(core, context) * 1e3)
    except Exception as exc:  # an unlucky architecture must not end the search
        out.update(val_loss=FAILED, params=FAILED, state_bytes=FAILED, latency=float("nan"), epochs=0,
                   error=f"{type(exc).__name__}: {exc}")
    out["seconds"] = time.perf_counter() - start  # wall clock; lets a resumed search's report sum its cost
    return out


def _init_worker():
    import torch

    torch.set_num_threads(1)


class _LocalPool:
    def __init__(self, n_workers):
        import multiprocessing

        self.pool = None if n_workers == 1 else ProcessPoolExecutor(
            n_workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)

    def map(self, jobs):
        """The evaluations of ``jobs``, in order, each yielded as soon as it and those before it are done."""
        if self.pool is None:
            return (evaluate_genome(*job) for job in jobs)
        return self.pool.map(evaluate_genome, *zip(*jobs)) if jobs else iter(())

    def close(self):
        if self.pool is not None:
            # After an interruption, evaluations not yet started are dropped rather than run.
            self.pool.shutdown(wait=True, cancel_futures=True)


class _RayPool:
    def __init__(self, n_workers, address):
        try:
            import ray
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'liquidts[ray]' (or pip install ray); "
                              "backend='process' runs a local process pool without it") from None
        self.ray = ray
        self.started = not ray.is_initialized()  # a session the caller opened is left open
        if self.started:
            ray.init(address=address, num_cpus=None if address else n_workers, include_dashboard=False,
                     log_to_driver=False)
        self.remote = ray.remote(num_cpus=1)(evaluate_genome)

    def map(self, jobs):
        if not jobs:
            return iter(())
        df_ref = self.ray.put(jobs[0][1])
        refs = [self.remote.remote(j[0], df_ref, *j[2:]) for j in jobs]
        return (self.ray.get(ref) for ref in refs)

    def close(self):
        if self.started:
            self.ray.shutdown()


class ArchitectureSearch:
    """Evolve sequence-core genomes for a :class:`~liquidts.LiquidForecaster` on several objectives.

    Parameters
    ----------
    objectives : tuple of str, default ("val_loss", "params", "state_bytes")
        Minimised together: ``val_loss`` (the fitted forecaster's validation loss), ``params`` (the
        core's trainable numbers, shared weights once), ``state_bytes`` (inference state of one
        sequence after the lookback's segments), ``latency`` (ms per step; wall clock, so a search
        on it is not reproducible).
    population, generations : NSGA-II population size and number of generations (the first is
        the random initial population).
    n_workers : int, default 1
        Evaluations run at once, each on one torch thread.
    backend : {"process", "ray"}, default "process"
        ``"process"``: a local process pool; ``"ray"``: Ray tasks (``ray.init()`` locally, or the
        cluster at ``ray_address``).
    operators, widths : the operators and widths genomes draw from; ``max_blocks``: blocks per
        initial genome (mutation may grow a genome up to ``max_blocks`` too).
    tolerance : float, default 0.0
        ``best_estimator_`` rule: among the Pareto front, the genomes whose validation loss is within
        ``(1 + tolerance)`` times the lowest; of those the one with the fewest state bytes, then the
        fewest parameters, then the lowest loss. With 0: the lowest validation loss, ties by state bytes.
    refit : bool, default True
        Fit ``best_estimator_`` on the chosen genome (with its evaluation's seed: the same fit).
    checkpoint : path or None
        JSON file of evaluated genomes and the population per generation, written atomically;
        a search of the same data and parameters resumes from it, also with more ``generations``
        than it was run with (the recorded ones are replayed, then it goes on).
    random_state : int, default 0; verbose : bool, default False (a progress bar over the
        evaluations and one line per generation).

    Attributes (after fit): ``history_`` (every evaluation), ``pareto_`` (the non-dominated
    evaluations, by validation loss), ``best_genome_``, ``best_estimator_``, ``populations_``.
    """

    def __init__(self, objectives=("val_loss", "params", "state_bytes"), population=8, generations=4,
                 n_workers=1, backend="process", ray_address=None, operators=OPERATORS, widths=WIDTHS,
                 max_blocks=3, tolerance=0.0, refit=True, checkpoint=None, random_state=0, verbose=False):
        self.objectives = objectives
        self.population = population
        self.generations = generations
        self.n_workers = n_workers
        self.backend = backend
        self.ray_address = ray_address
        self.operators = operators
        self.widths = widths
        self.max_blocks = max_blocks
        self.tolerance = tolerance
        self.refit = refit
        self.checkpoint = checkpoint
        self.random_state = random_state
        self.verbose = verbose

    def _check(self, forecaster_params):
        objectives = tuple(self.objectives)
        if not objectives or any(o not in OBJECTIVES for o in objectives) or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives must be distinct names from {OBJECTIVES}, got {self.objectives!r}")
        for name in ("population", "generations", "n_workers", "max_blocks"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.population < 2:
            raise ValueError("population must be at least 2")
        if self.backend not in ("process", "ray"):
            raise ValueError(f"backend must be 'process' or 'ray', got {self.backend!r}")
        if any(o not in OPERATORS for o in self.operators) or not self.operators:
            raise ValueError(f"operators must be taken from {OPERATORS}")
        if any(w not in WIDTHS for w in self.widths) or not self.widths:
            raise ValueError(f"widths must be taken from {WIDTHS}")
        if not isinstance(self.random_state, (int, np.integer)):
            raise ValueError("random_state must be an int (the search is reproducible only from a fixed seed)")
        for bad in ("model", "random_state", "checkpoint", "n_threads"):
            if bad in forecaster_params:
                raise ValueError(f"{bad}= is set by the search; do not pass it to fit")
        if forecaster_params.get("validation_fraction", 0.1) <= 0:
            raise ValueError("the search scores genomes on held-out windows: validation_fraction must be > 0")
        return objectives

    def _fingerprint(self, df, forecaster_params) -> str:
        import hashlib

        # Not ``generations``: it only says how far to go, so a finished search extends from its
        # checkpoint (the replayed generations are the recorded ones; they are checked).
        params = {k: getattr(self, k) for k in ("objectives", "population", "operators", "widths",
                                                "max_blocks", "random_state")}
        digest = hashlib.sha256(json.dumps([params, forecaster_params], sort_keys=True, default=repr).encode())
        digest.update(pd.util.hash_pandas_object(df, index=True).values.tobytes())
        return digest.hexdigest()

    # ----- the search ------------------------------------------------------------------------------
    def fit(self, df, **forecaster_params):
        """Search on ``df``; ``forecaster_params`` go to every LiquidForecaster (``units`` sets the
        core's width, default 32)."""
        _require_pymoo()
        objectives = self._check(forecaster_params)
        units = int(forecaster_params.pop("units", 32))
        fingerprint = self._fingerprint(df, {**forecaster_params, "units": units})
        record = self._read_checkpoint(fingerprint)
        cache = {e["genome"]: e for e in record["evaluations"]}
        populations = []
        algorithm, problem = self._algorithm(objectives)
        pool = (_RayPool(self.n_workers, self.ray_address) if self.backend == "ray" and self.n_workers > 1
                else _LocalPool(self.n_workers))
        order = list(record["order"])  # genome strings in evaluation order
        bar = tqdm(total=self.generations * self.population, desc="search", unit="genome", disable=not self.verbose)
        try:
            for gen in range(self.generations):
                pop = algorithm.ask()
                texts = [str(x[0]) for x in pop.get("X")]
                todo = [t for t in dict.fromkeys(texts) if t not in cache]
                bar.total += len(texts) - self.population  # pymoo may offer fewer offspring than asked
                bar.update(len(texts) - len(todo))  # read back from the checkpoint or evaluated before
                jobs = [(t, df, forecaster_params, evaluation_seed(Genome.from_string(t), self.random_state),
                         units) for t in todo]
                for res in pool.map(jobs):
                    res["generation"] = gen
                    cache[res["genome"]] = res
                    order.append(res["genome"])
                    self._write_checkpoint(fingerprint, [cache[t] for t in order], populations, order)
                    bar.update(1)
                pop.set("F", np.array([[float(cache[t][o]) for o in objectives] for t in texts]))
                algorithm.tell(infills=pop)
                survivors = [str(x[0]) for x in algorithm.pop.get("X")]
                populations.append(survivors)
                if gen >= len(record["populations"]):
                    self._write_checkpoint(fingerprint, [cache[t] for t in order], populations, order)
                elif record["populations"][gen] != survivors:
                    raise RuntimeError(f"checkpoint {self.checkpoint!r}: the replayed generation {gen} differs from "
                                       "the recorded one (another version of liquidts or pymoo?); remove the file "
                                       "to start afresh")
                if self.verbose:
                    best = min(cache[t]["val_loss"] for t in survivors)
                    bar.write(f"generation {gen + 1}/{self.generations}: {len(todo)} evaluated, "
                              f"best val_loss {best:.5g}", file=sys.stderr)
        finally:
            bar.close()
            pool.close()
        # A checkpoint of a longer search holds later generations too: they are not this search's.
        self.history_ = pd.DataFrame([cache[t] for t in order if cache[t]["generation"] < self.generations]) \
            .reset_index(drop=True)
        self.populations_ = populations
        self.objectives_ = objectives
        self.pareto_ = self._front(self.history_, objectives)
        self.best_genome_ = Genome.from_string(self._choose(self.pareto_))
        self.units_ = units
        if self.refit:
            from liquidts.forecast.estimator import LiquidForecaster, _torch_threads

            seed = evaluation_seed(self.best_genome_, self.random_state)
            with _torch_threads(1):
                import torch

                torch.manual_seed(seed)
                core = build(self.best_genome_, units)
            params = dict(forecaster_params, model=core, units=units, random_state=seed, n_threads=1)
            self.best_estimator_ = LiquidForecaster(**params).fit(df)
        return self

    def _algorithm(self, objectives):
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.problem import Problem
        from pymoo.termination import get_termination

        problem = Problem(n_var=1, n_obj=len(objectives), vtype=object)
        algorithm = NSGA2(pop_size=self.population, sampling=_Sampling(self), crossover=_Crossover(self),
                          mutation=_Mutation(self), eliminate_duplicates=_Duplicates())
        algorithm.setup(problem, termination=get_termination("n_gen", self.generations), seed=int(self.random_state),
                        verbose=False)
        return algorithm, problem

    @staticmethod
    def _front(history: pd.DataFrame, objectives) -> pd.DataFrame:
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        ok = history[history["error"].isna()] if len(history) else history
        if not len(ok):
            raise RuntimeError("every evaluation failed; see history_['error']")
        F = ok[list(objectives)].to_numpy(dtype=float)
        front = NonDominatedSorting().do(F, only_non_dominated_front=True)
        cols = ["genome", "val_loss", "params", "state_bytes", "latency", "generation", "seed"]
        return ok.iloc[np.sort(front)][cols].sort_values(["val_loss", "state_bytes", "params", "genome"]) \
            .reset_index(drop=True)

    def _choose(self, front: pd.DataFrame) -> str:
        limit = front["val_loss"].min() * (1 + self.tolerance)
        near = front[front["val_loss"] <= limit]
        return near.sort_values(["state_bytes", "params", "val_loss", "genome"]).iloc[0]["genome"]

    # ----- checkpoint ------------------------------------------------------------------------------
    def _read_checkpoint(self, fingerprint):
        empty = {"evaluations": [], "populations": [], "order": []}
        if self.checkpoint is None or not os.path.exists(self.checkpoint):
            return empty
        try:
            with open(self.checkpoint) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            warnings.warn(f"checkpoint {os.fspath(self.checkpoint)!r} is unreadable ({exc}); starting afresh",
                          UserWarning, stacklevel=3)
            return empty
        if data.get("format") != _FORMAT or data.get("fingerprint") != fingerprint:
            warnings.warn(f"checkpoint {os.fspath(self.checkpoint)!r} belongs to another search (other data or "
                          "parameters); starting afresh and overwriting it", UserWarning, stacklevel=3)
            return empty
        return data

    def _write_checkpoint(self, fingerprint, evaluations, populations, order):
        if self.checkpoint is None:
            return
        from liquidts.forecast.estimator import atomic_write

        data = {"format": _FORMAT, "fingerprint": fingerprint, "evaluations": evaluations,
                "populations": populations, "order": order}

        def write(tmp):
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1, default=float)

        atomic_write(self.checkpoint, write)

    def plot_pareto(self, x="state_bytes", y="val_loss", ax=None):
        from liquidts.search.plot import plot_pareto

        return plot_pareto(self, x=x, y=y, ax=ax)


# ----- pymoo operators on genomes ------------------------------------------------------------------
def _make_operators():
    from pymoo.core.crossover import Crossover
    from pymoo.core.duplicate import ElementwiseDuplicateElimination
    from pymoo.core.mutation import Mutation
    from pymoo.core.sampling import Sampling

    class GenomeSampling(Sampling):
        def __init__(self, search):
            super().__init__()
            self.search = search

        def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
            s = self.search
            X = np.empty((n_samples, 1), dtype=object)
            for i in range(n_samples):
                X[i, 0] = random_genome(random_state, s.max_blocks, s.operators, s.widths).to_string()
            return X

    class GenomeCrossover(Crossover):
        def __init__(self, search):
            super().__init__(2, 2)
            self.search = search

        def _do(self, problem, X, *args, random_state=None, **kwargs):
            _, n_matings, _ = X.shape
            Y = np.empty_like(X)
            for k in range(n_matings):
                a, b = (Genome.from_string(X[p, k, 0]) for p in (0, 1))
                c, d = crossover(a, b, random_state, max_blocks=self.search.max_blocks)
                Y[0, k, 0], Y[1, k, 0] = c.to_string(), d.to_string()
            return Y

    class GenomeMutation(Mutation):
        def __init__(self, search):
            super().__init__()
            self.search = search

        def _do(self, problem, X, *args, random_state=None, **kwargs):
            s = self.search
            for i in range(len(X)):
                X[i, 0] = mutate(Genome.from_string(X[i, 0]), random_state, s.operators, s.widths,
                                 max_blocks=s.max_blocks).to_string()
            return X

    class GenomeDuplicates(ElementwiseDuplicateElimination):
        def is_equal(self, a, b):
            return a.X[0] == b.X[0]

    return GenomeSampling, GenomeCrossover, GenomeMutation, GenomeDuplicates


def _Sampling(search):
    return _make_operators()[0](search)


def _Crossover(search):
    return _make_operators()[1](search)


def _Mutation(search):
    return _make_operators()[2](search)


def _Duplicates():
    return _make_operators()[3]()


__all__ = ["ArchitectureSearch", "OBJECTIVES", "evaluate_genome", "evaluation_seed"]
