"""The training loop behind :func:`styletransfer.training.train`: one run's state (network,
optimizer, gradient scaler, step) and its loop; the files go through a
:class:`~styletransfer.training.runfolder.RunFolder`.

Reproducibility: the data order of epoch ``e`` is a permutation drawn from a generator seeded
by (seed, e), and the random crop of the image at position ``i`` of that order is drawn from
torch's generator seeded by (seed, e, i) (the data seed: ``config.data_seed``, else ``seed``);
so the images of every step are a function of the seed and the step alone, whatever the number of processes or data loading workers. A
checkpoint holds the weights, the Adam state, the generator states and the step; resuming
from it gives bit-identical weights to a run that never stopped (same machine, precision
and number of processes).

Several processes (``torchrun``) train one network with DistributedDataParallel: each takes
its contiguous share of every global batch and normalizes it on its own. Rank 0 alone
writes the run folder.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from styletransfer.training.checkpoint import CheckpointError, restore_rng_states, rng_states, save_checkpoint
from styletransfer.training.config import TrainingConfig, TrainingDivergedError, TrainingError
from styletransfer.training.data import ImageFolderDataset, SeededCrops, _collate, _fingerprint, epoch_order, mix_seed
from styletransfer.core.device import autocast, precision_name
from styletransfer.training.distributed import DistributedContext, mean_over_processes, shard
from styletransfer.core.images import pixels_to_float, tensor_to_image
from styletransfer.losses.perceptual import PerceptualLoss
from styletransfer.models.folding import fold_batchnorm
from styletransfer.modelfiles.format import timestamp, training_stage
from styletransfer.models.transformer import NetworkConfig, TransformerNet, count_parameters, size_name
from styletransfer.training.curves import plot_curves
from styletransfer.training.runfolder import CURVES_FILE, FINAL_LOSS_STEPS, RunFolder, mean_rows


PREVIEW_IMAGES = 4
"""The first this-many held-out images are stylized in the previews."""
LOSS_TERMS = ("content", "style", "tv", "color", "distill", "total")


FP16_INITIAL_LOSS_SCALE = 2.0**-4
"""The fp16 GradScaler's starting scale. The perceptual loss on Caffe-range VGG features is in
the millions, so torch's default 2^16 overflows fp16 gradients (measured: docs/training.md,
"Design notes"); starting at 2^-4 and doubling every FP16_GROWTH_INTERVAL good steps finds the
largest safe scale from below."""
FP16_GROWTH_INTERVAL = 200
MAX_SKIPPED_STEPS_IN_A_ROW = 20
"""An fp16 run whose GradScaler skips more consecutive steps than this is not learning: its
gradients overflow even after the loss scale fell by 2^20, so it stops as a divergence."""
COMPILE_OPTIONS: dict[str, Any] = {}
"""torch.compile arguments for ``compile=True`` runs (the default mode: compiles in tens of
seconds; training shapes never change, so it compiles once)."""


@dataclass
class ProgressUpdate:
    """Sent to the ``progress`` callback after every training step."""

    run: str
    """The run's name (the variant's in a comparison)."""
    step: int
    total_steps: int
    epoch: int
    losses: dict[str, float]
    """Mean content/style/tv/color/distill/total over the last few steps."""
    images_per_second: float


@dataclass
class RunResult:
    """What a training run produced."""

    run_dir: Path
    completed: bool
    """False when it was stopped (stop_event, Ctrl-C) before its last step."""
    step: int
    total_steps: int
    checkpoint_path: Path
    model_path: Path | None
    """The model file; None when not completed."""
    final_losses: dict[str, float]
    """Mean training losses over the last FINAL_LOSS_STEPS steps."""
    final_val_losses: dict[str, float]
    """The last validation losses ({} without a held-out set)."""
    images_per_second: float
    """Training images per second over the whole run (all processes together)."""
    parameters: int
    skipped: list[tuple[str, str]]
    """(path, problem) for every unusable image file met."""


ProgressCallback = Callable[[ProgressUpdate], None]


@dataclass
class TrainingInputs:
    """The loaded inputs of a run."""

    style: torch.Tensor
    """(1, 3, H, W) RGB 0..1: the painting at its style size."""
    train_set: ImageFolderDataset
    val_images: torch.Tensor | None
    """(V, 3, S, S) RGB 0..1 held-out centre crops, or None without a held-out set."""
    description: str
    """One line naming the data set, for the model file's metadata."""
    skipped: list[tuple[str, str]]
    """(path, problem) for the unusable files found so far."""
    teacher: TransformerNet | None = None
    """The trained network to imitate (config.teacher, loaded), or None."""


