"""Loss curves of several training runs side by side (with seed bands); one run's own curves are
:func:`styletransfer.training.curves.plot_curves` (re-exported here).

Everything reads the run folders' files (``metrics.csv``, ``val.csv``, ``config.json``,
``summary.json``; see :mod:`styletransfer.training.runfolder`), so it works on finished, stopped and
still-running runs alike. Figures are drawn with matplotlib's Agg canvas on their own
:class:`~matplotlib.figure.Figure` (no pyplot, no global state) and saved atomically.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from styletransfer.evaluation.runs_table import Run, group_runs
from styletransfer.training.curves import _save, smooth, _style_axes, smoothing_window, plot_curves

__all__ = ["comparison_figure", "plot_comparison", "plot_curves"]

def _band(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float], list[float]]:
    """Pointwise (mean, min, max) over equally long curves."""
    columns = list(zip(*curves))
    return ([sum(column) / len(column) for column in columns], [min(column) for column in columns],
            [max(column) for column in columns])


def _draw_seeds(axes: Axes, runs: Sequence[Run], key: str, color: str, label: str) -> None:
    """The mean over the runs (seeds) of the smoothed training loss (solid) and of the
    validation loss (dashed, markers), each with its min–max band over the runs shaded. Curves
    are cut to the steps every run has reached."""
    length = min(len(run.rows) for run in runs)
    if length == 0:
        return
    steps = [row["step"] for row in runs[0].rows[:length]]
    smoothed = [smooth([row[key] for row in run.rows], smoothing_window(len(run.rows)))[:length] for run in runs]
    centre, low, high = _band(smoothed)
    seeds = f" ({len(runs)} seeds)" if len(runs) > 1 else ""
    axes.plot(steps, centre, color=color, linewidth=1.5, label=f"{label} train{seeds}")
    if len(runs) > 1:
        axes.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
    val_steps = sorted(set.intersection(*({row["step"] for row in run.val_rows} for run in runs)))
    if not val_steps:
        return
    val = [[next(row[key] for row in run.val_rows if row["step"] == step) for step in val_steps] for run in runs]
    centre, low, high = _band(val)
    axes.plot(val_steps, centre, color=color, linestyle="--", marker="o", markersize=3,
              label=f"{label} validation{seeds}")
    if len(runs) > 1:
        axes.fill_between(val_steps, low, high, color=color, alpha=0.1, linewidth=0)


def plot_comparison(run_dirs: Sequence[str | os.PathLike[str]], out_png: str | os.PathLike[str],
                    labels: Sequence[str] | None = None) -> Path:
    """:func:`comparison_figure` saved as ``out_png``; returns ``out_png``."""
    return _save(comparison_figure(run_dirs, labels), out_png)


def comparison_figure(run_dirs: Sequence[str | os.PathLike[str]], labels: Sequence[str] | None = None) -> Figure:
    """Content, style and total loss against step (three axes), one color per label:
    smoothed training loss solid, validation loss dashed. Runs with the same label (by
    default: the same variant in their config.json) are seeds of one variant: the line is
    their mean and the shaded band spans their minimum to maximum (no band for one run).

    Raises:
        RunDirError: a folder without metrics.csv, or two runs of one label with one seed.
        ValueError: not one label per run.
    """
    groups = group_runs(run_dirs, labels)
    figure = Figure(figsize=(15, 4.5), layout="constrained")
    for index, key in enumerate(("content", "style", "total")):
        axes = figure.add_subplot(1, 3, index + 1)
        for position, (label, runs) in enumerate(groups.items()):
            _draw_seeds(axes, runs, key, f"C{position % 10}", label)
        _style_axes(axes, key)
    if any(len(runs) > 1 for runs in groups.values()):
        figure.suptitle("line: mean over seeds; shaded: min to max over seeds")
    handles, names = figure.axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6), fontsize="small")
    return figure
