"""The work behind the web app's buttons (:mod:`styletransfer.apps.web.app`), kept free of any UI
code so it can be tested on its own: one stylization of an uploaded photo with its timing and
files, loss curves of runs, and a manager that runs one training job at a time in a thread.
The styles come from :mod:`styletransfer.modelfiles.catalogue`.
"""
from __future__ import annotations

import atexit
import dataclasses
import hashlib
import logging
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from styletransfer.inference.blend import StyleMix
from styletransfer.modelfiles.catalogue import Catalogue, Style, load_catalogue
from styletransfer.core.device import pick_precision, precision_name
from styletransfer.errors import StyleTransferError
from styletransfer.core.images import ImageError, ImageTooLargeError, open_image, resize_longest, save_image_atomic
from styletransfer.inference.live import LiveStylizer
from styletransfer.modelfiles.catalogue import find_model_files, style_dirs, user_models_dir
from styletransfer.modelfiles.format import ModelFileError, read_header
from styletransfer.models.transformer import VARIANTS
from styletransfer.evaluation.plots import plot_comparison
from styletransfer.training.runfolder import METRICS_FILE, PREVIEWS_DIR
from styletransfer.inference.stylize import stylize
from styletransfer.training import TrainingConfig, TrainingError, train
from styletransfer.training.estimate import TrainingRate, measure_training_rate
from styletransfer.apps.publish import publish_model

APP_MAX_PIXELS = 50_000_000
"""Largest upload the app decodes: 50 megapixels (e.g. 8660x5773)."""
MAX_OUTPUT_SIZE = 4096
"""Largest output (longest side, pixels) the app offers."""
LOSS_SERIES = ("content", "style", "total")
"""The loss terms the training status line shows."""

logger = logging.getLogger("styletransfer.apps")
"""Where a training job's failure is logged in full (the status line keeps one line for the UI)."""


def default_output_size(device: torch.device) -> int:
    """An output size (longest side, pixels) that stylizes in about a second on ``device``."""
    return 1024 if device.type in ("cuda", "mps") else 512


def plot_runs(runs: Sequence[tuple[str, Path | None]], out_dir: Path) -> Path | None:
    """Content, style and total loss curves of ``(label, run folder)`` runs side by side
    (:func:`~styletransfer.evaluation.plots.plot_comparison`), as a PNG in ``out_dir``; None when no run
    has logged a step yet. The PNG is named after the runs' metrics files and their current
    sizes and times, so an unchanged plot is drawn once and then reused."""
    logged = [(label, run_dir) for label, run_dir in runs
              if run_dir is not None and (run_dir / METRICS_FILE).is_file()]
    if not logged:
        return None
    key = "|".join(f"{label}:{run_dir.resolve()}:{(run_dir / METRICS_FILE).stat().st_mtime_ns}:"
                   f"{(run_dir / METRICS_FILE).stat().st_size}" for label, run_dir in logged)
    out_png = out_dir / f"curves-{hashlib.sha1(key.encode()).hexdigest()[:16]}.png"
    if not out_png.is_file():
        plot_comparison([run_dir for _, run_dir in logged], out_png, [label for label, _ in logged])
    return out_png


# ---------------------------------------------------------------------------------------------
# Stylizing one upload
# ---------------------------------------------------------------------------------------------

@dataclass
class StylizeResult:
    original: Path
    """The input at the output size, as a JPEG for display (original-vs-stylized slider)."""
    stylized: Path
    """The result as a JPEG for display."""
    png: Path
    """The result as a lossless PNG for download."""
    size: tuple[int, int]
    seconds: float
    device: torch.device
    precision: str

    def summary(self) -> str:
        width, height = self.size
        return (f"{width}×{height} px in {self.seconds:.2f} s on {self.device.type.upper()} "
                f"({self.precision})")


RESULT_LIFETIME_S = 3600
"""Result folders older than this are deleted when a new result is written."""