@contextlib.contextmanager
def stop_on_signals(requested: threading.Event) -> Iterator[None]:
    """In the main thread, turn the first SIGINT/SIGTERM into ``requested.set()`` (the
    handler is then put back, so a second one acts at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def request_stop(signum: int, _frame: Any) -> None:
        requested.set()
        signal.signal(signum, previous[signum])

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, request_stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def make_grad_scaler(device: torch.device, dtype: torch.dtype) -> torch.amp.GradScaler:
    """The loss scaler for training in ``dtype``: active for fp16 only (bf16 and fp32 have
    float32's range), starting at FP16_INITIAL_LOSS_SCALE."""
    return torch.amp.GradScaler(device.type, init_scale=FP16_INITIAL_LOSS_SCALE,
                                growth_interval=FP16_GROWTH_INTERVAL, enabled=dtype == torch.float16)


def training_step(model: torch.nn.Module, loss_fn: PerceptualLoss, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler, images: torch.Tensor, *, device: torch.device,
                  dtype: torch.dtype, channels_last: bool = False,
                  teacher: torch.nn.Module | None = None) -> torch.Tensor:
    """One optimizer step of ``model`` on a (B, 3, S, S) RGB batch (float 0..1, or uint8
    0..255, converted on ``device``), as :class:`Trainer` does it (autocast in ``dtype``,
    gradient scaling for fp16, channels-last input when asked, the ``teacher``'s output of the
    batch as the distillation target when given); returns the (5,) float32 content, style, tv,
    color and distill losses. Also what the benchmarks time."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images = pixels_to_float(images)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with autocast(device, dtype):
        terms = loss_fn(model(images), images, _teacher_output(teacher, images))
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(terms.total).backward()
    scaler.step(optimizer)
    scaler.update()
    return torch.stack([terms.content, terms.style, terms.tv, terms.color, terms.distill]).detach().float()


def _teacher_output(teacher: torch.nn.Module | None, images: torch.Tensor) -> torch.Tensor | None:
    """The teacher's stylized (N, 3, H, W) images of ``images`` (no gradient), or None."""
    if teacher is None:
        return None
    with torch.no_grad():
        return teacher(images)


def divergence_problem(run_dir: Path, step: int, dtype: torch.dtype, losses: Sequence[float],
                       skipped_in_a_row: int) -> str | None:
    """The one-line message of a run whose step ``step`` had non-finite (content, style, tv,
    color, distill) ``losses`` or whose fp16 GradScaler skipped more than
    MAX_SKIPPED_STEPS_IN_A_ROW steps in a row; None when it is learning."""
    advice = ("its last checkpoint is from before that: lower the learning rate or the loss weights"
              f"{' (or train in bf16 or fp32)' if dtype == torch.float16 else ''} and start again")
    if not all(map(math.isfinite, losses)):
        return (f"{run_dir}: training diverged at step {step} ({precision_name(dtype)}; content, "
                f"style, tv, color, distill losses {', '.join(f'{value:.4g}' for value in losses)}); {advice}")
    if skipped_in_a_row > MAX_SKIPPED_STEPS_IN_A_ROW:
        return (f"{run_dir}: training is not learning at step {step}: the fp16 gradient scaler "
                f"skipped the last {skipped_in_a_row} steps because the gradients overflowed; {advice}")
    return None


def training_state(*, step: int, steps_per_epoch: int, data_files: int, fingerprint: int, net: torch.nn.Module,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, wall_time: float,
                   skipped: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A checkpoint's entries (styletransfer.training.checkpoint) for a network at ``step``;
    the random generators' states are torch's global ones now."""
    epoch, position = divmod(step, steps_per_epoch)
    return {"step": step, "epoch": epoch, "position": position, "data_files": data_files,
            "data_fingerprint": fingerprint, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
            "grad_scaler": scaler.state_dict(), **rng_states(), "wall_time": wall_time,
            "skipped": [list(entry) for entry in skipped]}


def restore_training_state(checkpoint: dict[str, Any], path: Path, *, config: TrainingConfig, net: torch.nn.Module,
                           optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, data_files: int,
                           fingerprint: int, steps_per_epoch: int) -> tuple[int, float, list[tuple[str, str]]]:
    """Load a checkpoint read by :func:`load_checkpoint` into ``net``, ``optimizer`` and
    ``scaler`` and put back torch's generator states; returns (step, wall_time, skipped files).
    Raises TrainingError when the training images changed, CheckpointError when it does not fit."""
    if (checkpoint["data_files"], checkpoint["data_fingerprint"]) != (data_files, fingerprint):
        raise TrainingError(f"{path}: the training images changed since this checkpoint "
                            f"({checkpoint['data_files']} files then, {data_files} now)")
    if (checkpoint["epoch"], checkpoint["position"]) != divmod(checkpoint["step"], steps_per_epoch):
        raise CheckpointError(f"{path}: its data order position does not match its step")
    try:
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: does not fit a {config.norm}/{config.attention} network "
                              f"({str(error).splitlines()[0]})") from None
    if checkpoint["grad_scaler"]:
        scaler.load_state_dict(checkpoint["grad_scaler"])
    restore_rng_states(checkpoint)
    return checkpoint["step"], checkpoint["wall_time"], [(file, problem) for file, problem in checkpoint["skipped"]]


def prepare_teacher(teacher: TransformerNet, device: torch.device,
                    memory_format: torch.memory_format = torch.contiguous_format) -> torch.nn.Module:
    """A frozen inference copy of a teacher network on ``device``: eval mode, BatchNorm folded
    into its convolutions, no gradients."""
    return fold_batchnorm(teacher).to(device, memory_format=memory_format).requires_grad_(False)


def model_metadata(config: TrainingConfig, network: NetworkConfig, *, steps: int, dataset: str,
                   final_losses: dict[str, float], **extra: Any) -> dict[str, Any]:
    """The metadata a run's model file carries (styletransfer.modelfiles.format): the style's credits,
    the loss weights, loss layers and sizes of ``config``, the network's size name, ``steps``, ``dataset``,
    ``final_losses`` and any ``extra`` entries; with a teacher, its name and the distillation
    weights (and the feature term's layers when it has one); started from a model (``init``),
    that model's name; ``images_seen``, the training images the weights have seen in all (the
    init model's plus ``steps × batch_size``; left out when the init model's count is unknown); and
    for a fine-tune of a model whose recipe is known, ``stages``: the init model's runs
    (``config.init_stages``) and this one (docs/model-format.md), so that a style trained over
    several runs whose recipes differ says each one's."""
    if config.teacher is not None:
        extra = {"teacher": Path(config.teacher).stem, "distill_weight": config.distill_weight,
                 "distill_palette_weight": config.distill_palette_weight, **extra}
        if config.distill_feature_weight:
            extra = {"distill_feature_weight": config.distill_feature_weight,
                     "distill_feature_layers": list(config.distill_feature_layers), **extra}
    if config.init is not None:
        extra = {"init": Path(config.init).stem, **extra}
    if config.data_seed is not None:
        extra = {"data_seed": config.data_seed, **extra}
    if config.style_layer_weights is not None:
        extra = {"style_layer_weights": list(config.style_layer_weights), **extra}
    if config.init is None or config.init_images_seen is not None:
        extra = {"images_seen": steps * config.batch_size + (config.init_images_seen or 0), **extra}
    metadata = dict(name=config.name, title=config.title or config.name, artist=config.artist, year=config.year,
                    licence=config.licence, style_image=Path(config.style).name, content_weight=config.content_weight,
                    style_weight=config.style_weight, tv_weight=config.tv_weight, color_weight=config.color_weight,
                    content_layers=list(config.content_layers), style_layers=list(config.style_layers),
                    size=size_name(network), style_size=config.style_size, image_size=config.image_size,
                    steps=steps, batch_size=config.batch_size, lr=config.lr, seed=config.seed, dataset=dataset,
                    final_losses=final_losses, **extra)
    if config.init is not None and config.init_stages:
        metadata.setdefault("date", timestamp())
        metadata["stages"] = [*config.init_stages, training_stage(metadata)]
    return metadata


class Trainer:
    """One training run in this process: the model, optimizer, scaler, step and the loop. The
    files of the run folder are its :class:`RunFolder`'s; nothing is written before :meth:`run`.

    Args:
        config: the resolved options (every ``None`` filled in).
        inputs: the loaded style image and data.
        net: the freshly initialized network (on the CPU).
        context, device, dtype: where and in which precision to train.
        checkpoint: a loaded checkpoint to continue from, or None for a fresh run.
    """

    def __init__(self, config: TrainingConfig, inputs: TrainingInputs, net: TransformerNet,
                 context: DistributedContext, device: torch.device, dtype: torch.dtype,
                 checkpoint: dict[str, Any] | None):
        self.config, self.context, self.device, self.dtype = config, context, device, dtype
        self.run_dir = Path(config.out_dir)
        self.folder = RunFolder(self.run_dir)
        self.train_set, self.val_images = inputs.train_set, inputs.val_images
        self.description, self.skipped = inputs.description, list(inputs.skipped)
        self.steps_per_epoch = len(self.train_set) // config.batch_size
        self.fingerprint = _fingerprint(self.train_set.files, self.train_set.root)
        self.channels_last = bool(config.channels_last)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        if config.sync_batchnorm and context.enabled:
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.net = net.to(device, memory_format=memory_format)
        self.parameters = count_parameters(self.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.scaler = make_grad_scaler(device, dtype)
        self.step, self.wall_time = 0, 0.0
        if checkpoint is not None:
            self._restore(checkpoint, self.folder.checkpoint_path)
        if config.steps < self.step:
            raise TrainingError(f"{self.run_dir}: the run is already at step {self.step}, "
                                f"beyond the {config.steps} steps asked for")
        self.model = (DistributedDataParallel(self.net, device_ids=[device.index] if device.type == "cuda" else None)
                      if context.enabled else self.net)
        self.teacher = (prepare_teacher(inputs.teacher, device, memory_format) if inputs.teacher is not None
                        else None)
        self.loss_fn = PerceptualLoss(inputs.style, content_weight=config.content_weight,
                                      style_weight=config.style_weight, tv_weight=config.tv_weight,
                                      color_weight=config.color_weight, distill_weight=config.distill_weight,
                                      distill_palette_weight=config.distill_palette_weight,
                                      distill_feature_weight=config.distill_feature_weight,
                                      distill_feature_layers=config.distill_feature_layers,
                                      content_layers=config.content_layers,
                                      style_layers=config.style_layers,
                                      style_layer_weights=config.style_layer_weights).to(device, memory_format=memory_format)
        if config.compile:
            self.model = torch.compile(self.model, **COMPILE_OPTIONS)
            self.loss_fn.vgg = torch.compile(self.loss_fn.vgg, **COMPILE_OPTIONS)
        self.first_step_seconds: float | None = None
        self.val_losses: dict[str, float] = {}
        self.resumed = checkpoint is not None

    def _start(self) -> None:
        """Rank 0: the config and the logs in the run folder, and for a fresh run a first
        checkpoint, so that even a run killed in its first steps can resume."""
        if not self.context.is_main:
            return
        self.folder.start(self.config.to_dict(), self.step if self.resumed else None)
        self.val_losses = self.folder.last_validation(LOSS_TERMS)
        if not self.resumed:
            self._checkpoint()

    def _restore(self, checkpoint: dict[str, Any], path: Path) -> None:
        """Continue from a checkpoint loaded by :func:`load_checkpoint`."""
        self.step, self.wall_time, skipped = restore_training_state(
            checkpoint, path, config=self.config, net=self.net, optimizer=self.optimizer, scaler=self.scaler,
            data_files=len(self.train_set), fingerprint=self.fingerprint, steps_per_epoch=self.steps_per_epoch)
        self._note_skipped(skipped)

    def _checkpoint(self) -> None:
        save_checkpoint(self.folder.checkpoint_path, training_state(
            step=self.step, steps_per_epoch=self.steps_per_epoch, data_files=len(self.train_set),
            fingerprint=self.fingerprint, net=self.net, optimizer=self.optimizer, scaler=self.scaler,
            wall_time=self.wall_time, skipped=self.skipped))

    def _loader(self, epoch: int, position: int) -> DataLoader:
        """This process's batches of epoch ``epoch`` from batch ``position`` on."""
        seed = self.config.data_order_seed()
        order = epoch_order(len(self.train_set), seed, epoch)
        size = self.config.batch_size
        batches = [shard([(order[i], mix_seed(seed, epoch, i)) for i in range(b * size, (b + 1) * size)], self.context)
                   for b in range(position, self.steps_per_epoch)]
        # A generator of its own keeps DataLoader from drawing on torch's global one.
        return DataLoader(SeededCrops(self.train_set), batch_sampler=batches, num_workers=self.config.workers,
                          collate_fn=_collate, pin_memory=self.device.type == "cuda", generator=torch.Generator())

    def _train_step(self, images: torch.Tensor) -> torch.Tensor:
        """One optimizer step on a (B, 3, S, S) RGB 0..1 batch; returns (6,) float32: its
        content, style, tv, color and distill losses, and 1.0 when the GradScaler skipped the
        step (its gradients overflowed in fp16), else 0.0."""
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else 0.0
        losses = training_step(self.model, self.loss_fn, self.optimizer, self.scaler, images,
                               device=self.device, dtype=self.dtype, channels_last=self.channels_last,
                               teacher=self.teacher)
        skipped = self.scaler.is_enabled() and self.scaler.get_scale() < scale
        return torch.cat([losses, losses.new_tensor([float(skipped)])])

    def _check_finite(self, losses: Sequence[float], skipped_in_a_row: int) -> None:
        """Raise TrainingDivergedError when this step's (content, style, tv, color, distill) losses are not
        finite or the GradScaler has skipped too many steps in a row; called before the step
        can reach a checkpoint."""
        problem = divergence_problem(self.run_dir, self.step, self.dtype, losses, skipped_in_a_row)
        if problem is not None:
            raise TrainingDivergedError(problem)

    @torch.no_grad()
    def _stylize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) RGB 0..1 on any device → the network's outputs in eval mode, float32."""
        self.net.eval()
        try:
            with autocast(self.device, self.dtype):
                return self.net(images.to(self.device)).float()
        finally:
            self.net.train()

    @torch.no_grad()
    def _validate(self, epoch: int) -> None:
        """Mean losses over the held-out images (eval mode), logged to val.csv."""
        sums = dict.fromkeys(LOSS_TERMS, 0.0)
        for chunk in self.val_images.split(self.config.batch_size):
            chunk = chunk.to(self.device)
            with autocast(self.device, self.dtype):
                terms = self.loss_fn(self._stylize(chunk), chunk, _teacher_output(self.teacher, chunk)).as_floats()
            for key in LOSS_TERMS:
                sums[key] += terms[key] * len(chunk)
        self.val_losses = {key: value / len(self.val_images) for key, value in sums.items()}
        self.folder.log_validation({"step": self.step, "epoch": epoch, **self.val_losses})

    def _preview(self) -> None:
        """previews/step_NNNNNN.jpg: the held-out photos above their stylized versions."""
        photos = self.val_images[:PREVIEW_IMAGES]
        styled = self._stylize(photos).cpu()
        strip = torch.cat([torch.cat(list(photos), dim=2), torch.cat(list(styled), dim=2)], dim=1)
        self.folder.save_preview(tensor_to_image(strip), self.step)

    def _after_step(self, epoch: int, final: bool) -> None:
        """Validation, previews and checkpoint when due (rank 0)."""
        def due(every: int) -> bool:
            return final or (every > 0 and self.step % every == 0)

        if self.val_images is not None and due(self.config.val_every):
            self._validate(epoch)
        if self.val_images is not None and due(self.config.preview_every):
            self._preview()
        if due(self.config.checkpoint_every):
            self._checkpoint()

    def run(self, progress: ProgressCallback | None, stop_event: threading.Event | None) -> RunResult:
        total = self.config.steps
        recent: deque[dict[str, float]] = deque(maxlen=20)
        requested = threading.Event()
        stopped = False
        skipped_in_a_row = 0
        self._start()
        with stop_on_signals(requested), self._logs_closed_at_exit():
            while self.step < total and not stopped:
                epoch, position = divmod(self.step, self.steps_per_epoch)
                tick = time.perf_counter()
                for images, skipped in self._loader(epoch, position):
                    self._note_skipped(skipped)
                    losses = self._train_step(images)
                    stop = requested.is_set() or (stop_event is not None and stop_event.is_set())
                    # One collective per step: the mean losses, whether the GradScaler skipped the
                    # step, and whether any process must stop.
                    agreed = mean_over_processes(torch.cat([losses, losses.new_tensor([float(stop)])]),
                                                 self.context).tolist()
                    self.step += 1
                    skipped_in_a_row = skipped_in_a_row + 1 if agreed[5] > 0 else 0
                    self._check_finite(agreed[:5], skipped_in_a_row)
                    elapsed = time.perf_counter() - tick
                    if self.first_step_seconds is None:
                        self.first_step_seconds = elapsed  # with compilation, when compiled
                    self.wall_time += elapsed
                    content, style, tv, color, distill = agreed[:5]
                    row = {"step": self.step, "epoch": epoch, "content": content, "style": style, "tv": tv,
                           "color": color, "distill": distill, "total": content + style + tv + color + distill,
                           "lr": self.config.lr,
                           "images_per_s": self.config.batch_size / elapsed, "wall_time": self.wall_time}
                    recent.append(row)
                    stopped = agreed[6] > 0
                    if self.context.is_main:
                        self.folder.log_step(row)
                        self._after_step(epoch, final=stopped or self.step >= total)
                        if progress is not None:
                            progress(ProgressUpdate(self.config.name, self.step, total, epoch,
                                                    mean_rows(recent, LOSS_TERMS),
                                                    sum(r["images_per_s"] for r in recent) / len(recent)))
                    if stopped or self.step >= total:
                        break
                    tick = time.perf_counter()
        return self._finish(completed=not stopped)

    @contextlib.contextmanager
    def _logs_closed_at_exit(self) -> Iterator[None]:
        try:
            yield
        finally:
            if self.context.is_main:
                self.folder.close_logs()

    def _note_skipped(self, skipped: list[tuple[str, str]]) -> None:
        known = {path for path, _ in self.skipped}
        self.skipped += [entry for entry in skipped if entry[0] not in known]

    def _finish(self, completed: bool) -> RunResult:
        """Model file, curves and summary (rank 0); the run's result."""
        rows = self.folder.training_rows() if self.context.is_main else []
        final = mean_rows(rows[-FINAL_LOSS_STEPS:], LOSS_TERMS)
        images_per_second = self.step * self.config.batch_size / self.wall_time if self.wall_time else 0.0
        model_path = self.folder.model_path if completed else None
        if self.context.is_main:
            if model_path is not None:
                self.folder.save_model(self.net, **model_metadata(
                    self.config, self.net.config, steps=self.step, dataset=self.description, final_losses=final,
                    final_val_losses=self.val_losses, images_per_second=round(images_per_second, 2)))
            plot_curves(self.run_dir, self.run_dir / CURVES_FILE)
            self.folder.finish({
                "completed": completed, "step": self.step, "total_steps": self.config.steps,
                "norm": self.config.norm, "attention": self.config.attention, "parameters": self.parameters,
                "final_losses": final, "final_val_losses": self.val_losses,
                "images_per_second": images_per_second, "world_size": self.context.world_size,
                "device": self.config.device, "precision": self.config.precision,
                "compiled": bool(self.config.compile), "first_step_seconds": self.first_step_seconds,
                "model": model_path and str(model_path), "skipped": [list(entry) for entry in self.skipped],
            })
        return RunResult(self.run_dir, completed, self.step, self.config.steps, self.folder.checkpoint_path,
                         model_path, final, self.val_losses, images_per_second, self.parameters, self.skipped)
