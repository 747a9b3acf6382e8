"""Comparing training runs over seeds: runs grouped by variant, and the comparison table.

Runs with the same label are the seeds of one variant (the label defaults to the variant,
``bn``, ``bn+srm``, ..., from each run's ``config.json``). The table has one row per label:

- ``seeds``: how many runs the row pools;
- ``steps``: the step the runs are compared at: every run's losses are taken up to the same
  step, the last one all of them reached (or ``at_step``), so runs stopped at different points
  (a deadline, a slower variant) are compared at equal training;
- the final training losses (total, style, content: each run's mean over its last
  ``FINAL_LOSS_STEPS`` steps up to that step) and the last validation total at or before it,
  as mean ± sample standard deviation over the seeds;
- ``parameters``, and ``cpu_ms_256px``: the inference cost, milliseconds for one 256×256
  image on this machine's CPU (the network folded as :func:`~styletransfer.inference.stylize.stylize`
  runs it, fp32; see :func:`inference_milliseconds`): measured when the table is written,
  so compare it within one table, not across machines;
- the difference to the baseline (the first label unless given) of the final training and
  validation totals, in percent: the mean of the per-seed relative differences
  100·(variant − baseline)/baseline over the seeds both have (paired: a seed gives the same
  data order to every variant), with its 95 % confidence interval from Student's t with
  n − 1 degrees of freedom; empty (n/a) with fewer than two shared seeds.

Written as CSV (mean and std in separate columns, 6 significant digits; NaN as an empty cell)
and as a Markdown table (4 significant digits, "mean ± std" cells).
"""
from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from styletransfer.errors import StyleTransferError
from styletransfer.models.transformer import TransformerNet, count_parameters, variant_name
from styletransfer.training.runfolder import (CONFIG_FILE, FINAL_LOSS_STEPS, METRICS_FILE, SUMMARY_FILE, VAL_FILE, RunDirError, mean_rows,
                     read_csv, read_json, write_atomic)
from styletransfer.evaluation.statistics import Interval, confidence_interval, mean, paired_differences, sample_std


class ComparisonError(StyleTransferError, ValueError):
    """Run folders that cannot be compared as asked (labels, baseline, repeated seeds)."""

INFERENCE_SIZE = 256
"""Side of the square image the inference cost is measured on."""
INFERENCE_ROUNDS = 3
"""Timed passes of each network after one warm-up; the fastest counts (the least disturbed
by other work on the machine)."""

_LOSSES = ("total", "style", "content")
_NAN = float("nan")


@dataclass
class Run:
    """One run folder's files, read once."""

    run_dir: Path
    rows: list[dict]
    """metrics.csv: one row per training step."""
    val_rows: list[dict]
    """val.csv: one row per validation."""
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    @property
    def variant(self) -> str:
        """``bn``, ``bn+srm``, ... from the config; the folder name when it has none."""
        if "norm" in self.config and "attention" in self.config:
            return variant_name(self.config["norm"], self.config["attention"])
        return self.run_dir.name

    @property
    def last_step(self) -> int:
        return self.rows[-1]["step"] if self.rows else 0

    def final_losses(self, at_step: int | None = None) -> dict[str, float]:
        """final_total, final_style, final_content (mean over the last FINAL_LOSS_STEPS steps
        up to ``at_step``, default the run's end) and final_val_total (the last validation at
        or before it; NaN without one)."""
        rows = self.rows if at_step is None else [row for row in self.rows if row["step"] <= at_step]
        val_rows = self.val_rows if at_step is None else [row for row in self.val_rows if row["step"] <= at_step]
        final = mean_rows(rows[-FINAL_LOSS_STEPS:], _LOSSES) or dict.fromkeys(_LOSSES, _NAN)
        values = {f"final_{key}": final[key] for key in _LOSSES}
        values["final_val_total"] = val_rows[-1]["total"] if val_rows else _NAN
        return values

    def images_per_second(self) -> float:
        if self.summary.get("images_per_second"):
            return self.summary["images_per_second"]
        if not self.rows or "batch_size" not in self.config or not self.rows[-1]["wall_time"]:
            return _NAN
        return self.rows[-1]["step"] * self.config["batch_size"] / self.rows[-1]["wall_time"]


def read_run(run_dir: str | Path) -> Run:
    """A run folder (or its metrics.csv) read. Raises RunDirError without metrics.csv."""
    path = Path(run_dir)
    run_dir = path.parent if path.is_file() else path
    metrics_path = path if path.is_file() else path / METRICS_FILE
    if not metrics_path.is_file():
        raise RunDirError(f"{path}: not a training run folder (no {METRICS_FILE})")
    config = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else {}
    summary = read_json(run_dir / SUMMARY_FILE) if (run_dir / SUMMARY_FILE).is_file() else {}
    return Run(run_dir, read_csv(metrics_path), read_csv(run_dir / VAL_FILE), config, summary)


