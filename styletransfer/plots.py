"""Loss curves of training runs, and the comparison of several runs as a plot and tables.

Everything reads the run folders' files (``metrics.csv``, ``val.csv``, ``config.json``,
``summary.json``; see :mod:`styletransfer.runlog`), so it works on finished, stopped and
still-running runs alike. Figures are drawn with matplotlib's Agg canvas on their own
:class:`~matplotlib.figure.Figure` (no pyplot, no global state) and saved atomically.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .network import TransformerNet, count_parameters
from .runlog import (CONFIG_FILE, FINAL_LOSS_STEPS, METRICS_FILE, SUMMARY_FILE, VAL_FILE, RunDirError, mean_rows,
                     read_csv, read_json, write_atomic)

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
    """Content, style, TV and total loss against step for one run (training: raw and
    smoothed; validation: dashed with markers). Returns ``out_png``.

    Raises:
        RunDirError: no metrics.csv there.
    """
    rows, val_rows, run_dir = _read_metrics(run_dir_or_metrics)
    figure = Figure(figsize=(12, 8), layout="constrained")
    for index, key in enumerate(("content", "style", "tv", "total")):
        axes = figure.add_subplot(2, 2, index + 1)
        if rows:
            _draw(axes, rows, val_rows, key, "tab:blue", run_dir.name, raw=True)
        _style_axes(axes, key)
        axes.legend(fontsize="small")
    figure.suptitle(f"{run_dir.name}: {rows[-1]['step'] if rows else 0} steps")
    return _save(figure, out_png)


def _labels(run_dirs: Sequence[Path], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [Path(d).name for d in run_dirs]
    if len(labels) != len(run_dirs):
        raise ValueError(f"{len(labels)} labels for {len(run_dirs)} runs")
    return list(labels)


def plot_comparison(run_dirs: Sequence[Path], out_png: Path, labels: Sequence[str] | None = None) -> Path:
    """Content, style and total loss against step, one colour per run (smoothed training
    loss solid, validation loss dashed). Returns ``out_png``.

    Raises:
        RunDirError: a folder without metrics.csv.
    """
    labels = _labels(run_dirs, labels)
    runs = [_read_metrics(run_dir) for run_dir in run_dirs]
    colors = [f"C{i % 10}" for i in range(len(runs))]
    figure = Figure(figsize=(15, 4.5), layout="constrained")
    for index, key in enumerate(("content", "style", "total")):
        axes = figure.add_subplot(1, 3, index + 1)
        for (rows, val_rows, _), color, label in zip(runs, colors, labels):
            if rows:
                _draw(axes, rows, val_rows, key, color, label, raw=False)
        _style_axes(axes, key)
    handles, names = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncols=min(len(names), 8), fontsize="small")
    return _save(figure, out_png)


def _run_row(run_dir: Path, label: str) -> dict[str, Any]:
    """One table row: the run's variant, size, speed, final and best losses."""
    rows, val_rows, _ = _read_metrics(run_dir)
    config = read_json(run_dir / CONFIG_FILE)
    summary = read_json(run_dir / SUMMARY_FILE) if (run_dir / SUMMARY_FILE).is_file() else {}
    norm, attention = config.get("norm", "?"), config.get("attention", "?")
    parameters = summary.get("parameters")
    if parameters is None:
        parameters = count_parameters(TransformerNet(norm, attention))
    final = mean_rows(rows[-FINAL_LOSS_STEPS:], ("content", "style", "total")) or dict.fromkeys(
        ("content", "style", "total"), float("nan"))
    smoothed = _smooth([row["total"] for row in rows], _window(len(rows)))
    if summary.get("images_per_second"):
        speed = summary["images_per_second"]
    else:
        speed = rows[-1]["step"] * config["batch_size"] / rows[-1]["wall_time"] if rows else float("nan")
    return {
        "run": label, "norm": norm, "attention": attention, "parameters": parameters,
        "steps": rows[-1]["step"] if rows else 0,
        "final_content": final["content"], "final_style": final["style"], "final_total": final["total"],
        "best_total": min(smoothed) if smoothed else float("nan"),
        "final_val_total": val_rows[-1]["total"] if val_rows else float("nan"),
        "best_val_total": min(row["total"] for row in val_rows) if val_rows else float("nan"),
        "images_per_s": speed,
    }


def write_comparison_table(run_dirs: Sequence[Path], out_md: Path, out_csv: Path,
                           labels: Sequence[str] | None = None) -> None:
    """One row per run: norm, attention, parameter count, steps, final losses (mean over
    the last FINAL_LOSS_STEPS steps), best smoothed training total, final and best validation
    total, images/s; as a Markdown table and as CSV.

    Raises:
        RunDirError: a folder without metrics.csv or config.json.
    """
    table = [_run_row(Path(run_dir), label) for run_dir, label in zip(run_dirs, _labels(run_dirs, labels))]
    fields = list(table[0]) if table else []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{key: _cell(value) for key, value in row.items()} for row in table])
    write_atomic(Path(out_csv), buffer.getvalue().encode())
    lines = ["| " + " | ".join(fields) + " |", "|" + "|".join("---" for _ in fields) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row.values()) + " |" for row in table]
    write_atomic(Path(out_md), ("\n".join(lines) + "\n").encode())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)
