"""One base class for every problem a user can cause or fix: each error keeps the base class
it had (callers that caught ValueError still do) and is a StyleTransferError, which the shells
turn into one line (the CLI: exit 2, a diverged training 3); other exceptions are bugs."""
from __future__ import annotations

import pytest

from styletransfer.apps.cli.common import UsageError
from styletransfer.apps.jobs import TrainingBusyError
from styletransfer.training.checkpoint import CheckpointError
from styletransfer.training.data import DatasetError
from styletransfer.core.device import DeviceError, pick_device, pick_precision
from styletransfer.errors import MissingDependencyError, StyleTransferError
from styletransfer.core.images import ImageError, ImageTooLargeError
from styletransfer.modelfiles.format import ModelFileError
from styletransfer.training.runfolder import RunDirError
from styletransfer.training.trainer import TrainingDivergedError
from styletransfer.training import TrainingError


@pytest.mark.parametrize("error_class, older_base", [
    (ImageError, ValueError), (ImageTooLargeError, ImageError), (ModelFileError, ValueError),
    (DatasetError, ValueError), (TrainingError, ValueError), (CheckpointError, ValueError),
    (RunDirError, ValueError), (DeviceError, ValueError), (UsageError, ValueError),
    (TrainingBusyError, RuntimeError), (MissingDependencyError, ImportError),
])
def test_every_expected_error_is_a_style_transfer_error(error_class: type, older_base: type) -> None:
    assert issubclass(error_class, StyleTransferError) and issubclass(error_class, older_base)


def test_divergence_has_its_own_class() -> None:
    """The CLI gives it its own exit code (3), not the usage one (see test_train_commands)."""
    assert issubclass(TrainingDivergedError, TrainingError) and issubclass(TrainingDivergedError, StyleTransferError)


def test_device_problems_are_device_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        pick_device("tpu")
    with pytest.raises(DeviceError, match="unknown precision 'fp8'"):
        pick_precision(pick_device("cpu"), "fp8")


def test_missing_dependency_names_the_pip_command() -> None:
    error = MissingDependencyError("export-onnx", "onnx", "'styletransfer[onnx]'")
    assert str(error) == "export-onnx needs the optional package onnx: pip install 'styletransfer[onnx]'"
    assert (error.feature, error.module) == ("export-onnx", "onnx")
