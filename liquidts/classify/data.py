"""Observations -> per-step features with masks and elapsed times -> padded batches.

Each subject becomes a sequence of steps, one per distinct time at which any of its time-varying
variables was observed. A step's features (F = 3V + 1 for V variables):

* values (V): each variable's last observation up to this step (carried forward), normalised;
  0 (the training median) before its first observation — always beside its mask, never alone;
* mask (V): 1 where the variable was observed at this step;
* since (V): log(1 + time since the variable was last observed / scale) (since the subject's first
  step when not yet observed);
* step (1): log(1 + elapsed time since the previous step / scale).

The elapsed time itself, ``dt / scale``, goes to the liquid cells as ``timespans``. ``scale`` is the
median positive step of the training subjects, so typical steps are about 1 whatever the unit.
Normalisation is fitted on the training subjects only: per variable, the median and a robust
spread (IQR / 1.349, else the std, else 1), then ``asinh`` so that recording errors (a pH of 735)
cannot dominate while ordinary values stay on a linear scale.

Static descriptors (``static=``) are the values of the named variables at a subject's first time,
encoded once per subject: one-hot for a variable with at most ``MAX_CATEGORIES`` integer values
in training (an unseen or missing category is all zeros), else normalised with a missing flag.

Letters: N subjects, R steps of all subjects, T steps of the longest subject in a batch,
V variables, F step features, S static features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from liquidts.classify.validate import Observations

MAX_CATEGORIES = 8


@dataclass
class Encoding:
    """What is fitted on the training subjects to turn observations into features."""

    variables: list  # V time-varying variable names
    center: np.ndarray  # (V,)
    spread: np.ndarray  # (V,)
    time_scale: float
    static: list  # static variable names
    static_kinds: list  # per static variable: list of categories (one-hot) or [center, spread] with kind
    static_missing: float | None

    @property
    def n_features(self) -> int:
        return 3 * len(self.variables) + 1

    @property
    def n_static(self) -> int:
        return sum(len(k["categories"]) if k["kind"] == "categorical" else 2 for k in self.static_kinds)

    def to_dict(self) -> dict:
        return dict(variables=self.variables, center=[float(v) for v in self.center],
                    spread=[float(v) for v in self.spread], time_scale=self.time_scale, static=self.static,
                    static_kinds=self.static_kinds, static_missing=self.static_missing)

    @classmethod
    def from_dict(cls, d: dict) -> "Encoding":
        return cls(d["variables"], np.asarray(d["center"], dtype=np.float64),
                   np.asarray(d["spread"], dtype=np.float64), d["time_scale"], d["static"], d["static_kinds"],
                   d["static_missing"])


@dataclass
class Encoded:
    """Features of N subjects: steps of subject i are rows ``offsets[i]:offsets[i+1]``."""

    features: np.ndarray  # (R, F) float32
    dt: np.ndarray  # (R,) float32: elapsed time before each step / scale (0 at a subject's first)
    offsets: np.ndarray  # (N + 1,) int64
    static: np.ndarray  # (N, S) float32

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def batch(self, index) -> "Batch":
        """Subjects ``index`` padded at the end to the longest of them."""
        index = np.asarray(index)
        lengths = self.lengths[index]
        T, F = int(lengths.max()), self.features.shape[1]
        x = np.zeros((len(index), T, F), dtype=np.float32)  # (B, T, F)
        dt = np.zeros((len(index), T), dtype=np.float32)  # (B, T)
        for b, i in enumerate(index):
            a, e = self.offsets[i], self.offsets[i + 1]
            x[b, : e - a] = self.features[a:e]
            dt[b, : e - a] = self.dt[a:e]
        return Batch(torch.from_numpy(x), torch.from_numpy(dt), torch.from_numpy(lengths.astype(np.int64)),
                     torch.from_numpy(self.static[index]))


@dataclass
class Batch:
    x: torch.Tensor  # (B, T, F)
    dt: torch.Tensor  # (B, T)
    lengths: torch.Tensor  # (B,)
    static: torch.Tensor  # (B, S)

    def to(self, device) -> "Batch":
        return Batch(self.x.to(device), self.dt.to(device), self.lengths.to(device), self.static.to(device))


def split_static(obs: Observations, static: list, static_missing):
    """Take the static descriptors out: returns the other observations, the value of each ``static``
    variable at its subject's first time (N, len(static)) (NaN when absent or equal to
    ``static_missing``), and each subject's first time (N,)."""
    n = len(obs.ids)
    first = np.full(n, np.inf)
    np.minimum.at(first, obs.subject, obs.time)
    values = np.full((n, len(static)), np.nan)
    is_static = np.zeros(len(obs.time), dtype=bool)
    for j, name in enumerate(static):
        rows = (obs.variable == name) & (obs.time == first[obs.subject])
        values[obs.subject[rows], j] = obs.value[rows]
        is_static |= rows
    if static_missing is not None:
        values[values == static_missing] = np.nan
    keep = ~is_static
    rest = Observations(obs.ids, obs.subject[keep], obs.time[keep], obs.variable[keep], obs.value[keep],
                        obs.time_kind, obs.list_input)
    return rest, values, first


