"""The loss curves of one training run (``curves.png`` in its run folder): content, style, TV
(plus colour and distillation when the run used them) and total loss against step.

It reads the run folder's files (``metrics.csv``, ``val.csv``; see
:mod:`styletransfer.training.runfolder`), so it works on finished, stopped and still-running
runs alike. Figures are drawn with matplotlib's Agg canvas on their own
:class:`~matplotlib.figure.Figure` (no pyplot, no global state) and saved atomically. Several
runs side by side: :mod:`styletransfer.evaluation.plots`.
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

from styletransfer.core.files import write_atomic
from styletransfer.training.runfolder import METRICS_FILE, VAL_FILE, RunDirError, read_csv

SMOOTHING_STEPS = 25
"""Training curves are drawn as the mean over a window of up to this many steps (a
50th of the run for short runs), over the raw values in a light shade."""


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average (the first points average over what there is)."""
    out, running = [], 0.0
    for i, value in enumerate(values):
        running += value
        if i >= window:
            running -= values[i - window]
        out.append(running / min(i + 1, window))
    return out


def smoothing_window(steps: int) -> int:
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
    axes.plot(steps, smooth(values, smoothing_window(len(values))), color=color, linewidth=1.5, label=f"{label} train")
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
