"""The one base class of the problems a user can cause or fix, and the few that belong to no
other module.

Every expected problem (a bad image, model file, data set, option, run folder, device) raises a
subclass of :class:`StyleTransferError` whose message is one line naming the file or option and
the problem. The shells turn these into one line and an exit code (the CLI: 2; a diverged
training, ``TrainingDivergedError``: 3) or a message in the page; anything else is a bug and
surfaces as one.

The subclasses live beside the code that raises them and keep their older base classes too
(``ImageError`` is still a ``ValueError``), so callers that caught those keep working:

    ImageError, ImageTooLargeError   styletransfer.core.images
    ModelFileError                   styletransfer.modelfiles.format
    DeviceError                      styletransfer.core.device
    DatasetError                     styletransfer.training.data
    CheckpointError                  styletransfer.training.checkpoint
    RunDirError                      styletransfer.training.runfolder
    TrainingError                    styletransfer.training.trainer (also styletransfer.training)
    TrainingDivergedError            styletransfer.training.trainer (a TrainingError)
    UsageError                       styletransfer.apps.cli.main
    TrainingBusyError                styletransfer.apps.jobs
"""
from __future__ import annotations


class StyleTransferError(Exception):
    """An expected problem with the user's input, files, options or machine (not a bug); the
    message is one line that names what is wrong."""


class MissingDependencyError(StyleTransferError, ImportError):
    """An optional package that a feature needs is not installed; the message gives the pip
    command that installs it."""

    def __init__(self, feature: str, module: str, install: str):
        super().__init__(f"{feature} needs the optional package {module}: pip install {install}")
        self.feature = feature
        self.module = module
        self.install = install
