"""Training a style network (Johnson et al. 2016) on a photo collection for one painting.

``train(config)`` runs one training into ``config.out_dir`` (the files it writes are listed in
:mod:`styletransfer.training.runfolder`), ``resume_training(run_dir)`` continues a stopped or killed one
exactly, and ``compare(config, variants, seeds)`` trains several network variants on identical
data over several seeds and plots and tabulates them side by side. The loop itself is :class:`styletransfer.training.trainer.Trainer`.

Defaults: batch 4, 256 px crops, Adam at a constant 1e-3, 2 epochs, the painting at its own
size with the longest side capped at 512 px for the style loss, 10% of the images (1 to 8)
held out for validation and previews.

Several processes: run the same command under ``torchrun --nproc_per_node=N``; the training
uses DistributedDataParallel (NCCL on CUDA, gloo on the CPU). ``batch_size`` is the global
batch; each process trains on ``batch_size / N`` images, which must be at least 2 for
BatchNorm and SRM since each process normalizes its own share. Rank 0 alone writes the run
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
from typing import Any
from pathlib import Path

import torch

from styletransfer.models.layers.attention import attention_names, needs_batch_statistics
from styletransfer.training.checkpoint import load_checkpoint
from styletransfer.training.data import CocoDataset, DatasetError, ImageFolderDataset, find_training_photos, split_holdout
from styletransfer.core.device import pick_device, pick_precision, precision_name
from styletransfer.training.distributed import start_distributed, stop_distributed, wait_for_all
from styletransfer.core.images import ImageError, image_to_tensor, open_image, resize_longest
from styletransfer.modelfiles.catalogue import load_model, resolve_model_path
from styletransfer.modelfiles.format import ModelFileError, images_seen, save_model, training_stages
from styletransfer.models.transformer import TransformerNet, check_trainable_batch
from styletransfer.training.config import (BASE_BATCH_SIZE, BASE_LR, CACHE_MEMORY_SHARE, DEFAULT_EPOCHS, MAX_STYLE_SIZE, MAX_VAL_IMAGES,
                     TrainingConfig, TrainingError)
from styletransfer.training.runfolder import (CHECKPOINT_FILE, CONFIG_FILE, FINAL_LOSS_STEPS, METRICS_FILE, RunDirError,
                                               mean_rows, read_csv, read_json)
from styletransfer.training.trainer import LOSS_TERMS, ProgressCallback, RunResult, Trainer, TrainingInputs, model_metadata


def open_dataset(config: TrainingConfig) -> tuple[ImageFolderDataset, str]:
    """The training data set and a one-line description of it."""
    if config.images is not None:
        root = Path(config.images)
        files = None
        if config.max_images is not None and root.is_dir():
            files = [path.relative_to(root) for path in find_training_photos(root)[:config.max_images]]
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


@dataclasses.dataclass
class LoadedData:
    """The photos of a run, opened and split (see :func:`load_data`)."""

    train_set: ImageFolderDataset
    val_images: torch.Tensor | None
    """(V, 3, S, S) RGB 0..1 held-out centre crops, or None without a held-out set."""
    val_count: int
    description: str
    skipped: list[tuple[str, str]]
    steps_per_epoch: int


def load_data(config: TrainingConfig) -> LoadedData:
    """Open the data set of ``config`` and hold out its validation images (warning once about
    unusable files). Raises TrainingError for unusable data or fewer images than one batch."""
    try:
        dataset, description = open_dataset(config)
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
    val_images = torch.stack(split.val_images) if split.val_images else None
    return LoadedData(split.train, val_images, val_count, description, skipped, steps_per_epoch)


def load_style(config: TrainingConfig) -> tuple[torch.Tensor, int]:
    """The painting of ``config`` as a (1, 3, H, W) RGB 0..1 tensor at its style size, and that
    size. Raises TrainingError for an unusable image."""
    try:
        style = open_image(config.style)
    except ImageError as error:
        raise TrainingError(str(error)) from None
    style_size = config.style_size or min(max(style.size), MAX_STYLE_SIZE)
    return image_to_tensor(resize_longest(style, style_size)), style_size


def resolve_config(config: TrainingConfig, data: LoadedData, device: torch.device, *, style_size: int,
                   teacher: str | None) -> TrainingConfig:
    """``config`` with absolute paths and the options that depend on the data filled in (steps,
    style size, held-out images, name, workers, learning rate, the teacher's path)."""
    return dataclasses.replace(
        config,
        style=os.path.abspath(config.style), out_dir=os.path.abspath(config.out_dir),
        images=config.images and os.path.abspath(config.images),
        coco_root=config.coco_root and os.path.abspath(config.coco_root),
        coco_annotations=config.coco_annotations and os.path.abspath(config.coco_annotations),
        steps=config.steps or (config.epochs or DEFAULT_EPOCHS) * data.steps_per_epoch,
        style_size=style_size, val_images=data.val_count, name=config.name or Path(config.out_dir).name,
        workers=default_workers(device) if config.workers is None else config.workers,
        lr=config.lr or default_lr(config.batch_size), teacher=teacher,
    )


def _load_inputs(config: TrainingConfig, device: torch.device) -> tuple[TrainingConfig, TrainingInputs]:
    """Open the painting and the data set, hold out the validation images, and resolve the
    options that depend on them. Raises TrainingError for unusable inputs."""
    style_tensor, style_size = load_style(config)
    data = load_data(config)
    teacher_path, teacher = _load_trained_model("teacher", config.teacher)
    resolved = resolve_config(config, data, device, style_size=style_size, teacher=teacher_path)
    return resolved, TrainingInputs(style_tensor, data.train_set, data.val_images, data.description,
                                    data.skipped, teacher)


CREDITS = ("title", "artist", "year", "licence")
"""The painting's credits, which a fine-tune of the same painting takes from its init model."""

INHERITED = (*CREDITS, "init_images_seen", "init_stages")
"""What a run takes from its init model when it starts (:func:`_inherit_from_init`); kept in its
stored config, where a resumed run finds it again (:func:`_inherit_from_stored_run`)."""


def _initialize_from(net: TransformerNet, init: str | None) -> tuple[str | None, dict[str, Any]]:
    """Load the weights of the model ``init`` (a file or an installed style's name) into
    ``net``; returns its absolute path (None without one) and its metadata. Raises TrainingError
    naming the file when it cannot be read or holds another network."""
    path, model = _load_trained_model("init", init)
    if model is None:
        return None, {}
    if model.config != net.config:
        have, want = model.config, net.config
        raise TrainingError(
            f"init: {path}: holds a {have.norm}/{have.attention} network of width {have.width} with "
            f"{have.residual_blocks} residual blocks, not the {want.norm}/{want.attention} one of width {want.width} "
            f"with {want.residual_blocks} this run trains; give --norm {have.norm} --attention {have.attention} "
            f"--width {have.width} --residual-blocks {have.residual_blocks}")
    net.load_state_dict(model.state_dict())
    return path, model.metadata


def _inherit_from_init(config: TrainingConfig, init_metadata: dict[str, Any]) -> TrainingConfig:
    """``config`` with what it takes from the model it starts from (``init_metadata``; {} when
    there is none): the credits it leaves out (title, artist, year,
    licence) when that model was trained on the same painting (the same file name), so that
    fine-tuning a shipped style keeps its title and licence; and, unless given,
    ``init_images_seen``, so that the fine-tune's model file says how many training images its
    weights have seen in all; and ``init_stages``, the runs that model went through, so that the
    fine-tune's file keeps that history with its own run added."""
    if not init_metadata:
        return config
    changes: dict[str, Any] = {}
    if init_metadata.get("style_image") == Path(config.style).name:
        changes.update({key: init_metadata[key] for key in CREDITS
                        if getattr(config, key) is None and init_metadata.get(key) is not None})
    if config.init is not None:
        if config.init_images_seen is None:
            changes["init_images_seen"] = images_seen(init_metadata)
        if config.init_stages is None:
            changes["init_stages"] = training_stages(init_metadata)
    return dataclasses.replace(config, **changes)


def _inherit_from_stored_run(config: TrainingConfig) -> TrainingConfig:
    """``config`` (of a run being resumed) with what the run took from its init model when it
    started (:func:`_inherit_from_init`: the credits and ``init_images_seen``), read from the
    config stored in its folder, for the fields ``config`` leaves out: a run resumed with a
    freshly built config keeps its painting's credits and its whole count of images seen."""
    if config.init is None or not (Path(config.out_dir) / CONFIG_FILE).is_file():
        return config
    stored = read_run_config(config.out_dir)
    changes = {key: getattr(stored, key) for key in INHERITED
               if getattr(config, key) is None and getattr(stored, key) is not None}
    return dataclasses.replace(config, **changes)


def _start_from_init(net: TransformerNet, config: TrainingConfig, *,
                     resumed: bool) -> tuple[str | None, TrainingConfig]:
    """(the init model's path, ``config`` with what it takes from that model) for a run starting
    (``net`` gets the init model's weights) or resumed: then its weights come from its
    checkpoint, the init model is not read again, and what the run took from it when it
    started is in its stored config. Both trainers (one run, a bank) start every network here."""
    if resumed:
        return config.init, _inherit_from_stored_run(config)
    init_path, init_metadata = _initialize_from(net, config.init)
    return init_path, _inherit_from_init(config, init_metadata)


def _load_trained_model(option: str, path_or_name: str | None) -> tuple[str | None, TransformerNet | None]:
    """(absolute path, network) of the model an option names (a model file or an installed
    style's name), or (None, None) without one. Raises TrainingError naming the option, the
    file and the problem."""
    if path_or_name is None:
        return None, None
    try:
        path = resolve_model_path(path_or_name)
        return os.path.abspath(path), load_model(path)
    except ModelFileError as error:
        raise TrainingError(f"{option}: {error}") from None


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
        net = TransformerNet.from_config(config.network_config())
        init_path, config = _start_from_init(net, config, resumed=resume)
        try:
            check_trainable_batch(net, config.batch_size // context.world_size, per="process")
        except ValueError as error:
            without = ", ".join(name for name in attention_names() if not needs_batch_statistics(name))
            raise TrainingError(f"{error} (or use norm instance with attention {without})") from None
        resolved, inputs = _load_inputs(config, device)
        resolved.device = device.type
        resolved.init = init_path
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


def export_checkpoint(run_dir: str | os.PathLike[str], target: str | os.PathLike[str], *,
                      dtype: torch.dtype | None = None) -> Path:
    """Write the network of ``run_dir``'s last checkpoint to the model file ``target``: the
    weights of a run stopped (or still running) before its last step, to use, judge or publish
    without finishing it. The metadata is what the finished run's file would carry for that
    step (``steps``, ``images_seen``, the mean losses of its last logged steps), and
    ``completed``: false unless the checkpoint is of the run's last step. ``dtype`` as in
    :func:`styletransfer.modelfiles.format.save_model`.

    Raises:
        TrainingError: ``run_dir`` is not a run folder; CheckpointError: it has no readable
        checkpoint.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_FILE)
    net = TransformerNet.from_config(config.network_config())
    net.load_state_dict(checkpoint["model"])
    rows = [row for row in read_csv(run_dir / METRICS_FILE) if row["step"] <= checkpoint["step"]]
    try:
        dataset = open_dataset(config)[1]
    except DatasetError:  # the photos are elsewhere now: say which set, without its size
        source = Path(config.images or config.coco_annotations or config.coco_root)
        dataset = f"{'folder' if config.images else 'COCO'} {source.name}"
    metadata = model_metadata(config, net.config, steps=checkpoint["step"], dataset=dataset,
                              final_losses=mean_rows(rows[-FINAL_LOSS_STEPS:], LOSS_TERMS),
                              completed=checkpoint["step"] >= config.steps)
    return save_model(net.eval(), target, dtype=dtype, **metadata)
