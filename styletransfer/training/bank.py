"""A bank of style networks trained in one process on one stream of photos (issue 22).

``train_bank([config_a, config_b, ...])`` trains one network per config, each into its own run
folder (the files of :mod:`styletransfer.training.runfolder`: config, metrics, validation,
previews, checkpoint, model file with its metadata, summary), while every step's work that does
not depend on the network is done once:

- one decode, crop and transfer of the photos per step (:mod:`.bank_data`; with
  ``device_cache`` the photos live on the device as uint8 and the crops are cut there);
- the photos' content features (VGG) once for all networks;
- every network's output through the VGG as one batch (:class:`.bank_loss.BankLoss`), then each
  network's own loss weights, Gram targets, color quantiles and teacher;
- one backward pass through that VGG batch for all networks, then each network's own Adam step
  and (fp16) its own GradScaler.

Each network keeps its own seed (initialization), painting, loss weights, learning rate,
network size and variant, teacher and init model. Networks share what the stream fixes: the
photos (images or COCO options, held-out images), the batch size, crop size, device, precision
and speed options; and the data seed: a member whose seed differs from the bank's stores the
bank's as ``data_seed`` in its config.json. A network trained in a bank therefore ends with the
weights it gets when trained alone with its stored config (``train(config)``), up to float
summation order (fp32 on the CPU: within 1e-6 relative after a few steps; tests/test_bank.py).

How the networks run together. A simple loop over the networks: each runs its own forward
pass (and the backward reaches each through its own output), between the shared data step and
the shared loss network. The alternatives were weighed:

- grouped convolutions (N networks as one network with ``groups=N``) change every layer and
  every attention block (SE's MLP and ECA's 1-D convolution would mix channels across
  networks), need the photos copied N times along the channels, and tie the bank to one
  architecture; cuDNN's grouped kernels for 64–128 channels per group are not its dense ones
  (unmeasured here: ``benchmarks/bench_bank.py --design`` times it on the GPU). On this 2-core
  CPU one 128-channel 3×3 layer of 4 networks (batch 4, 64 px, forward and backward) took
  2.47 s grouped against 2.84 s as a loop: 15 % on one layer, which cannot pay for the rest;
- ``torch.func.stack_module_state`` + ``vmap`` batches the weights the same way (its convolution
  batching rule is a grouped convolution; 2.90 s on the same layer) and cannot update
  BatchNorm's running statistics in place, which the model files need (BN is the default, and
  SRM has its own);
- the loop costs N times the kernel launches of one network (a few hundred per network and
  step), which a GPU hides as long as the host stays ahead: so nothing in the step waits for the
  device (losses are read every ``read_losses_every`` steps), and per-network batches are large
  (16–32 photos at 256 px: milliseconds of GPU work per network against tens of microseconds of
  launches). The loss network, which costs about as much as the networks themselves, runs once
  on the whole batch. A loop also lets one bank hold networks of different architectures
  (compare's variants).

Steps and resuming. The bank's position in the stream is its step; networks may have different
lengths (one that reaches its steps finishes and leaves the bank, the others go on). Each
network is checkpointed in its own folder in the Trainer's checkpoint format, at the same steps
when they share ``checkpoint_every``; ``resume_bank`` continues every unfinished network exactly
(bit-identical weights to an uninterrupted bank on the same machine). Networks found at
different steps (a bank killed between two networks' checkpoints, or a network added later)
are trained from the lowest step, the ones behind catching up alone until they reach the others
(exact up to float rounding: their loss network batch is smaller meanwhile).

Divergence: a network whose losses become non-finite (or whose fp16 scaler keeps skipping) stops
before its checkpoint holds bad weights, its summary.json says why, the result lists it in
``diverged``, and the others go on: no term of one network reaches another's loss or gradients.

Speed options for the GPU (``BankOptions`` and the TrainingConfig ones, all harmless on the CPU):
bf16 autocast (``precision``), channels-last (``channels_last``), the photos on the device
(``device_cache``), no host synchronisation inside a step (``read_losses_every``),
``torch.compile`` of each network and of the loss network (``compile``; its CUDA-graph mode is
``COMPILE_OPTIONS["mode"] = "reduce-overhead"``), and large per-network batches with the
square-root learning-rate rule (``default_lr``; set ``batch_size`` and leave ``lr`` out). No
hand-made CUDA graph of the whole step: it would need capturable Adam steps, static buffers for
the host-drawn crop positions and a scaler per network inside the graph, none of which can be
checked without a GPU, for launches that large batches and unsynchronised steps already hide.

The one random draw inside a step, the distillation palette term's pixel sample, comes from
torch's global generator, which the bank shares: with a teacher's palette term a bank network
matches its lone run in distribution rather than draw for draw.

The library never prints: progress goes to the ``progress`` callback (:class:`BankUpdate`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from styletransfer.models.layers.attention import attention_names, needs_batch_statistics
from styletransfer.core.device import autocast, pick_device, pick_precision, precision_name
from styletransfer.core.images import tensor_to_image
from styletransfer.models.transformer import TransformerNet, check_trainable_batch, count_parameters
from styletransfer.training.bank_data import DeviceCrops, PhotoStream
from styletransfer.training.bank_loss import BankLoss
from styletransfer.training.checkpoint import load_checkpoint, restore_rng_states, save_checkpoint
from styletransfer.training.config import CACHE_MEMORY_SHARE, TrainingConfig, TrainingError
from styletransfer.training.data import _fingerprint
from styletransfer.training.distributed import torchrun_environment
from styletransfer.training.curves import plot_curves
from styletransfer.training.runfolder import (CHECKPOINT_FILE, CURVES_FILE, FINAL_LOSS_STEPS, SUMMARY_FILE, RunDirError, RunFolder, mean_rows, read_json,
                        write_json)
from styletransfer.training.runs import (LoadedData, _cache_images, _load_trained_model, _start_from_init, load_data,
                   load_style, read_run_config, resolve_config, resolve_speed_options)
from styletransfer.training.trainer import (COMPILE_OPTIONS, LOSS_TERMS, PREVIEW_IMAGES, RunResult, _teacher_output, divergence_problem,
                      make_grad_scaler, model_metadata, prepare_teacher, restore_training_state, stop_on_signals,
                      training_state)

BANK_FILE = "bank.json"
"""A bank folder's list of its networks' run folders and its options (written by the CLI)."""
CUDA_READ_LOSSES_EVERY = 25
"""read_losses_every=None reads the losses every this many steps on CUDA (every step elsewhere)."""
SHARED_OPTIONS = ("images", "coco_root", "coco_annotations", "coco_categories", "max_images", "image_size",
                  "batch_size", "device", "precision", "channels_last", "compile")
"""TrainingConfig options every network of a bank must share once resolved (they shape the one
stream of photos, or the one process); also val_images. The first network's ``workers`` load the
photos (they change no result), and the bank sets ``cache_images`` for all."""


@dataclass
class BankOptions:
    """The options of a bank as a whole (its networks' own are their TrainingConfigs); stored in
    a bank folder's bank.json."""

    device_cache: bool | None = None
    """Keep the decoded training photos on the training device as uint8 and cut the crops there
    (no data loading processes, no per-step copy); None: on CUDA when they take at most a quarter
    of the free device memory."""
    read_losses_every: int | None = None
    """Read the losses from the device every this many steps (each step is still logged; a
    diverging network is caught before any checkpoint); None: every step on the CPU, 25 on CUDA,
    where reading them waits for the GPU."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BankOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown bank option(s) {', '.join(unknown)}")
        return cls(**values)

    def check(self) -> None:
        if self.read_losses_every is not None and self.read_losses_every < 1:
            raise TrainingError(f"read_losses_every must be at least 1, not {self.read_losses_every}")


@dataclass
class BankUpdate:
    """Sent to the ``progress`` callback each time the bank reads its losses."""

    step: int
    """The bank's step (its position in the stream of photos)."""
    total_steps: int
    """The longest of its networks' lengths."""
    images_per_second: float
    """Stylized training images per second, all networks together, over the last few readings."""
    training: int
    finished: int
    diverged: int
    losses: dict[str, dict[str, float]]
    """Network name → its mean losses over its last few steps (networks still training)."""


@dataclass
class BankResult:
    """What a bank produced."""

    runs: dict[str, RunResult]
    """Network name → its run's result (completed False when stopped or diverged)."""
    diverged: dict[str, str]
    """Network name → the one-line message of its divergence."""
    completed: bool
    """Every network finished its steps."""
    images_per_second: float
    """Stylized training images per second, all networks together, over this session's steps."""
    bank_dir: Path | None = None


BankProgressCallback = Callable[[BankUpdate], None]


class _Member:
    """One network of a bank: its folder, weights, optimizer, scaler and logging state."""

    def __init__(self, index: int, config: TrainingConfig, net: TransformerNet, teacher: TransformerNet | None,
                 checkpoint: dict[str, Any] | None, *, data: LoadedData, fingerprint: int, device: torch.device,
                 dtype: torch.dtype, memory_format: torch.memory_format):
        self.index, self.config, self.name = index, config, config.name
        self.run_dir = Path(config.out_dir)
        self.folder = RunFolder(self.run_dir)
        self.net = net.to(device, memory_format=memory_format)
        self.parameters = count_parameters(self.net)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.scaler = make_grad_scaler(device, dtype)
        self.step, self.wall_time = 0, 0.0
        self.skipped: list[tuple[str, str]] = []
        self.note_skipped(data.skipped)
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.step, self.wall_time, skipped = restore_training_state(
                checkpoint, self.folder.checkpoint_path, config=config, net=self.net, optimizer=self.optimizer,
                scaler=self.scaler, data_files=len(data.train_set), fingerprint=fingerprint,
                steps_per_epoch=data.steps_per_epoch)
            self.note_skipped(skipped)
        if config.steps < self.step:
            raise TrainingError(f"{self.run_dir}: the run is already at step {self.step}, "
                                f"beyond the {config.steps} steps asked for")
        self.model = torch.compile(self.net, **COMPILE_OPTIONS) if config.compile else self.net
        self.teacher = prepare_teacher(teacher, device, memory_format) if teacher is not None else None
        self.resumed = checkpoint is not None
        self.status = "training"
        self.recent: deque[dict[str, float]] = deque(maxlen=20)
        self.skipped_in_a_row = 0
        self.val_losses: dict[str, float] = {}
        self.first_step_seconds: float | None = None
        self.checkpointed_step: int | None = None
        self.problem: str | None = None
        self.result: RunResult | None = None
        self.session_steps = 0

    def note_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        known = {path for path, _ in self.skipped}
        self.skipped += [tuple(entry) for entry in skipped if entry[0] not in known]

    def due(self, every: int, final: bool) -> bool:
        return final or (every > 0 and self.step % every == 0)

    @torch.no_grad()
    def stylize(self, images: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        self.net.eval()
        try:
            with autocast(device, dtype):
                return self.net(images.to(device)).float()
        finally:
            self.net.train()


class BankTrainer:
    """The loop of a bank (see the module docs): its networks, the shared loss and stream."""

    def __init__(self, members: list[_Member], loss: BankLoss, stream: PhotoStream, val_images: torch.Tensor | None,
                 *, device: torch.device, dtype: torch.dtype, read_losses_every: int, data: LoadedData,
                 bank_dir: Path | None):
        self.members, self.loss, self.stream = members, loss, stream
        self.val_images = None if val_images is None else val_images.to(device)
        self.device, self.dtype, self.read_every = device, dtype, read_losses_every
        self.data, self.bank_dir = data, bank_dir
        self.batch_size = stream.batch_size
        self.pending: list[tuple[int, int, list[_Member], torch.Tensor]] = []
        self.window_start = time.perf_counter()
        self.recent_rates: deque[float] = deque(maxlen=5)
        self.session_images, self.session_seconds = 0, 0.0
        self.stream_step = 0

    # ---------------------------------------------------------------- one step

    def _step(self, active: list[_Member], photos: torch.Tensor) -> torch.Tensor:
        """One optimizer step of every network in ``active`` on the same photos; returns
        (M, 6) float32 on the device: each network's content, style, tv, color and distill losses
        and 1.0 where its fp16 GradScaler skipped the step."""
        with autocast(self.device, self.dtype):
            outputs = [member.model(photos) for member in active]
            teachers = [_teacher_output(member.teacher, photos) for member in active]
            terms = self.loss([member.index for member in active], photos, outputs, teachers)
        totals = terms.sum(dim=1)
        for member in active:
            member.optimizer.zero_grad(set_to_none=True)
        scaled = [member.scaler.is_enabled() for member in active]
        if any(scaled):
            loss = torch.stack([member.scaler.scale(totals[row]) for row, member in enumerate(active)]).sum()
        else:
            loss = totals.sum()
        loss.backward()
        skipped = []
        for member in active:
            before = member.scaler.get_scale() if member.scaler.is_enabled() else 0.0
            member.scaler.step(member.optimizer)
            member.scaler.update()
            skipped.append(float(member.scaler.is_enabled() and member.scaler.get_scale() < before))
        flags = terms.new_tensor(skipped) if any(scaled) else terms.new_zeros(len(active))
        return torch.cat([terms.detach(), flags.unsqueeze(1)], dim=1)

    # ---------------------------------------------------------------- reading the losses

    def _flush(self, progress: BankProgressCallback | None) -> None:
        """Read the pending steps' losses (one wait for the device), check each network's,
        log them, and report progress."""
        if not self.pending:
            return
        values = torch.cat([terms.flatten() for *_, terms in self.pending]).tolist()
        now = time.perf_counter()
        seconds = (now - self.window_start) / len(self.pending)
        images, cursor = 0, 0
        for step, epoch, active, _ in self.pending:
            for member in active:
                row_values, cursor = values[cursor:cursor + 6], cursor + 6
                if member.status != "training":
                    continue
                member.skipped_in_a_row = member.skipped_in_a_row + 1 if row_values[5] > 0 else 0
                problem = divergence_problem(member.run_dir, step, self.dtype, row_values[:5],
                                             member.skipped_in_a_row)
                if problem is not None:
                    self._diverge(member, problem)
                    continue
                member.wall_time += seconds
                member.session_steps += 1
                if member.first_step_seconds is None:
                    member.first_step_seconds = seconds
                content, style, tv, color, distill = row_values[:5]
                row = {"step": step, "epoch": epoch, "content": content, "style": style, "tv": tv, "color": color,
                       "distill": distill, "total": content + style + tv + color + distill, "lr": member.config.lr,
                       "images_per_s": self.batch_size / seconds, "wall_time": member.wall_time}
                member.folder.log_step(row)
                member.recent.append(row)
                images += self.batch_size
        window = now - self.window_start
        self.session_images += images
        self.session_seconds += window
        if window > 0:
            self.recent_rates.append(images / window)
        self.pending.clear()
        if progress is not None:
            training = [m for m in self.members if m.status == "training"]
            progress(BankUpdate(
                self.stream_step, max(m.config.steps for m in self.members),
                sum(self.recent_rates) / max(1, len(self.recent_rates)), len(training),
                sum(m.status == "finished" for m in self.members), sum(m.status == "diverged" for m in self.members),
                {m.name: mean_rows(m.recent, LOSS_TERMS) for m in training if m.recent}))

    # ---------------------------------------------------------------- validation, previews, checkpoints

    @torch.no_grad()
    def _validate(self, members: list[_Member]) -> None:
        """Each network's mean losses over the held-out images (eval mode), logged to its val.csv."""
        sums = torch.zeros(len(members), 5, dtype=torch.float64, device=self.device)
        for chunk in self.val_images.split(self.batch_size):
            with autocast(self.device, self.dtype):
                outputs = [member.stylize(chunk, self.device, self.dtype) for member in members]
                teachers = [_teacher_output(member.teacher, chunk) for member in members]
                terms = self.loss([member.index for member in members], chunk, outputs, teachers)
            sums += terms.double() * len(chunk)
        for member, values in zip(members, (sums / len(self.val_images)).tolist()):
            losses = dict(zip(LOSS_TERMS, values))
            losses["total"] = sum(values)
            member.val_losses = losses
            epoch = max(0, member.step - 1) // self.stream.steps_per_epoch  # the epoch of its last step
            member.folder.log_validation({"step": member.step, "epoch": epoch, **losses})

    def _preview(self, member: _Member) -> None:
        photos = self.val_images[:PREVIEW_IMAGES]
        styled = member.stylize(photos, self.device, self.dtype).cpu()
        photos = photos.cpu()
        strip = torch.cat([torch.cat(list(photos), dim=2), torch.cat(list(styled), dim=2)], dim=1)
        member.folder.save_preview(tensor_to_image(strip), member.step)

    def _checkpoint(self, member: _Member) -> None:
        save_checkpoint(member.folder.checkpoint_path, training_state(
            step=member.step, steps_per_epoch=self.stream.steps_per_epoch, data_files=len(self.data.train_set),
            fingerprint=self.stream_fingerprint, net=member.net, optimizer=member.optimizer, scaler=member.scaler,
            wall_time=member.wall_time, skipped=member.skipped))
        member.checkpointed_step = member.step

    def _after_step(self, members: list[_Member], final: Callable[[_Member], bool]) -> None:
        """Validation, previews and checkpoints of ``members`` where due (validation of all of
        them in one pass)."""
        members = [m for m in members if m.status == "training"]
        if self.val_images is not None:
            validating = [m for m in members if m.due(m.config.val_every, final(m))]
            if validating:
                self._validate(validating)
            for member in members:
                if member.due(member.config.preview_every, final(member)):
                    self._preview(member)
        for member in members:
            if member.due(member.config.checkpoint_every, final(member)):
                self._checkpoint(member)

    def _needs_after_step(self, member: _Member, final: bool) -> bool:
        config = member.config
        return (member.due(config.checkpoint_every, final)
                or (self.val_images is not None
                    and (member.due(config.val_every, final) or member.due(config.preview_every, final))))

    # ---------------------------------------------------------------- ends of a network's run

    def _summary(self, member: _Member, completed: bool, final: dict[str, float], model_path: Path | None,
                 images_per_second: float) -> dict[str, Any]:
        config = member.config
        return {"completed": completed, "step": member.step, "total_steps": config.steps, "norm": config.norm,
                "attention": config.attention, "parameters": member.parameters, "final_losses": final,
                "final_val_losses": member.val_losses, "images_per_second": images_per_second, "world_size": 1,
                "device": config.device, "precision": config.precision, "compiled": bool(config.compile),
                "first_step_seconds": member.first_step_seconds, "model": model_path and str(model_path),
                "skipped": [list(entry) for entry in member.skipped],
                "bank": {"networks": len(self.members), "names": [m.name for m in self.members],
                         "folder": self.bank_dir and str(self.bank_dir)},
                **({"diverged": member.problem} if member.problem else {})}

    def _finish(self, member: _Member, completed: bool) -> None:
        """Model file (when completed), curves and summary; the network leaves the bank."""
        rows = member.folder.training_rows()
        final = mean_rows(rows[-FINAL_LOSS_STEPS:], LOSS_TERMS)
        rate = member.step * self.batch_size / member.wall_time if member.wall_time else 0.0
        model_path = member.folder.model_path if completed else None
        if model_path is not None:
            member.folder.save_model(member.net, **model_metadata(
                member.config, member.net.config, steps=member.step, dataset=self.data.description,
                final_losses=final, final_val_losses=member.val_losses, images_per_second=round(rate, 2)))
        summary = self._summary(member, completed, final, model_path, rate)
        if rows:
            plot_curves(member.run_dir, member.run_dir / CURVES_FILE)
            member.folder.finish(summary)  # summary.json
        else:  # diverged at its first step: no curves to draw
            write_json(member.run_dir / SUMMARY_FILE, summary)
        member.folder.close_logs()
        if member.status == "training":
            member.status = "finished" if completed else "stopped"
        member.result = RunResult(member.run_dir, completed, member.step, member.config.steps,
                                  member.folder.checkpoint_path, model_path, final, member.val_losses, rate,
                                  member.parameters, list(member.skipped))

    def _diverge(self, member: _Member, problem: str) -> None:
        member.status, member.problem = "diverged", problem
        self._finish(member, completed=False)

    # ---------------------------------------------------------------- the loop

    def run(self, progress: BankProgressCallback | None, stop_event: threading.Event | None) -> BankResult:
        self.stream_fingerprint = _fingerprint(self.data.train_set.files, self.data.train_set.root)
        requested = threading.Event()
        for member in self.members:
            member.folder.start(member.config.to_dict(), member.step if member.resumed else None)
            member.val_losses = member.folder.last_validation(LOSS_TERMS)
            if not member.resumed:
                self._checkpoint(member)
            else:
                member.checkpointed_step = member.step
        stopped = False
        self.window_start = time.perf_counter()
        with stop_on_signals(requested), self._logs_closed_at_exit():
            for member in self.members:
                if member.step >= member.config.steps:  # a finished run resumed: its files again
                    self._finish(member, completed=True)
            while not stopped:
                training = [m for m in self.members if m.status == "training"]
                if not training:
                    break
                step = min(m.step for m in training)
                epoch, position = divmod(step, self.stream.steps_per_epoch)
                for photos, skipped in self.stream.batches(epoch, position):
                    active = [m for m in self.members if m.status == "training" and m.step == step]
                    if not active:
                        break
                    for member in self.members:
                        if member.status == "training":
                            member.note_skipped(skipped)
                    terms = self._step(active, photos)
                    step += 1
                    self.stream_step = step
                    for member in active:
                        member.step = step
                    self.pending.append((step, epoch, active, terms))
                    stopped = requested.is_set() or (stop_event is not None and stop_event.is_set())

                    def final(member: _Member, stopped: bool = stopped) -> bool:
                        return stopped or member.step >= member.config.steps

                    due = [m for m in active if self._needs_after_step(m, final(m)) or final(m)]
                    if stopped or due or len(self.pending) >= self.read_every:
                        self._flush(progress)
                        self._after_step(due, final)
                        for member in active:
                            if member.status == "training" and member.step >= member.config.steps:
                                self._finish(member, completed=True)
                        self.window_start = time.perf_counter()
                    if stopped:
                        break
                else:
                    continue  # the epoch ended: the next one
                if stopped:
                    break
            self._flush(progress)
            for member in self.members:
                if member.status == "training":  # stopped, or waiting ahead of the ones that stopped
                    if member.checkpointed_step != member.step:
                        self._after_step([member], lambda _: True)
                    self._finish(member, completed=False)
        results = {m.name: m.result for m in self.members}
        diverged = {m.name: m.problem for m in self.members if m.status == "diverged"}
        rate = self.session_images / self.session_seconds if self.session_seconds else 0.0
        return BankResult(results, diverged, all(m.status == "finished" for m in self.members), rate, self.bank_dir)

    @contextlib.contextmanager
    def _logs_closed_at_exit(self) -> Iterator[None]:
        try:
            yield
        finally:
            for member in self.members:
                member.folder.close_logs()


# ---------------------------------------------------------------- starting and resuming a bank

def _differing(configs: Sequence[TrainingConfig], option: str) -> str | None:
    values = [getattr(config, option) for config in configs]
    if all(value == values[0] for value in values):
        return None
    return f"{option} ({', '.join(f'{Path(c.out_dir).name}: {getattr(c, option)}' for c in configs[:4])})"


def _device_cache_fits(dataset: Any, device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return dataset.estimated_cache_bytes() <= CACHE_MEMORY_SHARE * free


def train_bank(configs: Sequence[TrainingConfig], *, options: BankOptions | None = None,
               resume: bool | Sequence[bool] = False, bank_dir: str | os.PathLike[str] | None = None,
               progress: BankProgressCallback | None = None,
               stop_event: threading.Event | None = None) -> BankResult:
    """Train one network per config as a bank (see the module docs), each into its ``out_dir``.

    Args:
        options: the bank's own options (BankOptions()).
        resume: continue from the checkpoints in the run folders (one flag for all, or one per
            config; a network resumed keeps its stored options, as :func:`resume_bank` reads
            them); a folder that holds a checkpoint is refused otherwise.
        bank_dir: write ``bank.json`` (the networks' folders and ``options``) here, so that
            :func:`resume_bank` can continue the bank from this folder.
        progress: called with a :class:`BankUpdate` each time the losses are read.
        stop_event: set it (from another thread) to stop after the current step with a
            checkpoint of every network; Ctrl-C / SIGTERM do the same in the main thread.

    Returns the networks' results; a diverged network is in ``diverged`` (this raises nothing for it).

    Raises:
        TrainingError: bad options or inputs (one line), found before any training compute;
            networks that do not share the stream's options.
        CheckpointError: an unusable checkpoint when resuming.
    """
    configs = list(configs)
    options = options or BankOptions()
    options.check()
    if not configs:
        raise TrainingError("a bank needs at least one network")
    resumes = [resume] * len(configs) if isinstance(resume, bool) else list(resume)
    if len(resumes) != len(configs):
        raise TrainingError(f"{len(resumes)} resume flags for {len(configs)} networks")
    if torchrun_environment()[1] > 1:
        raise TrainingError("a bank trains in one process: run it without torchrun")
    for config in configs:
        config.check()
    folders = [os.path.abspath(config.out_dir) for config in configs]
    if len(set(folders)) != len(folders):
        raise TrainingError("two networks of the bank would share one run folder")
    checkpoints = []
    for config, resumed in zip(configs, resumes):
        path = Path(config.out_dir) / CHECKPOINT_FILE
        if not resumed and path.exists():
            raise TrainingError(f"{config.out_dir}: already holds a training run; resume it, or choose another folder")
        checkpoints.append(load_checkpoint(path) if resumed else None)
    seed = configs[0].data_order_seed()
    for config in configs:
        if config.data_seed is not None and config.data_seed != seed:
            raise TrainingError(f"the networks of a bank share one stream of photos, so one data seed; "
                                f"{config.out_dir} has data_seed {config.data_seed}, the bank {seed}")
    try:
        places = [(pick_device(c.device), c.precision) for c in configs]
        places = [(d, pick_precision(d, None if p == "auto" else p, training=True)) for d, p in places]
    except ValueError as error:
        raise TrainingError(str(error)) from None
    device, dtype = places[0]
    if any(place != places[0] for place in places):
        listed = ", ".join(f"{d.type} {precision_name(t)}" for d, t in places)
        raise TrainingError(f"the networks of a bank train in one process, on one device in one precision; they "
                            f"differ in device or precision ({listed})")

    data = load_data(configs[0])
    for config in configs:
        if config.val_images is not None and config.val_images != data.val_count:
            raise TrainingError(f"the networks of a bank share one stream of photos and one process; they differ in "
                                f"val_images ({config.out_dir}: {config.val_images}, the bank {data.val_count})")
    nets, styles, teachers, resolved = [], [], [], []
    for config, checkpoint in zip(configs, checkpoints):
        torch.manual_seed(config.seed)
        net = TransformerNet.from_config(config.network_config())
        init_path, config = _start_from_init(net, config, resumed=checkpoint is not None)
        try:
            check_trainable_batch(net, config.batch_size)
        except ValueError as error:
            without = ", ".join(name for name in attention_names() if not needs_batch_statistics(name))
            raise TrainingError(f"{error} (or use norm instance with attention {without})") from None
        style, style_size = load_style(config)
        teacher_path, teacher = _load_trained_model("teacher", config.teacher)
        config = resolve_config(config, data, device, style_size=style_size, teacher=teacher_path)
        config.device, config.init, config.precision = device.type, init_path, precision_name(dtype)
        if config.data_order_seed() != seed:
            config.data_seed = seed
        resolve_speed_options(config, device, 1)
        nets.append(net)
        styles.append(style)
        teachers.append(teacher)
        resolved.append(config)
    for option in SHARED_OPTIONS:
        problem = _differing(resolved, option)
        if problem is not None:
            raise TrainingError(f"the networks of a bank share one stream of photos and one process; they differ in "
                                f"{problem}")
    names = [config.name for config in resolved]
    if len(set(names)) != len(names):
        raise TrainingError(f"two networks of the bank share a name: {', '.join(sorted(names))}")

    first = resolved[0]
    device_cache = options.device_cache
    if device_cache is None:
        device_cache = _device_cache_fits(data.train_set, device)
    crops = None
    if device_cache:
        crops = DeviceCrops(data.train_set, device, threads=max(1, first.workers or 1))
        cached = False
    else:
        cached = _cache_images(first, data.train_set, device)
    for config in resolved:
        config.cache_images = cached
    read_every = options.read_losses_every or (CUDA_READ_LOSSES_EVERY if device.type == "cuda" else 1)
    if bank_dir is not None:
        bank_dir = Path(bank_dir).resolve()
        write_json(bank_dir / BANK_FILE, {
            "networks": [os.path.relpath(config.out_dir, bank_dir) for config in resolved],
            "options": options.to_dict(),
            "resolved": {"device_cache": bool(device_cache), "read_losses_every": read_every}})
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions
    memory_format = torch.channels_last if first.channels_last else torch.contiguous_format
    loss = BankLoss(styles, resolved).to(device, memory_format=memory_format)
    if first.compile:
        import torch._dynamo as dynamo
        # One compiled graph per network instance at most (networks of one architecture share theirs).
        dynamo.config.cache_size_limit = max(dynamo.config.cache_size_limit, 2 * len(resolved) + 8)
        loss.vgg = torch.compile(loss.vgg, **COMPILE_OPTIONS)
    fingerprint = _fingerprint(data.train_set.files, data.train_set.root)
    members = [_Member(index, config, net, teacher, checkpoint, data=data, fingerprint=fingerprint, device=device,
                       dtype=dtype, memory_format=memory_format)
               for index, (config, net, teacher, checkpoint) in enumerate(zip(resolved, nets, teachers, checkpoints))]
    # Each restore put back its own generator states: the bank goes on with those of a network at its
    # lowest step (the same states when they were checkpointed together).
    lowest = min(member.step for member in members)
    restored = [m.checkpoint for m in members if m.step == lowest and m.checkpoint is not None]
    if restored:
        restore_rng_states(restored[0])
    for member in members:
        member.checkpoint = None
    stream = PhotoStream(data.train_set, batch_size=first.batch_size, seed=seed, workers=first.workers,
                         device=device, channels_last=bool(first.channels_last), device_crops=crops)
    if crops is not None:
        for member in members:
            member.note_skipped([(str(path), problem) for path, problem in data.train_set.skipped])
    trainer = BankTrainer(members, loss, stream, data.val_images, device=device, dtype=dtype,
                          read_losses_every=read_every, data=data, bank_dir=bank_dir)
    return trainer.run(progress, stop_event)


def read_bank(bank_dir: str | os.PathLike[str]) -> tuple[list[Path], BankOptions]:
    """The run folders and options of the bank in ``bank_dir`` (its bank.json)."""
    path = Path(bank_dir) / BANK_FILE
    if not path.is_file():
        raise TrainingError(f"{bank_dir}: not a bank folder (no {BANK_FILE})")
    try:
        stored = read_json(path)
        folders = [Path(bank_dir) / name for name in stored["networks"]]
        options = BankOptions.from_dict(stored.get("options", {}))
    except (RunDirError, KeyError, TypeError) as error:
        raise TrainingError(f"{path}: {error}") from None
    return folders, options


def is_bank(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` is a bank folder (holds bank.json)."""
    return (Path(folder) / BANK_FILE).is_file()


def resume_bank(bank_dir: str | os.PathLike[str], *, steps: int | None = None,
                progress: BankProgressCallback | None = None,
                stop_event: threading.Event | None = None) -> BankResult:
    """Continue the bank in ``bank_dir`` exactly: every network from its checkpoint with its
    stored options (finished ones are written again, as a resumed finished run is);
    ``steps`` sets every network's length."""
    folders, options = read_bank(bank_dir)
    configs = []
    for folder in folders:
        config = dataclasses.replace(read_run_config(folder), out_dir=str(folder))
        if steps is not None:
            config.steps = steps
        configs.append(config)
    return train_bank(configs, options=options, resume=True, bank_dir=bank_dir, progress=progress,
                      stop_event=stop_event)