def prune_results(out_dir: Path, max_age_s: float = RESULT_LIFETIME_S) -> None:
    """Delete the result folders in ``out_dir`` older than ``max_age_s`` seconds."""
    cutoff = time.time() - max_age_s
    for folder in out_dir.glob("result-*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # pruned by a concurrent call
            continue


def open_upload(path: str | Path, shown_name: str | None = None) -> Image.Image:
    """Open an uploaded photo; problems raise ImageError naming ``shown_name`` (the name the
    user gave the file) instead of the server's temporary path."""
    try:
        return open_image(path, max_pixels=APP_MAX_PIXELS)
    except ImageTooLargeError as error:
        raise ImageError(shown_name, f"{error.problem}; please upload a smaller image") from None
    except ImageError as error:
        raise ImageError(shown_name, error.problem) from None


def check_model_upload(path: str | Path, shown_name: str | None = None) -> dict[str, Any]:
    """The metadata of an uploaded model file (weights are checked when it is first used).

    Raises:
        ModelFileError: naming ``shown_name``.
    """
    try:
        return read_header(path)[1]
    except ModelFileError as error:
        raise ModelFileError(shown_name or Path(path).name, error.problem) from None


def stylize_photo(model: str | Path | StyleMix, image: Image.Image, *, strength: float, preserve_color: bool,
                  max_size: int, device: torch.device, out_dir: Path, stroke_scale: float = 1.0) -> StylizeResult:
    """Stylize ``image`` with ``model`` (a style name or model file path, or a blend of styles) at ``max_size``
    (longest side); write the result (PNG, and a JPEG for display) and the resized input
    (JPEG) into a new folder in ``out_dir``. Every file is written atomically under a name of
    its own, so simultaneous requests never share a file. ``stroke_scale``: the brush-stroke
    size, as :func:`~styletransfer.inference.stylize.stylize` takes it.

    Raises:
        ModelFileError: the model cannot be loaded (weights that do not fit, ...).
        ValueError: a bad strength, size or stroke scale.
    """
    if not 16 <= max_size <= MAX_OUTPUT_SIZE:
        raise ValueError(f"the output size must be between 16 and {MAX_OUTPUT_SIZE} px, not {max_size}")
    start = time.perf_counter()
    stylized = stylize(model, image, strength=strength, preserve_color=preserve_color, max_size=max_size,
                       device=device, stroke_scale=stroke_scale)
    seconds = time.perf_counter() - start
    prune_results(out_dir)
    folder = out_dir / f"result-{uuid.uuid4().hex[:12]}"
    png = save_image_atomic(stylized, folder / "stylized.png")
    shown = save_image_atomic(stylized, folder / "stylized.jpg", quality=92)
    original = save_image_atomic(resize_longest(image, max_size), folder / "original.jpg", quality=92)
    return StylizeResult(original, shown, png, stylized.size, seconds, device, precision_name(pick_precision(device)))


# ---------------------------------------------------------------------------------------------
# The webcam
# ---------------------------------------------------------------------------------------------

def live_style(catalogue: Catalogue, name: str | None, device: torch.device) -> Style:
    """The model the webcam runs for style ``name``: on the CPU its slim twin ``<name>_slim``
    when one is installed, else the style itself.

    Raises:
        ValueError: no style chosen, or no style of that name.
    """
    if not name:
        raise ValueError("Pick a style for the webcam.")
    entry = catalogue.get(name)
    if entry is None:
        raise ValueError(f"There is no style named {name!r} (any more).")
    slim = catalogue.get(f"{name}_slim") if device.type == "cpu" else None
    return slim or entry


def stylize_live_frame(frame: np.ndarray, style: str | None, stylizer: LiveStylizer | None,
                       device: torch.device) -> tuple[np.ndarray, str, LiveStylizer]:
    """One frame of the webcam stream: the stylized frame, a line with the model and the frame
    rate, and the session's :class:`~styletransfer.inference.live.LiveStylizer` (created on the first
    frame; pass it back with the next).

    Raises:
        ValueError: no such style, or a frame that is not an RGB image.
        ModelFileError: the style's model cannot be loaded.
    """
    stylizer = stylizer or LiveStylizer(device)
    entry = live_style(load_catalogue(), style, device)
    result = stylizer(frame, entry.path)
    return result.image, f"**{entry.caption}** · {result.summary()}", stylizer


# ---------------------------------------------------------------------------------------------
# Training jobs
# ---------------------------------------------------------------------------------------------

class TrainingBusyError(StyleTransferError, RuntimeError):
    """A training job is already running."""


TRAINABLE_VARIANTS = ("bn+srm", "bn")
"""The variants the app trains: with SRM, and its plain BatchNorm twin."""
TRAIN_BATCH_SIZE = 2
"""Small batches: the bundled examples are only 4 photos (one is held out for previews)."""
OBSERVED_RATE_AFTER = 3
"""A job's own images/s replaces the measured training rate from this step on (the first steps
carry start-up costs)."""


@dataclass(frozen=True)
class TrainingRequest:
    painting: Path
    title: str
    artist: str = ""
    steps: int = 200
    image_size: int = 256
    variants: tuple[str, ...] = ("bn+srm",)


@dataclass
class TrainingStatus:
    """A snapshot of the training manager (copied out under its lock)."""

    state: str = "idle"
    """"idle", "running", "stopping", "finished", "cancelled" or "failed"."""
    message: str = "No training has run since the app started."
    step: int = 0
    total_steps: int = 0
    variant: str | None = None
    runs: list[tuple[str, Path]] = field(default_factory=list)
    """(variant, run folder) of the job's runs so far."""
    models: list[str] = field(default_factory=list)
    """Names of the models the job saved."""

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")

    def latest_preview(self) -> Path | None:
        """The newest preview image of the job's current (or last) run."""
        if not self.runs:
            return None
        previews = sorted((self.runs[-1][1] / PREVIEWS_DIR).glob("step_*.jpg"))
        return previews[-1] if previews else None


def slug(text: str) -> str:
    """A model name from a title: lower case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "style"


class TrainingManager:
    """Runs at most one training job at a time, in a background thread.

    A job trains each requested variant in turn on the photos of ``images_dir`` into
    ``models_dir/runs/<model name>/`` (the layout of the shipped ``styles/runs/``); each finished model is saved into ``models_dir`` (default
    :func:`user_models_dir`) with the painting beside it, where the style catalogue finds it.
    When both variants are trained, the BN one is named ``<name>_bn`` and the two name each
    other as twins.
    """

    def __init__(self, images_dir: Path, *, models_dir: Path | None = None):
        self.images_dir = Path(images_dir)
        self.models_dir = Path(models_dir) if models_dir is not None else user_models_dir()
        self.runs_dir = self.models_dir / "runs"
        self._lock = threading.Lock()
        self._status = TrainingStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rates: dict[tuple[int, str], TrainingRate] = {}
        self._measuring = threading.Lock()  # one measurement at a time

    def training_rate(self, image_size: int, variant: str, device: torch.device) -> TrainingRate | None:
        """How fast ``variant`` trains at ``image_size`` px with the app's batch on ``device``:
        the rate a job of this manager observed, else one measured now (a few steps, seconds on a
        CPU; :func:`~styletransfer.training.estimate.measure_training_rate`), kept for next time.
        None while a job runs and nothing is known yet: a measurement would share the machine with
        it and mislead."""
        if variant not in TRAINABLE_VARIANTS:
            raise TrainingError(f"unknown variant {variant!r}; expected one of {', '.join(TRAINABLE_VARIANTS)}")
        key = (int(image_size), variant)
        with self._measuring:
            with self._lock:
                known, busy = self._rates.get(key), self._status.active
            if known is not None or busy:
                return known
            norm, attention = VARIANTS[variant]
            rate = measure_training_rate(device, image_size=key[0], batch_size=TRAIN_BATCH_SIZE, norm=norm,
                                         attention=attention)
            with self._lock:
                return self._rates.setdefault(key, rate)

    def status(self) -> TrainingStatus:
        with self._lock:
            return dataclasses.replace(self._status, runs=list(self._status.runs), models=list(self._status.models))

    def _update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._status, key, value)

    def _free_name(self, title: str, variants: Sequence[str]) -> str:
        """A model name not yet taken in any style folder (nor its ``_bn`` twin's name)."""
        taken = set(find_model_files([*style_dirs(), self.models_dir]))
        taken |= {path.name for path in self.runs_dir.glob("*")} if self.runs_dir.is_dir() else set()
        base, number = slug(title), 1
        name = base
        while name in taken or (len(variants) > 1 and f"{name}_bn" in taken):
            number += 1
            name = f"{base}_{number}"
        return name

    def start(self, request: TrainingRequest) -> str:
        """Check the request and start training it; returns the new model's name.

        Raises:
            TrainingBusyError: a job is running (wait for it, or cancel it).
            TrainingError: a bad request (no variant, unreadable painting, too few photos, ...).
        """
        unknown = [variant for variant in request.variants if variant not in TRAINABLE_VARIANTS]
        if unknown or not request.variants:
            raise TrainingError(f"choose at least one variant of {', '.join(TRAINABLE_VARIANTS)}")
        try:
            open_image(request.painting, max_pixels=APP_MAX_PIXELS)
        except ImageError as error:
            raise TrainingError(f"the painting cannot be used: {error.problem}") from None
        with self._lock:
            if self._status.active:
                raise TrainingBusyError(f"a training job is already running ({self._status.message}); "
                                        "wait for it to finish or cancel it")
            name = self._free_name(request.title, request.variants)
            self._stop.clear()
            self._status = TrainingStatus(state="running", message=f"Starting to train {name}…",
                                          total_steps=request.steps)
            self._thread = threading.Thread(target=self._run, args=(request, name), name=f"train-{name}",
                                            daemon=True)
            self._thread.start()
        return name

    def cancel(self) -> bool:
        """Ask the running job to stop after its current step (it writes a checkpoint first).
        Returns False when no job is running."""
        with self._lock:
            if not self._status.active:
                return False
            self._status.state = "stopping"
            self._status.message = f"Stopping {self._status.message}…"
            self._stop.set()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job's thread to end; True when no job is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.status().active

    def _run(self, request: TrainingRequest, name: str) -> None:
        """The job's thread: train, and turn any failure into the "failed" state. A bad input or
        a full disk is logged as one line; anything else is a bug, logged with its traceback
        (the status line, all the UI shows, cannot hold one)."""
        try:
            self._train_all(request, name)
        except (StyleTransferError, OSError) as error:
            logger.warning("training job %s failed: %s", name, error)
            self._update(state="failed", message=f"Training failed: {error}")
        except Exception as error:  # a bug must not kill the app; the state tells the user
            logger.exception("training job %s failed unexpectedly", name)
            self._update(state="failed", message=f"Training failed unexpectedly: {type(error).__name__}: {error}")

    def _model_name(self, name: str, variant: str, variants: Sequence[str]) -> str:
        return f"{name}_bn" if variant == "bn" and len(variants) > 1 else name

    def _train_all(self, request: TrainingRequest, name: str) -> None:
        steps = request.steps
        every = max(1, steps // 10)
        for variant in request.variants:
            norm, attention = VARIANTS[variant]
            model_name = self._model_name(name, variant, request.variants)
            run_dir = self.runs_dir / model_name
            config = TrainingConfig(
                style=str(request.painting), out_dir=str(run_dir), images=str(self.images_dir), norm=norm,
                attention=attention, steps=steps, image_size=request.image_size, batch_size=TRAIN_BATCH_SIZE,
                workers=0, val_images=1, checkpoint_every=every, val_every=every, preview_every=every,
                name=model_name, title=request.title, artist=request.artist or None)
            with self._lock:
                self._status.runs.append((variant, run_dir))
                self._status.variant = variant
                self._status.step = 0
            self._update(message=f"Training {model_name} ({variant}): starting")

            def progress(update: Any, label: str = f"{model_name} ({variant})", variant: str = variant) -> None:
                losses = ", ".join(f"{term} {update.losses[term]:.3g}" for term in LOSS_SERIES
                                   if term in update.losses)
                with self._lock:
                    if update.step >= OBSERVED_RATE_AFTER and update.images_per_second > 0:
                        self._rates[(request.image_size, variant)] = TrainingRate(
                            request.image_size, TRAIN_BATCH_SIZE, TRAIN_BATCH_SIZE / update.images_per_second,
                            "observed")
                    self._status.step = update.step
                    if self._status.state == "running":
                        self._status.message = (f"Training {label}: step {update.step} of {update.total_steps}"
                                                f" · {update.images_per_second:.1f} images/s · {losses}")

            result = train(config, progress=progress, stop_event=self._stop)
            if not result.completed:
                self._update(state="cancelled",
                             message=f"Cancelled {model_name} ({variant}) at step {result.step} of "
                                     f"{result.total_steps}; its checkpoint is kept in {result.checkpoint_path}")
                return
            self._save(result.model_path, model_name, variant, request, name)
        models = self.status().models
        self._update(state="finished", message=f"Finished: {', '.join(models)} saved in {self.models_dir}; "
                                               "pick it in the Stylize tab")

    def _save(self, model_path: Path, model_name: str, variant: str, request: TrainingRequest, name: str) -> None:
        """Publish a finished model into the models folder with the painting (its run folder
        is already there, in ``runs/``)."""
        twin = None
        if len(request.variants) > 1:
            twin = self._model_name(name, "bn" if variant == "bn+srm" else "bn+srm", request.variants)
        publish_model(model_path, self.models_dir, model_name, painting=request.painting, twin=twin)
        with self._lock:
            self._status.models.append(model_name)


def new_output_dir() -> Path:
    """A private temporary folder for the app's result files, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="styletransfer-app-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
