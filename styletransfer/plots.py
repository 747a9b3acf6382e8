"""Loss curves of a training run, and of several runs side by side (with seed bands).

Everything reads the run folders' files (``metrics.csv``, ``val.csv``, ``config.json``,
``summary.json``; see :mod:`styletransfer.training.runfolder`), so it works on finished, stopped and
still-running runs alike. Figures are drawn with matplotlib's Agg canvas on their own
:class:`~matplotlib.figure.Figure` (no pyplot, no global state) and saved atomically.
"""
from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .comparison import Run, group_runs
from .io import write_atomic
from .training.runfolder import METRICS_FILE, VAL_FILE, RunDirError, read_csv

SMOOTHING_STEPS = 25
"""Training curves are drawn as the mean over a window of up to this many steps (a
50th of the run for short runs), over the raw values in a light shade."""


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average (the first points average over what there is)."""
    out, running = [], 0.0
    for i, value in enumerate(values):
        running += value
        if i >= window:
            running -= values[i - window]
        out.append(running / min(i + 1, window))
    return out


def _window(steps: int) -> int:
    return max(1, min(SMOOTHING_STEPS, steps // 50))


def _read_metrics(run_dir_or_metrics: str | os.PathLike[str]) -> tuple[list[dict], list[dict], Path]:
    """(training rows, validation rows, run folder) from a run folder or its metrics.csv."""
    path = Path(run_dir_or_metrics)
    run_dir = path.parent if path.is_file() else path
    metrics_path = path if path.is_file() else path / METRICS_FILE
    if not metrics_path.is_file():
        raise RunDirError(f"{path}: not a training run folder (no {METRICS_FILE})")
    return read_csv(metrics_path), read_csv(run_dir / VAL_FILE), run_dir


def _save(figure: Figure, out_png: str | os.PathLike[str]) -> Path:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=100)
    return write_atomic(Path(out_png), buffer.getvalue())


def _draw(axes: Axes, rows: list[dict], val_rows: list[dict], key: str, color: str, label: str,
          raw: bool) -> None:
    steps = [row["step"] for row in rows]
    values = [row[key] for row in rows]
    if raw:
        axes.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
    axes.plot(steps, _smooth(values, _window(len(values))), color=color, linewidth=1.5, label=f"{label} train")
    if val_rows:
        axes.plot([row["step"] for row in val_rows], [row[key] for row in val_rows], color=color,
                  linestyle="--", marker="o", markersize=3, label=f"{label} validation")


def _style_axes(axes: Axes, key: str) -> None:
    axes.set_title(f"{key} loss")
    axes.set_xlabel("step")
    axes.grid(True, alpha=0.3)
    values = [y for line in axes.get_lines() for y in line.get_ydata()]
    if values and min(values) > 0:
        axes.set_yscale("log")


def plot_curves(run_dir_or_metrics: str | os.PathLike[str], out_png: str | os.PathLike[str]) -> Path:
    """Content, style, TV (plus color and distill, when the run used them) and total loss against
    step for one run (training: raw and smoothed; validation: dashed with markers). Returns
    ``out_png``.

    Raises:
        RunDirError: no metrics.csv there.
    """
    rows, val_rows, run_dir = _read_metrics(run_dir_or_metrics)
    # The color and distillation terms only when the run had them.
    keys = [key for key in ("content", "style", "tv", "color", "distill", "total")
            if key not in ("color", "distill") or any(row.get(key) for row in rows)]
    columns = math.ceil(len(keys) / 2)
    figure = Figure(figsize=(max(12, 5 * columns), 8), layout="constrained")
    for index, key in enumerate(keys):
        axes = figure.add_subplot(2, columns, index + 1)
        if rows:
            _draw(axes, rows, val_rows, key, "tab:blue", run_dir.name, raw=True)
        _style_axes(axes, key)
        axes.legend(fontsize="small")
    figure.suptitle(f"{run_dir.name}: {rows[-1]['step'] if rows else 0} steps")
    return _save(figure, out_png)


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
    smoothed = [_smooth([row[key] for row in run.rows], _window(len(run.rows)))[:length] for run in runs]
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
