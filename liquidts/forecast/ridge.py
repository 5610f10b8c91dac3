"""The linear path's start: ridge regression in closed form, its inputs, penalty and the
window normalisation chosen by blocked cross-validation.

The linear path reads blocks of inputs (each target's lookback, always; the covariates' last
segment; the features known for the forecast steps: the calendar of the first one and the
future covariates). Whether a block helps depends on the data: the calendar of the forecast
days carries a temperature's return to its seasonal normal, but on a series whose level drifts
(a transformer's load) a seasonal offset learned in one era misleads in the next. A validation
window at the end of the training data alone cannot tell: it shares the era of the windows just
before it. So every choice is scored by forward chaining over all windows (the caller cuts them
into consecutive blocks; each block from the second on is forecast by a fit on the blocks
before it, leaving out the windows whose targets reach into it), and the choice with the lowest
mean error relative to the lookback-only model wins (Bergmeir & Benítez, 2012, on blocked
cross-validation for time series).

The same folds choose the linear path's normalisation (the core's is always per window): each
window by its own mean and std (RLinear; what a drifting series needs), or the series' scaling (what a stationary one with a
strong seasonal level, such as a city's daily temperature, needs: there the window's own
mean hides how far the weather is from its normal); the series' scaling only where it wins on
average and on the most recent fold (:func:`choose`).

Least squares weight each window's rows by its std, so they are those of the training loss,
measured after the window normalisation is undone: unweighted, windows of nearly constant
values (a dry spell's rain) would dominate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

#: Ridge penalties tried, relative to the mean diagonal of X'X.
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class NormalEquations:
    """Weighted X'X (P+1, P+1) with an intercept column last, X'y (P+1, H), y'y and the row count."""

    gram: torch.Tensor
    cross: torch.Tensor
    target_ss: float
    rows: int

    def __add__(self, other: "NormalEquations | None") -> "NormalEquations":
        if other is None:
            return self
        return NormalEquations(self.gram + other.gram, self.cross + other.cross,
                               self.target_ss + other.target_ss, self.rows + other.rows)

    __radd__ = __add__

    def error(self, solution: torch.Tensor, columns: torch.Tensor) -> float:
        """Mean squared error of ``solution`` (on ``columns``) over these rows."""
        g, c = self.gram[columns][:, columns], self.cross[columns]
        sse = (solution * (g @ solution)).sum() - 2 * (solution * c).sum() + self.target_ss
        return float(sse) / max(self.rows, 1)


def normal_equations(net, batches) -> NormalEquations | None:
    """The linear path's weighted normal equations over ``batches`` of ``net``'s windows
    (windows with a missing future step are skipped); None when there are no rows."""
    total = None
    for batch in batches:
        x, y, w = net.linear_regression_rows(batch)  # (R, P), (R, H), (R, 1)
        # y (R, H) is the large one (720 steps ahead: 7x the inputs): only reductions and one
        # product read it, with no temporary of its size (each costs a pass, and page faults).
        keep = ~torch.isnan(y.sum(1))  # rows with a missing target step
        if not bool(keep.all()):
            x, y, w = x[keep], y[keep], w[keep]
        if len(x):
            x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
            w2 = w * w
            xw2 = x * w2
            target_ss = float((torch.linalg.vector_norm(y, dim=1) ** 2 * w2[:, 0]).sum())
            total = NormalEquations(xw2.T @ x, xw2.T @ y, target_ss, len(x)) + total
    return total


def _solve(train: NormalEquations, columns: torch.Tensor, ridge: float) -> torch.Tensor:
    g = train.gram[columns][:, columns]
    penalty = torch.eye(len(g), dtype=g.dtype) * ridge * torch.diagonal(g).mean()
    penalty[-1, -1] = 0.0  # the intercept (the last column, always kept) is not shrunk
    return torch.linalg.solve(g + penalty, train.cross[columns])


def _errors(blocks: dict, chosen: list, folds: list) -> torch.Tensor:
    """Validation errors (ridges, folds) of the lookback block plus the ``chosen`` blocks."""
    n_columns = folds[0][0].gram.shape[0]
    cols = torch.cat([blocks[n] for n in [next(iter(blocks)), *chosen]] + [torch.tensor([n_columns - 1])])
    return torch.tensor([[val.error(_solve(train, cols, r), cols) for train, val in folds] for r in RIDGE_GRID])


def _best(blocks: dict, folds: list, base: torch.Tensor) -> tuple[torch.Tensor, list[str], float]:
    """The optional blocks and penalty with the lowest mean error relative to ``base`` over
    ``folds``: (relative error per fold, blocks, penalty)."""
    optional = list(blocks)[1:]
    best = None
    for k in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, k):
            for ridge, errors in zip(RIDGE_GRID, _errors(blocks, list(chosen), folds)):
                relative = errors / base
                if best is None or float(relative.mean()) < float(best[0].mean()):
                    best = (relative, list(chosen), ridge)
    return best


def choose(blocks: dict, folds_by_norm: dict) -> tuple[bool, list[str], float]:
    """The window normalisation (True: each window by its own statistics), optional blocks and
    penalty. ``folds_by_norm`` maps each normalisation to its forward-chaining folds, oldest
    first (pairs of training and validation :class:`NormalEquations`, the same windows under
    both); ``blocks`` maps names to column indices, the first always kept. Under each
    normalisation the blocks and penalty with the lowest mean error over the folds are chosen,
    errors relative to the lookback alone, window-normalised, at its best penalty on each fold
    (the RLinear reference), so folds of different difficulty weigh the same.

    Window normalisation is the safe choice (a level outside the training range does not
    mislead it), so the series' scaling is taken only when it is better both on the mean over
    the folds and on the most recent fold, the one nearest to the data to be forecast: a level
    that starts to drift shows there first (on ETTh2 the series' scaling wins on average and
    loses on the last fold, and on the test split by 12% to 82%)."""
    reference = folds_by_norm.get(True, next(iter(folds_by_norm.values())))
    base = _errors(blocks, [], reference).min(0).values  # (folds,)
    best = {norm: _best(blocks, folds, base) for norm, folds in folds_by_norm.items()}
    if len(best) == 1:
        norm = next(iter(best))
    else:
        window, series = best[True][0], best[False][0]
        norm = not (float(series.mean()) < float(window.mean()) and float(series[-1]) < float(window[-1]))
    return norm, best[norm][1], best[norm][2]


def fit_linear_path(net, candidates: dict) -> tuple[bool, list[str], float]:
    """Choose the window normalisation, the linear path's blocks and its penalty, then solve and
    set them on ``net``. ``candidates`` maps each normalisation to ``(train, folds)``: the
    normal equations of all training windows and the cross-validation folds under it. Without
    folds: window normalisation, the lookback and the features known ahead, a mild penalty."""
    blocks = net.linear_blocks()
    if all(folds for _, folds in candidates.values()):
        norm, chosen, ridge = choose(blocks, {n: folds for n, (_, folds) in candidates.items()})
    else:
        norm, chosen, ridge = True, [b for b in blocks if b == "future"], RIDGE_GRID[2]
    train = candidates[norm][0]
    names = [next(iter(blocks)), *chosen]
    cols = torch.cat([blocks[n] for n in names] + [torch.tensor([train.gram.shape[0] - 1])])
    solution = torch.zeros(train.gram.shape[0], train.cross.shape[1], dtype=train.gram.dtype)
    solution[cols] = _solve(train, cols, ridge)
    net.set_window_normalisation(norm)
    net.set_linear_path(solution, names)
    return norm, chosen, ridge
