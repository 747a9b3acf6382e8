"""Comparing network variants over several seeds: every variant trained on the same data in
the same order for each seed, then curves with bands and a table with paired confidence
intervals (see :mod:`styletransfer.evaluation.runs_table`).
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from styletransfer.models.transformer import VARIANTS
from styletransfer.training.bank import BankOptions, BankProgressCallback, train_bank
from styletransfer.training.config import TrainingConfig, TrainingDivergedError, TrainingError
from styletransfer.training.runfolder import CHECKPOINT_FILE, SUMMARY_FILE, read_json
from styletransfer.training.runs import read_run_config


@dataclass
class ComparisonResult:
    """What :func:`compare` produced."""

    run_dirs: dict[str, dict[int, Path]]
    """Variant name → seed → its run folder."""
    completed: bool
    """False when stopped before every run finished (no plot or tables then)."""
    plot: Path | None
    table_md: Path | None
    table_csv: Path | None


DEFAULT_SEEDS = (0, 1, 2)
"""Seeds :func:`compare` trains each variant with unless told otherwise."""


def compare(config: TrainingConfig, variants: Sequence[str], seeds: Sequence[int] = DEFAULT_SEEDS, *,
            progress: BankProgressCallback | None = None, stop_event: threading.Event | None = None,
            options: BankOptions | None = None) -> ComparisonResult:
    """Train each network variant (a key of :data:`~styletransfer.models.transformer.VARIANTS`: ``bn``,
    ``bn+srm``, ``bn+srm-avg``, ``in``, ...) once per seed, with ``config``'s data and
    hyper-parameters, into ``config.out_dir/<variant>/seed<k>/``; then write
    ``comparison.png`` (per variant the mean curve over the seeds with a min–max band) and
    ``comparison.md`` / ``comparison.csv`` (mean ± std over the seeds, and the paired
    difference to the first variant with its 95 % confidence interval; see
    :mod:`styletransfer.evaluation.runs_table`) there.

    A seed fixes the data order, the crops and the initialization draw, so the variants of one
    seed see the same images in the same order and their differences are paired.
    ``config.seed`` is replaced by each seed. The variants of a seed train together as one bank
    (styletransfer.training.bank: one stream of photos, one loss network batch; each variant
    ends with the weights it gets alone), seed after seed, so a stopped comparison holds whole
    pairs. One bank per seed rather than per variant: a bank shares one stream of photos, and the
    seeds must keep drawing their own. Running it again continues: finished runs are kept,
    stopped ones resumed. ``options`` are the banks' (BankOptions); ``progress`` gets their
    BankUpdates.

    Raises:
        TrainingError: unknown variants, no or repeated seeds, or bad options (see :func:`train`).
        TrainingDivergedError: a variant diverged (after the other variants of its seed finished).
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise TrainingError(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; "
                            f"expected some of {', '.join(VARIANTS)}")
    if len(set(variants)) != len(variants):
        raise TrainingError(f"a variant is listed twice in {', '.join(variants)}")
    if not seeds or len(set(seeds)) != len(seeds) or any(seed < 0 for seed in seeds):
        raise TrainingError(f"seeds must be distinct non-negative integers, not {', '.join(map(str, seeds)) or 'none'}")
    parent = Path(config.out_dir)
    run_dirs = {variant: {seed: parent / variant / f"seed{seed}" for seed in seeds} for variant in variants}
    for seed in seeds:
        # One bank per seed: the variants of a seed see the same photos, so they share one stream.
        configs, resumes = [], []
        for variant in variants:
            run_dir = run_dirs[variant][seed]
            summary = run_dir / SUMMARY_FILE
            if summary.is_file() and read_json(summary).get("completed"):
                continue
            if (run_dir / CHECKPOINT_FILE).is_file():
                configs.append(dataclasses.replace(read_run_config(run_dir), out_dir=str(run_dir)))
                resumes.append(True)
            else:
                norm, attention = VARIANTS[variant]
                configs.append(dataclasses.replace(config, norm=norm, attention=attention, seed=seed,
                                                   out_dir=str(run_dir),
                                                   name=f"{config.name or parent.name}-{variant}-seed{seed}"))
                resumes.append(False)
        if not configs:
            continue
        result = train_bank(configs, options=options, resume=resumes, progress=progress, stop_event=stop_event)
        if result.diverged:
            raise TrainingDivergedError("; ".join(result.diverged.values()))
        if not result.completed:
            return ComparisonResult(run_dirs, False, None, None, None)
    # Imported here: comparison and plots read run folders (training.runfolder) themselves.
    from styletransfer.evaluation.runs_table import write_comparison_table
    from styletransfer.evaluation.plots import plot_comparison

    dirs = [run_dirs[variant][seed] for variant in variants for seed in seeds]
    labels = [variant for variant in variants for _ in seeds]
    plot = plot_comparison(dirs, parent / "comparison.png", labels)
    write_comparison_table(dirs, parent / "comparison.md", parent / "comparison.csv", labels, baseline=variants[0])
    return ComparisonResult(run_dirs, True, plot, parent / "comparison.md", parent / "comparison.csv")
