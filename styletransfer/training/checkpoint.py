"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a dict of tensors, dicts, lists, strings and numbers only, so it loads with
``torch.load(weights_only=True)`` (no unpickling of arbitrary objects)::

    format_version  1
    step            optimizer steps done
    epoch, position the data order position: the next batch is batch ``position`` of epoch
                    ``epoch``'s order (see styletransfer.training.epoch_order)
    data_files, data_fingerprint   the number of training files and a CRC32 of their names,
                    to refuse resuming on a changed data set
    model           the network's state_dict (weights and BatchNorm statistics)
    optimizer       the Adam state_dict
    grad_scaler     the fp16 GradScaler state_dict ({} when not used)
    torch_rng       torch's CPU generator state (a uint8 tensor)
    cuda_rng        the CUDA generators' states (a list of uint8 tensors; [] without CUDA)
    wall_time       seconds of training so far (for images/s across resumes)
    skipped         [[path, problem], ...] unusable files met so far

It is written to a temporary file and renamed, so a crash (even ``kill -9``) leaves either
the previous checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from styletransfer.errors import StyleTransferError
from styletransfer.training.runfolder import write_atomic

CHECKPOINT_VERSION = 1

REQUIRED_KEYS = ("format_version", "step", "epoch", "position", "data_files", "data_fingerprint",
                 "model", "optimizer", "grad_scaler", "torch_rng", "cuda_rng", "wall_time", "skipped")


class CheckpointError(StyleTransferError, ValueError):
    """A checkpoint that cannot be used; the message is ``"{path}: {problem}"``."""


def rng_states() -> dict[str, Any]:
    """torch's random generator states: ``torch_rng`` and ``cuda_rng`` entries."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return {"torch_rng": torch.get_rng_state(), "cuda_rng": cuda}


def restore_rng_states(checkpoint: dict[str, Any]) -> None:
    """Put back the generator states saved by :func:`rng_states`."""
    torch.set_rng_state(checkpoint["torch_rng"])
    if checkpoint["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (the keys listed in the module docstring, less
    ``format_version``, which is added)."""
    buffer = io.BytesIO()
    torch.save({"format_version": CHECKPOINT_VERSION, **state}, buffer)
    return write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU, refusing anything but plain tensors and containers.

    Raises:
        CheckpointError: missing, unreadable, not a checkpoint of this version.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot read the checkpoint ({first_line})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: not a version {CHECKPOINT_VERSION} training checkpoint")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint lacks {', '.join(missing)}")
    return checkpoint
