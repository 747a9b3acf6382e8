"""Training a style network (Johnson et al. 2016) on a photo collection for one painting.

``train(config)`` runs one training into ``config.out_dir`` (the files it writes are listed in
:mod:`styletransfer.runlog`), ``resume_training(run_dir)`` continues a stopped or killed one
exactly, and ``compare(config, variants, seeds)`` trains several network variants on identical
data over several seeds and plots and tabulates them side by side. The loop itself is :class:`styletransfer.trainer.Trainer`.

Defaults: batch 4, 256 px crops, Adam at a constant 1e-3, 2 epochs, the painting at its own
size with the longest side capped at 512 px for the style loss, 10% of the images (1 to 8)
held out for validation and previews.

Several processes: run the same command under ``torchrun --nproc_per_node=N``; the training
uses DistributedDataParallel (NCCL on CUDA, gloo on the CPU). ``batch_size`` is the global
batch; each process trains on ``batch_size / N`` images, which must be at least 2 for
BatchNorm and SRM since each process normalises its own share. Rank 0 alone writes the run
folder; resuming needs it on a file system every process can read.

Stopping: a set ``stop_event``, or Ctrl-C / SIGTERM when training runs in the main thread (a
second Ctrl-C interrupts at once), ends the current step, writes a checkpoint and returns a
result with ``completed=False``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .attention import attention_names, needs_batch_statistics
from .checkpoint import load_checkpoint
from .data import CocoDataset, DatasetError, ImageFolderDataset, find_image_files, split_holdout
from .device import PRECISIONS, pick_device, pick_precision, precision_name
from .distributed import start_distributed, stop_distributed, wait_for_all
from .images import ImageError, image_to_tensor, open_image, resize_longest
from .loss import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from .network import VARIANTS, NetworkConfig, TransformerNet
from .comparison import write_comparison_table
from .plots import plot_comparison
from .runlog import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE, RunDirError, read_json
from .trainer import ProgressCallback, ProgressUpdate, RunResult, Trainer, TrainingError, TrainingInputs

__all__ = ["DEFAULT_CONTENT_WEIGHT", "DEFAULT_STYLE_WEIGHT", "DEFAULT_TV_WEIGHT", "ComparisonResult",
           "ProgressUpdate", "RunResult", "TrainingConfig", "TrainingError", "compare", "read_run_config",
           "resume_training", "train"]

# Tuned on VGG19 Caffe-range features (0–255 inputs) by looking at stylised unseen photos: with
# content 1 / style 1 (and the well-known example's weights rescaled to this range, content 30 /
# style 900) the style texture wipes out the content within a few hundred steps; content 10 /
# style 1 keeps the scene readable. The TV term, on RGB 0–1 pixels, is ~1 % of the total and
# damps the checkerboard that the strided convolutions otherwise leave.
DEFAULT_CONTENT_WEIGHT = 10.0
DEFAULT_STYLE_WEIGHT = 1.0
DEFAULT_TV_WEIGHT = 5e5
DEFAULT_EPOCHS = 2
"""Epochs trained when neither steps nor epochs is given."""
MAX_STYLE_SIZE = 512
"""Default style image size: the painting's own size, its longest side capped at this."""
BASE_LR = 1e-3
BASE_BATCH_SIZE = 4
"""The default learning rate is BASE_LR at this batch size, scaled by sqrt(batch / this)."""
CACHE_MEMORY_SHARE = 0.25
"""cache_images=None caches when the decoded images take at most this share of free memory."""
MAX_VAL_IMAGES = 8
"""Default held-out set: 10% of the images, at least 1, at most this many."""