def group_runs(run_dirs: Sequence[str | Path], labels: Sequence[str] | None = None) -> dict[str, list[Run]]:
    """Label → its runs (the seeds of one variant), labels in order of first appearance.

    Args:
        labels: one per run; runs with the same label are pooled. Default: each run's variant.

    Raises:
        RunDirError: a folder without metrics.csv, or two runs of one label with the same
            seed (pooling them would count one seed twice).
        ValueError: not one label per run.
    """
    if labels is not None and len(labels) != len(run_dirs):
        raise ComparisonError(f"{len(labels)} labels for {len(run_dirs)} runs")
    runs = [read_run(run_dir) for run_dir in run_dirs]
    groups: dict[str, list[Run]] = {}
    for index, run in enumerate(runs):
        label = labels[index] if labels is not None else run.variant
        twin = next((other for other in groups.get(label, []) if run.seed is not None and other.seed == run.seed), None)
        if twin is not None:
            raise RunDirError(f"{twin.run_dir} and {run.run_dir} are both {label} with seed {run.seed}; "
                              "give them different labels to compare them")
        groups.setdefault(label, []).append(run)
    return groups


_measured: dict[tuple[str, str, int], float] = {}
"""Inference costs measured in this process: (norm, attention, size) → milliseconds."""


def inference_milliseconds(architectures: Iterable[tuple[str, str]], size: int = INFERENCE_SIZE
                           ) -> dict[tuple[str, str], float]:
    """(norm, attention) → milliseconds for one size×size image through the folded network
    on the CPU (fp32, the default thread count); NaN for an architecture that does not exist.

    The networks are timed together: a warm-up pass each, then INFERENCE_ROUNDS rounds of one
    pass of each in turn, so a busy moment of a shared machine hits them alike; the fastest
    pass counts. Weights are random (they do not change the cost). Cached in the process.
    """
    from styletransfer.inference.prepare import network_input
    from styletransfer.inference.stylize import prepare_model  # the top of the library, only needed here

    device = torch.device("cpu")
    wanted = list(dict.fromkeys(architectures))
    nets = {}
    for norm, attention in wanted:
        if (norm, attention, size) in _measured:
            continue
        try:
            nets[norm, attention] = prepare_model(TransformerNet(norm, attention), device)
        except ValueError:  # unknown or mixed architecture
            _measured[norm, attention, size] = _NAN
    if nets:
        batch = network_input(next(iter(nets.values())), torch.rand(1, 3, size, size), device)
        fastest = dict.fromkeys(nets, math.inf)
        with torch.inference_mode():
            for net in nets.values():
                net(batch)
            for _ in range(INFERENCE_ROUNDS):
                for architecture, net in nets.items():
                    start = time.perf_counter()
                    net(batch)
                    fastest[architecture] = min(fastest[architecture], time.perf_counter() - start)
        _measured.update({(*architecture, size): 1000 * seconds for architecture, seconds in fastest.items()})
    return {architecture: _measured[(*architecture, size)] for architecture in wanted}


def _architecture(runs: Sequence[Run]) -> tuple[str, str]:
    """The (norm, attention) of a group: "?" where unknown, "a/b" where its runs differ."""
    parts = []
    for key in ("norm", "attention"):
        values = list(dict.fromkeys(str(run.config.get(key, "?")) for run in runs))
        parts.append("/".join(values))
    return parts[0], parts[1]


def _parameters(runs: Sequence[Run], norm: str, attention: str) -> int | float:
    stored = runs[0].summary.get("parameters")
    if stored is not None:
        return stored
    try:
        return count_parameters(TransformerNet(norm, attention))
    except ValueError:  # unknown or mixed architecture
        return _NAN


