"""The Pareto-front plot of an :class:`~liquidts.search.ArchitectureSearch`."""

from __future__ import annotations


def plot_pareto(search, x="state_bytes", y="val_loss", ax=None):
    """Every evaluated genome (grey), the non-dominated ones (blue, joined in order of ``x``) and
    the chosen one (red star), ``y`` against ``x`` (log scale when ``x`` spans a factor > 10).
    Returns the matplotlib Axes."""
    # A headless Figure, as the other plots make: nothing is registered with pyplot, so a
    # notebook shows the figure once and a script needs no display.
    from matplotlib.figure import Figure

    if not hasattr(search, "pareto_"):
        raise ValueError("fit the search before plotting its front")
    if ax is None:
        ax = Figure(figsize=(6, 4), layout="constrained").add_subplot()
    ok = search.history_[search.history_["error"].isna()]
    ax.scatter(ok[x], ok[y], s=14, color="0.7", label="evaluated")
    front = search.pareto_.sort_values(x)
    ax.plot(front[x], front[y], "o-", color="tab:blue", ms=5, label="Pareto front")
    best = search.pareto_[search.pareto_["genome"] == search.best_genome_.to_string()].iloc[0]
    ax.scatter([best[x]], [best[y]], marker="*", s=160, color="tab:red", zorder=3, label=str(search.best_genome_))
    if ok[x].min() > 0 and ok[x].max() / ok[x].min() > 10:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    return ax