def fit_encoding(obs: Observations, static_values: np.ndarray, static: list, static_missing) -> Encoding:
    """Variables, normalisation, time scale and static encoding from the training subjects."""
    variables = sorted(set(obs.variable.tolist()))
    center, spread = np.zeros(len(variables)), np.ones(len(variables))
    for j, name in enumerate(variables):
        center[j], spread[j] = _robust(obs.value[obs.variable == name])
    # Step lengths of all subjects at once: distinct (subject, time) pairs, sorted.
    pairs = np.unique(np.stack([obs.subject.astype(np.float64), obs.time]), axis=1)
    same = pairs[0, 1:] == pairs[0, :-1]
    steps = np.diff(pairs[1])[same]
    steps = steps[steps > 0]
    scale = float(np.median(steps)) if len(steps) else 1.0
    kinds = []
    for j, name in enumerate(static):
        v = static_values[:, j]
        v = v[~np.isnan(v)]
        cats = np.unique(v)
        if 0 < len(cats) <= MAX_CATEGORIES and np.all(cats == np.round(cats)):
            kinds.append(dict(kind="categorical", categories=[float(c) for c in cats]))
        else:
            c, s = _robust(v) if len(v) else (0.0, 1.0)
            kinds.append(dict(kind="numeric", center=c, spread=s))
    return Encoding(variables, center, spread, scale, list(static), kinds, static_missing)


def _robust(v: np.ndarray) -> tuple[float, float]:
    if len(v) == 0:
        return 0.0, 1.0
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    spread = (q3 - q1) / 1.349
    if not spread > 0:
        spread = float(np.std(v))
    if not spread > 0:
        spread = 1.0
    return float(med), float(spread)


def normalise(value: np.ndarray, center, spread) -> np.ndarray:
    return np.arcsinh((value - center) / spread)


def encode(obs: Observations, static_values: np.ndarray, first_times: np.ndarray, enc: Encoding) -> Encoded:
    """Step features of every subject of ``obs`` (static rows already taken out)."""
    index = {name: j for j, name in enumerate(enc.variables)}
    unknown = sorted(set(obs.variable.tolist()) - set(index))
    if unknown:
        rows = np.flatnonzero(obs.variable == unknown[0])
        raise ValueError(f"variable(s) {unknown} were not seen in training (e.g. {unknown[0]!r} of subject "
                         f"{obs.ids[obs.subject[rows[0]]]!r}); drop them or refit with them")
    n, V = len(obs.ids), len(enc.variables)
    var = np.array([index[v] for v in obs.variable], dtype=np.int64)
    # One step per distinct (subject, time); a subject with only static rows gets one empty step.
    empty = np.setdiff1d(np.arange(n), obs.subject)
    subj = np.concatenate([obs.subject, empty])
    time = np.concatenate([obs.time, first_times[empty]])
    order = np.lexsort((time, subj))
    subj, time = subj[order], time[order]
    new_step = np.ones(len(subj), dtype=bool)
    new_step[1:] = (subj[1:] != subj[:-1]) | (time[1:] != time[:-1])
    step_of = np.cumsum(new_step) - 1  # row -> step
    R = int(step_of[-1]) + 1
    step_subject, step_time = subj[new_step], time[new_step]
    offsets = np.searchsorted(step_subject, np.arange(n + 1))
    raw = np.full((R, V), np.nan)
    rows = step_of[np.argsort(order)][: len(obs.subject)]  # step of each observation, in obs order
    raw[rows, var] = normalise(obs.value, enc.center[var], enc.spread[var])
    mask = ~np.isnan(raw)
    # Last observation carried forward within each subject: the row index of the last observation
    # at or before each step; a subject's first row starts each run, so maxima never cross subjects.
    start = offsets[:-1][step_subject]  # (R,)
    at = np.where(mask, np.arange(R)[:, None], start[:, None])
    at = np.maximum.accumulate(at, axis=0)  # (R, V)
    cols = np.arange(V)[None, :]
    seen = mask[at, cols]
    values = np.where(seen, raw[at, cols], 0.0)
    last = np.where(seen, step_time[at], step_time[start][:, None])
    since = np.log1p((step_time[:, None] - last) / enc.time_scale)
    dt = np.zeros(R)
    inner = np.ones(R, dtype=bool)
    inner[offsets[:-1][np.diff(offsets) > 0]] = False
    dt[inner] = (step_time[inner] - step_time[np.flatnonzero(inner) - 1]) / enc.time_scale
    features = np.concatenate([values, mask, since, np.log1p(dt)[:, None]], axis=1).astype(np.float32)
    return Encoded(features, dt.astype(np.float32), offsets.astype(np.int64), encode_static(static_values, enc))


def encode_static(values: np.ndarray, enc: Encoding) -> np.ndarray:
    parts = []
    for j, kind in enumerate(enc.static_kinds):
        v = values[:, j]
        if kind["kind"] == "categorical":
            parts.append(np.stack([v == c for c in kind["categories"]], axis=1).astype(np.float32))
        else:
            observed = ~np.isnan(v)
            z = np.where(observed, normalise(np.nan_to_num(v), kind["center"], kind["spread"]), 0.0)
            parts.append(np.stack([z, observed], axis=1).astype(np.float32))
    if not parts:
        return np.zeros((len(values), 0), dtype=np.float32)
    return np.concatenate(parts, axis=1)
