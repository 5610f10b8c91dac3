"""A suite's records as a Markdown table, a summary of what the liquid core adds, and a plot."""

from __future__ import annotations

import numpy as np

PRIMARY = {"degC": "mae"}  # the metric a task is judged by, by its units (default MSE)


def _metric(task) -> str:
    return PRIMARY.get(task.units, "mse")


def _cell(values) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def _by(records, task, model, key):
    return [r[key] for r in records if r["task"] == task and r["model"] == model]


def core_effect(records, tasks, against: str = "linear", model: str = "liquid") -> dict:
    """Per task: 100 * (error of ``against`` / error of ``model`` - 1), mean over seeds: how much
    worse the network gets without its liquid core (positive: the core helps)."""
    out = {}
    for task in tasks:
        m = _metric(task)
        a, b = _by(records, task.name, against, m), _by(records, task.name, model, m)
        if a and b:
            out[task.name] = 100 * (np.mean(a) / np.mean(b) - 1)
    return out


def markdown(suite: str, tasks, records, names, meta: dict) -> str:
    lines = [f"# Benchmark suite `{suite}`", "",
             f"Command: `{meta['command']}`  ",
             f"Commit: `{meta['commit']}`; machine: {meta['machine']}; torch {meta['torch']}, "
             f"{meta['threads']} thread(s); date: {meta['date']}; seeds {meta['seeds']}.", ""]
    lines += ["Networks (liquid, linear, lstm, gru, mamba, xlstm) are the same LiquidForecaster network "
              "with its core swapped (`linear`: no core, the linear path alone); mean ± std over seeds. "
              "Errors over every test origin.", ""]
    for metric in ("mse", "mae"):
        present = [n for n in names if any(r["model"] == n for r in records)]
        published = sorted({p for t in tasks for p in t.published})
        lines += [f"## {metric.upper()}", "",
                  "| task | units | " + " | ".join(present) + "".join(f" | {p} (published)" for p in published) + " |",
                  "| --- | --- |" + " --- |" * (len(present) + len(published))]
        for task in tasks:
            row = [task.name, task.units] + [_cell(_by(records, task.name, n, metric)) for n in present]
            row += [f"{task.published[p][0 if metric == 'mse' else 1]:.3f}" if p in task.published else ""
                    for p in published]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    effect = core_effect(records, tasks)
    if effect:
        lines += ["## What the liquid core adds", "",
                  "Error of the same network without its core relative to the default (liquid) model, "
                  f"in %, by each task's primary metric ({', '.join(sorted({_metric(t) for t in tasks}))}); "
                  "positive: removing the core makes forecasts worse.", "",
                  "| task | without the core | " + " | ".join(f"core = {n}" for n in ("lstm", "gru", "mamba", "xlstm")) + " |",
                  "| --- | --- |" + " --- |" * 4]
        swaps = {n: core_effect(records, tasks, against=n) for n in ("lstm", "gru", "mamba", "xlstm")}
        for name, value in effect.items():
            cells = [f"{swaps[n][name]:+.1f}%" if name in swaps[n] else "" for n in swaps]
            lines.append(f"| {name} | {value:+.1f}% | " + " | ".join(cells) + " |")
        lines += ["", f"Mean over the suite's tasks without the core: {np.mean(list(effect.values())):+.2f}%.", ""]
    lines += ["## Cost", "", "| model | fit s (mean over tasks, seeds) | predict ms per window | parameters | "
              "core state floats per sequence |", "| --- | --- | --- | --- | --- |"]
    for n in names:
        rs = [r for r in records if r["model"] == n]
        if not rs:
            continue
        params = [r["parameters"] for r in rs if r.get("parameters") is not None]
        state = [r["state_floats"] for r in rs if r.get("state_floats") is not None]
        lines.append(f"| {n} | {np.mean([r['fit_s'] for r in rs]):.1f} | "
                     f"{np.mean([r['predict_ms_per_window'] for r in rs]):.3f} | "
                     f"{int(np.median(params)) if params else ''} | {int(np.median(state)) if state else ''} |")
    notes = sorted({f"{t.name}: {t.note}" for t in tasks if t.note})
    if notes:
        lines += ["", "Notes: " + "; ".join(notes) + "."]
    return "\n".join(lines) + "\n"


def plot(suite: str, tasks, records, names, path) -> None:
    """Bars: each model's primary error relative to the network without its core, per task."""
    from matplotlib.figure import Figure

    present = [n for n in names if n != "linear" and any(r["model"] == n for r in records)]
    fig = Figure(figsize=(max(6, 1.2 * len(tasks) + 3), 4), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(present), 1)
    for k, name in enumerate(present):
        ratios = []
        for task in tasks:
            m = _metric(task)
            base, own = _by(records, task.name, "linear", m), _by(records, task.name, name, m)
            ratios.append(np.mean(own) / np.mean(base) if base and own else np.nan)
        ax.bar(np.arange(len(tasks)) + k * width, ratios, width, label=name)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, [t.name for t in tasks], rotation=30, ha="right")
    ax.set_ylabel("error / error without the core")
    ax.set_title(f"{suite}: each model against the network without its core (lower is better)")
    ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=110)