def comparison_rows(run_dirs: Sequence[str | Path], labels: Sequence[str] | None = None, *,
                    baseline: str | None = None, measure_inference: bool = True,
                    at_step: int | None = None) -> list[dict[str, Any]]:
    """One row per label (see the module docs for the columns), the baseline first-listed
    unless ``baseline`` names another label; every run compared at step ``at_step`` (default:
    the last step all runs reached).

    Raises:
        RunDirError: see :func:`group_runs`.
        ValueError: not one label per run, or an unknown baseline.
    """
    groups = group_runs(run_dirs, labels)
    if not groups:
        return []
    baseline = next(iter(groups)) if baseline is None else baseline
    if baseline not in groups:
        raise ComparisonError(f"baseline {baseline!r} is none of the runs' labels ({', '.join(groups)})")
    common_step = min(run.last_step for runs in groups.values() for run in runs)
    at_step = common_step if at_step is None else min(at_step, common_step)
    # A run without a seed in its config pairs with nothing.
    per_seed = {label: [(run.seed if run.seed is not None else (label, i), run.final_losses(at_step))
                        for i, run in enumerate(runs)] for label, runs in groups.items()}
    architectures = {label: _architecture(runs) for label, runs in groups.items()}
    costs = inference_milliseconds(architectures.values()) if measure_inference else {}
    table = []
    for label, runs in groups.items():
        norm, attention = architectures[label]
        row: dict[str, Any] = {
            "run": label, "norm": norm, "attention": attention, "seeds": len(runs),
            "parameters": _parameters(runs, norm, attention), "cpu_ms_256px": costs.get((norm, attention), _NAN),
            "steps": at_step,
        }
        for key in ("final_total", "final_style", "final_content", "final_val_total"):
            values = [losses[key] for _, losses in per_seed[label] if not math.isnan(losses[key])]
            row[f"{key}_mean"], row[f"{key}_std"] = mean(values), sample_std(values)
        row["baseline"] = baseline
        for key, column in (("final_total", "total_vs_baseline"), ("final_val_total", "val_total_vs_baseline")):
            interval = Interval(_NAN, _NAN, _NAN, 0)
            if label != baseline:
                interval = confidence_interval(paired_differences(
                    {seed: losses[key] for seed, losses in per_seed[baseline]},
                    {seed: losses[key] for seed, losses in per_seed[label]}))
            row[f"{column}_pct"] = interval.mean
            row[f"{column}_ci_low"], row[f"{column}_ci_high"] = interval.low, interval.high
        row["images_per_s"] = mean([run.images_per_second() for run in runs])
        table.append(row)
    return table


def write_comparison_table(run_dirs: Sequence[str | Path], out_md: str | Path, out_csv: str | Path,
                           labels: Sequence[str] | None = None, *, baseline: str | None = None,
                           measure_inference: bool = True, at_step: int | None = None) -> list[dict[str, Any]]:
    """Write :func:`comparison_rows` as CSV (``out_csv``) and Markdown (``out_md``); returns
    the rows. Raises as :func:`comparison_rows` does."""
    table = comparison_rows(run_dirs, labels, baseline=baseline, measure_inference=measure_inference,
                            at_step=at_step)
    fields = list(table[0]) if table else []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{key: _cell(value, digits=6) for key, value in row.items()} for row in table])
    write_atomic(Path(out_csv), buffer.getvalue().encode())
    write_atomic(Path(out_md), markdown_table(table).encode())
    return table


def markdown_table(table: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`comparison_rows` as a Markdown table (mean ± std cells)."""
    if not table:
        return ""
    baseline = table[0]["baseline"]
    headers = ["run", "norm", "attention", "seeds", "parameters", "CPU ms / 256 px", "steps",
               "final total (mean ± std)", "final style", "final content", "validation total",
               f"total vs {baseline}, % (95 % CI)", f"validation vs {baseline}, % (95 % CI)", "images/s"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in table:
        cells = [row["run"], row["norm"], row["attention"], str(row["seeds"]), _cell(row["parameters"]),
                 _cell(row["cpu_ms_256px"]), str(row["steps"])]
        cells += [_plus_minus(row[f"{key}_mean"], row[f"{key}_std"])
                  for key in ("final_total", "final_style", "final_content", "final_val_total")]
        cells += [_difference(row, column, baseline) for column in ("total_vs_baseline", "val_total_vs_baseline")]
        cells.append(_cell(row["images_per_s"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plus_minus(centre: float, spread: float) -> str:
    if math.isnan(centre):
        return ""
    return _cell(centre) if math.isnan(spread) else f"{_cell(centre)} ± {spread:.2g}"


def _difference(row: dict[str, Any], column: str, baseline: str) -> str:
    if row["run"] == baseline:
        return "baseline"
    centre, low, high = row[f"{column}_pct"], row[f"{column}_ci_low"], row[f"{column}_ci_high"]
    if math.isnan(centre):
        return "n/a"
    interval = "n/a" if math.isnan(low) else f"{low:+.1f}, {high:+.1f}"
    return f"{centre:+.1f} [{interval}]"


def _cell(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.{digits}g}"
    return str(value)