@dataclass
class TrainingConfig:
    """Every training option. ``train`` fills in the ``None`` ones it resolves (steps,
    style_size, workers, val_images, name) and the ``"auto"`` device and precision, and
    writes the result to ``config.json``. Paths are strings so the config is JSON-able."""

    style: str
    """The painting: an image file."""
    out_dir: str
    """The run folder."""
    images: str | None = None
    """A folder of training photos, searched recursively. Or one of the COCO options:"""
    coco_root: str | None = None
    """MS-COCO folder: train2014/ or train2017/ and annotations/instances_train*.json."""
    coco_annotations: str | None = None
    """A COCO instances annotation file (its images folder is found beside its folder)."""
    coco_categories: list[str] | None = None
    """Keep only COCO images showing one of these categories (e.g. ["person", "dog"])."""
    max_images: int | None = None
    """Use only the first N images (by path for a folder, by image id for COCO)."""
    norm: str = "batch"
    attention: str = "srm"
    steps: int | None = None
    """Optimiser steps in all; None: ``epochs`` (default 2) times the steps per epoch."""
    epochs: int | None = None
    batch_size: int = 4
    """Images per step over all processes (each of N processes trains on batch_size / N)."""
    lr: float | None = None
    """Adam's learning rate (constant); None: BASE_LR × sqrt(batch_size / BASE_BATCH_SIZE),
    1e-3 at batch 4 (the square-root rule for Adam: the gradient noise of a batch B falls as
    1/sqrt(B), so the step can grow as sqrt(B); Malladi et al., NeurIPS 2022)."""
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = DEFAULT_STYLE_WEIGHT
    tv_weight: float = DEFAULT_TV_WEIGHT
    content_layers: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    style_size: int | None = None
    """Longest side of the painting for the style loss; None: its own size, at most 512 px."""
    image_size: int = 256
    """Training crops: shorter side resized to this, then a random square crop."""
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    """"fp32", "bf16", "fp16" or "auto": bf16 on CUDA GPUs that have it (else fp16), see
    styletransfer.device.pick_precision(training=True)."""
    workers: int | None = None
    """Data loading processes; None: one less than the CPU count, at most 4 (at most 16 on CUDA)."""
    channels_last: bool | None = None
    """Channels-last memory format for the network, the loss network and the batches; None: on CUDA."""
    compile: bool | None = None
    """torch.compile the network and the loss network (the first step then takes tens of seconds
    longer: summary.json's first_step_seconds); None: on CUDA."""
    cache_images: bool | None = None
    """Decode and resize every training image once, before training, and keep them in memory as
    uint8; None: on CUDA when that takes at most a quarter of the free memory."""
    sync_batchnorm: bool = False
    """Under torchrun on CUDA: BatchNorm (and SRM's) statistics over the whole global batch
    instead of each process's share (SyncBatchNorm)."""
    val_images: int | None = None
    """Held-out images for validation and previews (never trained on); None: see MAX_VAL_IMAGES."""
    checkpoint_every: int = 1000
    val_every: int = 500
    preview_every: int = 500
    """Every this many steps (0: only at the end and when stopped)."""
    name: str | None = None
    """Model name; None: the run folder's name."""
    title: str | None = None
    artist: str | None = None
    year: str | None = None
    licence: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a TrainingError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown training option(s) {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as error:
            raise TrainingError(str(error)) from None

    def check(self) -> None:
        """Raise TrainingError for the first option that cannot work."""
        coco = self.coco_root is not None or self.coco_annotations is not None
        if self.images is not None and coco:
            raise TrainingError("give either a folder of images or COCO, not both")
        if self.images is None and not coco:
            raise TrainingError("no training images: give a folder of images or a COCO folder")
        if self.coco_categories is not None and not coco:
            raise TrainingError("COCO categories only apply to COCO training data")
        try:
            NetworkConfig(self.norm, self.attention)
        except ValueError as error:
            raise TrainingError(str(error)) from None
        positive = {"batch_size": self.batch_size, "image_size": self.image_size, "steps": self.steps,
                    "epochs": self.epochs, "max_images": self.max_images, "style_size": self.style_size}
        at_least_zero = {"workers": self.workers, "val_images": self.val_images,
                         "checkpoint_every": self.checkpoint_every, "val_every": self.val_every,
                         "preview_every": self.preview_every, "content_weight": self.content_weight,
                         "style_weight": self.style_weight, "tv_weight": self.tv_weight}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise TrainingError(f"{name} must be at least 1, not {value}")
        for name, value in at_least_zero.items():
            if value is not None and value < 0:
                raise TrainingError(f"{name} must not be negative, not {value}")
        if self.lr is not None and not self.lr > 0:
            raise TrainingError(f"the learning rate must be positive, not {self.lr}")
        if self.precision != "auto" and self.precision not in PRECISIONS:
            raise TrainingError(f"unknown precision {self.precision!r}; expected auto, {', '.join(PRECISIONS)}")


def _open_dataset(config: TrainingConfig) -> tuple[ImageFolderDataset, str]:
    """The training data set and a one-line description of it."""
    if config.images is not None:
        root = Path(config.images)
        files = None
        if config.max_images is not None and root.is_dir():
            files = [path.relative_to(root) for path in find_image_files(root)[:config.max_images]]
        dataset = ImageFolderDataset(root, config.image_size, files=files)
        return dataset, f"folder {root.name} ({len(dataset)} images)"
    # Decoding every COCO image up front takes long; unusable ones are skipped as met.
    dataset = CocoDataset(config.coco_root, annotations=config.coco_annotations, image_size=config.image_size,
                          categories=config.coco_categories, max_images=config.max_images, validate=False)
    categories = ", ".join(config.coco_categories) if config.coco_categories else "all categories"
    return dataset, f"COCO {dataset.annotations.name} ({categories}; {len(dataset)} images)"


def default_lr(batch_size: int) -> float:
    """Adam's learning rate for a global batch of ``batch_size`` images (see TrainingConfig.lr)."""
    return BASE_LR * math.sqrt(batch_size / BASE_BATCH_SIZE)


def default_workers(device: torch.device) -> int:
    """Data loading processes: one less than the CPU count, at most 4 (16 on CUDA, where a
    fast GPU needs a thousand decoded images a second)."""
    return min(16 if device.type == "cuda" else 4, max(0, (os.cpu_count() or 1) - 1))


def free_memory_bytes() -> int | None:
    """Memory available to this process now (Linux), or None where it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def resolve_speed_options(config: TrainingConfig, device: torch.device, world_size: int) -> None:
    """Fill in the device-dependent speed options (channels_last, compile) in place, and refuse
    those that cannot work here. Raises TrainingError."""
    cuda = device.type == "cuda"
    if config.channels_last is None:
        config.channels_last = cuda
    if config.compile is None:
        config.compile = cuda
    if config.sync_batchnorm and world_size > 1 and not cuda:
        raise TrainingError("sync_batchnorm needs CUDA (SyncBatchNorm synchronises statistics with NCCL); "
                            "train without it on the CPU")


def _cache_images(config: TrainingConfig, train_set: ImageFolderDataset, device: torch.device) -> bool:
    """Decode the training images into memory when config.cache_images says so (None: on CUDA
    when they fit in CACHE_MEMORY_SHARE of the free memory); returns whether it did."""
    wanted = config.cache_images
    if wanted is None:
        free = free_memory_bytes()
        wanted = (device.type == "cuda" and free is not None
                  and train_set.estimated_cache_bytes() <= CACHE_MEMORY_SHARE * free)
    if wanted:
        train_set.cache_decoded(threads=max(1, config.workers or 1))
    return bool(wanted)


def _load_inputs(config: TrainingConfig, device: torch.device) -> tuple[TrainingConfig, TrainingInputs]:
    """Open the painting and the data set, hold out the validation images, and resolve the
    options that depend on them. Raises TrainingError for unusable inputs."""
    try:
        style = open_image(config.style)
        style_size = config.style_size or min(max(style.size), MAX_STYLE_SIZE)
        style_tensor = image_to_tensor(resize_longest(style, style_size))
        dataset, description = _open_dataset(config)
        val_count = config.val_images
        if val_count is None:
            val_count = min(MAX_VAL_IMAGES, max(1, len(dataset) // 10)) if len(dataset) > config.batch_size else 0
        split = split_holdout(dataset, val_count)
    except (ImageError, DatasetError) as error:
        raise TrainingError(str(error)) from None
    skipped = [(str(path), problem) for path, problem in dataset.skipped]
    if skipped:
        warnings.warn(f"skipping {len(skipped)} unusable image file(s), e.g. {skipped[0][0]}: {skipped[0][1]}",
                      RuntimeWarning, stacklevel=3)
    steps_per_epoch = len(split.train) // config.batch_size
    if steps_per_epoch == 0:
        raise TrainingError(f"{dataset.root}: {len(split.train)} training image(s) (after holding out "
                            f"{val_count}), fewer than one batch of {config.batch_size}")
    resolved = dataclasses.replace(
        config,
        style=os.path.abspath(config.style), out_dir=os.path.abspath(config.out_dir),
        images=config.images and os.path.abspath(config.images),
        coco_root=config.coco_root and os.path.abspath(config.coco_root),
        coco_annotations=config.coco_annotations and os.path.abspath(config.coco_annotations),
        steps=config.steps or (config.epochs or DEFAULT_EPOCHS) * steps_per_epoch,
        style_size=style_size, val_images=val_count, name=config.name or Path(config.out_dir).name,
        workers=default_workers(device) if config.workers is None else config.workers,
        lr=config.lr or default_lr(config.batch_size),
    )
    val_images = torch.stack(split.val_images) if split.val_images else None
    return resolved, TrainingInputs(style_tensor, split.train, val_images, description, skipped)


def train(config: TrainingConfig, *, resume: bool = False, progress: ProgressCallback | None = None,
          stop_event: threading.Event | None = None) -> RunResult:
    """Train a style network as ``config`` says, into ``config.out_dir``.

    Args:
        resume: continue from the checkpoint in ``config.out_dir`` (see :func:`resume_training`,
            which also restores the stored config); without it, a folder that already holds a
            checkpoint is refused.
        progress: called on rank 0 after every step with a :class:`ProgressUpdate`.
        stop_event: set it (from another thread) to stop after the current step with a
            checkpoint; the result then has ``completed=False``.

    Raises:
        TrainingError: bad options or inputs, found before any training compute.
        CheckpointError: an unusable checkpoint when resuming.
    """
    config.check()
    checkpoint_path = Path(config.out_dir) / CHECKPOINT_FILE
    if not resume and checkpoint_path.exists():
        raise TrainingError(f"{config.out_dir}: already holds a training run; resume it, or choose another folder")
    checkpoint = load_checkpoint(checkpoint_path) if resume else None
    try:
        device = pick_device(config.device)
        dtype = pick_precision(device, None if config.precision == "auto" else config.precision, training=True)
    except ValueError as error:
        raise TrainingError(str(error)) from None
    context, device = start_distributed(device)
    try:
        if config.batch_size % context.world_size:
            raise TrainingError(f"batch size {config.batch_size} does not split evenly over "
                                f"{context.world_size} processes")
        torch.manual_seed(config.seed)
        net = TransformerNet(config.norm, config.attention)
        if net.needs_batch_statistics and config.batch_size // context.world_size < 2:
            without = ", ".join(name for name in attention_names() if not needs_batch_statistics(name))
            raise TrainingError(f"batch size {config.batch_size // context.world_size} per process cannot train "
                                f"a {config.norm} norm / {config.attention} attention network: BatchNorm and "
                                "attention blocks with BatchNorm need at least 2 images per process (or use "
                                f"norm instance with attention {without})")
        resolved, inputs = _load_inputs(config, device)
        resolved.device = device.type
        resolved.precision = precision_name(dtype)
        resolve_speed_options(resolved, device, context.world_size)
        resolved.cache_images = _cache_images(resolved, inputs.train_set, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions
        trainer = Trainer(resolved, inputs, net, context, device, dtype, checkpoint)
        result = trainer.run(progress, stop_event)
        wait_for_all(context)
        return result
    finally:
        stop_distributed(context)


def read_run_config(run_dir: str | os.PathLike[str]) -> TrainingConfig:
    """The resolved config stored in a run folder."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise TrainingError(f"{run_dir}: not a training run folder (no {CONFIG_FILE})")
    try:
        return TrainingConfig.from_dict(read_json(path))
    except (RunDirError, TrainingError) as error:
        raise TrainingError(f"{path}: {error}") from None


def resume_training(run_dir: str | os.PathLike[str], *, steps: int | None = None,
                    progress: ProgressCallback | None = None,
                    stop_event: threading.Event | None = None) -> RunResult:
    """Continue the run in ``run_dir`` with its stored config from its checkpoint; ``steps``
    extends (or sets) its total length."""
    config = dataclasses.replace(read_run_config(run_dir), out_dir=str(run_dir))
    if steps is not None:
        config.steps = steps
    return train(config, resume=True, progress=progress, stop_event=stop_event)


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
            progress: ProgressCallback | None = None,
            stop_event: threading.Event | None = None) -> ComparisonResult:
    """Train each network variant (a key of :data:`~styletransfer.network.VARIANTS`: ``bn``,
    ``bn+srm``, ``bn+srm-avg``, ``in``, ...) once per seed, with ``config``'s data and
    hyper-parameters, into ``config.out_dir/<variant>/seed<k>/``; then write
    ``comparison.png`` (per variant the mean curve over the seeds with a min–max band) and
    ``comparison.md`` / ``comparison.csv`` (mean ± std over the seeds, and the paired
    difference to the first variant with its 95 % confidence interval; see
    :mod:`styletransfer.comparison`) there.

    A seed fixes the data order, the crops and the initialisation draw, so the variants of one
    seed see the same images in the same order and their differences are paired.
    ``config.seed`` is replaced by each seed. Runs go seed by seed (every variant of seed 0
    first), so a stopped comparison holds whole pairs. Running it again continues: finished
    runs are kept, stopped ones resumed.

    Raises:
        TrainingError: unknown variants, no or repeated seeds, or bad options (see :func:`train`).
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
        for variant in variants:
            run_dir = run_dirs[variant][seed]
            summary = run_dir / SUMMARY_FILE
            if summary.is_file() and read_json(summary).get("completed"):
                continue
            if (run_dir / CHECKPOINT_FILE).is_file():
                result = resume_training(run_dir, progress=progress, stop_event=stop_event)
            else:
                norm, attention = VARIANTS[variant]
                run_config = dataclasses.replace(config, norm=norm, attention=attention, seed=seed,
                                                 out_dir=str(run_dir),
                                                 name=f"{config.name or parent.name}-{variant}-seed{seed}")
                result = train(run_config, progress=progress, stop_event=stop_event)
            if not result.completed:
                return ComparisonResult(run_dirs, False, None, None, None)
    dirs = [run_dirs[variant][seed] for variant in variants for seed in seeds]
    labels = [variant for variant in variants for _ in seeds]
    plot = plot_comparison(dirs, parent / "comparison.png", labels)
    write_comparison_table(dirs, parent / "comparison.md", parent / "comparison.csv", labels, baseline=variants[0])
    return ComparisonResult(run_dirs, True, plot, parent / "comparison.md", parent / "comparison.csv")
