"""The files of a training run folder, and how they are written and read back.

A run folder ``runs/NAME/`` holds::

    config.json         every training option, resolved (TrainingConfig.to_dict())
    metrics.csv         one row per training step: step, epoch, content, style, tv, color, total,
                        lr, images_per_s, wall_time (seconds of training so far)
    val.csv             one row per validation: step, epoch, content, style, tv, color, total, the
                        mean loss over the fixed held-out images (eval mode)
    previews/step_NNNNNN.jpg   the held-out photos (top row) and their stylized versions
    checkpoint.pt       the latest checkpoint (see styletransfer.training.checkpoint)
    model.safetensors   the trained network with its metadata (styletransfer.modelfiles.format)
    curves.png          loss curves (styletransfer.training.curves)
    summary.json        written when the run ends: final losses, images/s, skipped files, ...

CSV rows are appended and flushed as training goes; every other file is written to a
temporary name and renamed, so a crash never leaves half a file.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from styletransfer.errors import StyleTransferError
from styletransfer.core.files import write_atomic

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
VAL_FILE = "val.csv"
PREVIEWS_DIR = "previews"
CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.safetensors"
CURVES_FILE = "curves.png"
SUMMARY_FILE = "summary.json"

METRICS_FIELDS = ("step", "epoch", "content", "style", "tv", "color", "distill", "total", "lr", "images_per_s",
                  "wall_time")
VAL_FIELDS = ("step", "epoch", "content", "style", "tv", "color", "distill", "total")
FINAL_LOSS_STEPS = 50
"""A run's final training losses are their mean over this many last steps."""


class RunDirError(StyleTransferError, ValueError):
    """A run folder (or one of its files) that cannot be used; the message names the path."""


def write_json(path: Path, value: Any) -> Path:
    """Atomically write ``value`` as indented JSON."""
    return write_atomic(path, (json.dumps(value, indent=2) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or RunDirError naming the file."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunDirError(f"{path}: cannot read it as JSON ({error})") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return value


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class CsvLog:
    """A CSV file of numeric rows, appended and flushed row by row.

    Args:
        path: the file; created with a header line when missing or empty.
        fields: the column names, in order.
        keep_up_to_step: when resuming, drop the rows whose ``step`` is beyond this (a killed
            run may have logged steps after its last checkpoint); None keeps every row, and
            a fresh run (``fresh=True``) starts an empty file.
    """

    def __init__(self, path: Path, fields: Sequence[str], *, fresh: bool,
                 keep_up_to_step: int | None = None):
        self.path = path
        self.fields = tuple(fields)
        if fresh:
            rows: list[dict[str, float]] = []
        else:
            rows = [row for row in read_csv(path) if keep_up_to_step is None or row["step"] <= keep_up_to_step]
        # A run logged before a column existed (color) resumes with 0 in it.
        lines = [",".join(self.fields)] + [",".join(_format(row.get(f, 0.0)) for f in self.fields) for row in rows]
        write_atomic(path, ("\n".join(lines) + "\n").encode())
        self._handle = open(path, "a", newline="")
        self._writer = csv.writer(self._handle)

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (a value for each field) and flush it to the file."""
        self._writer.writerow([_format(row[f]) for f in self.fields])
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_csv(path: Path) -> list[dict[str, float]]:
    """The rows of a metrics/val CSV as dicts of floats (``step`` and ``epoch`` as ints);
    [] when the file does not exist. A torn last line (a killed run) is ignored."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            try:
                parsed = {key: float(value) for key, value in row.items()}
            except (TypeError, ValueError):
                continue
            parsed["step"] = int(parsed["step"])
            if "epoch" in parsed:
                parsed["epoch"] = int(parsed["epoch"])
            rows.append(parsed)
    return rows


def mean_rows(rows: Iterable[Mapping[str, float]], keys: Sequence[str]) -> dict[str, float]:
    """The mean of each of ``keys`` over ``rows`` ({} when there are none)."""
    rows = list(rows)
    if not rows:
        return {}
    return {key: sum(row[key] for row in rows) / len(rows) for key in keys}


class RunFolder:
    """The files of one run folder, written by rank 0 of a training run (see the module docs).

    The trainer owns the training state and the loop; this object owns the files: it writes the
    config, appends to the logs, saves previews, the model file, the curves and the summary,
    and knows where the checkpoint goes. Nothing is written until :meth:`start`.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._metrics: CsvLog | None = None
        self._val_log: CsvLog | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def start(self, config: Mapping[str, Any], resume_step: int | None) -> None:
        """Write ``config.json`` and open the logs: fresh ones, or (``resume_step`` given) the
        existing ones with the rows after that step dropped (steps a killed run logged after
        its last checkpoint are trained again)."""
        write_json(self.path / CONFIG_FILE, dict(config))
        fresh = resume_step is None
        self._metrics = CsvLog(self.path / METRICS_FILE, METRICS_FIELDS, fresh=fresh, keep_up_to_step=resume_step)
        self._val_log = CsvLog(self.path / VAL_FILE, VAL_FIELDS, fresh=fresh, keep_up_to_step=resume_step)

    def log_step(self, row: Mapping[str, float]) -> None:
        """Append one training step's row (METRICS_FIELDS) to metrics.csv."""
        self._metrics.append(row)

    def log_validation(self, row: Mapping[str, float]) -> None:
        """Append one validation's row (VAL_FIELDS) to val.csv."""
        self._val_log.append(row)

    def last_validation(self, keys: Sequence[str]) -> dict[str, float]:
        """The ``keys`` of the last row of val.csv ({} before the first validation)."""
        last = read_csv(self.path / VAL_FILE)[-1:]
        return {key: last[0][key] for key in keys} if last else {}

    def training_rows(self) -> list[dict[str, float]]:
        """The rows of metrics.csv."""
        return read_csv(self.path / METRICS_FILE)

    def close_logs(self) -> None:
        for log in (self._metrics, self._val_log):
            if log is not None:
                log.close()

    def save_preview(self, image: Any, step: int) -> Path:
        """previews/step_NNNNNN.jpg from a Pillow image."""
        from styletransfer.core.images import save_image_atomic
        return save_image_atomic(image, self.path / PREVIEWS_DIR / f"step_{step:06d}.jpg")

    def save_model(self, net: Any, **metadata: Any) -> Path:
        """model.safetensors: the network with its metadata (styletransfer.modelfiles.format)."""
        from styletransfer.modelfiles.format import save_model
        save_model(net, self.model_path, **metadata)
        return self.model_path

    def finish(self, summary: Mapping[str, Any]) -> None:
        """summary.json (the trainer draws curves.png first: :mod:`styletransfer.training.curves`)."""
        write_json(self.path / SUMMARY_FILE, dict(summary))
