"""What the command modules share: the exit codes, the usage error, argument types, one-line
error output and the write guard."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from styletransfer.errors import MissingDependencyError, StyleTransferError



Item = TypeVar("Item")


class UsageError(StyleTransferError, ValueError):
    """A problem with the command line itself (reported as one line, exit code 2)."""


EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


STDIO = "-"
"""The name of standard input (as an INPUT) and standard output (as ``-o``)."""


def _strength(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _momentum(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, not {text}")
    return value


_prog = "styletransfer"


def _error(message: str) -> None:
    tqdm.write(f"{_prog}: {message}", file=sys.stderr)


def note_emulated_precision(device_name: str | None, precision: str | None) -> None:
    """One line on standard error when ``--precision`` names a precision that ``--device`` only
    emulates (bf16 or fp16 on most CPUs: many times slower than fp32); nothing otherwise."""
    if precision in (None, "auto"):
        return
    from styletransfer.core.device import PRECISIONS, emulated_precision, pick_device

    device = pick_device(device_name)
    if emulated_precision(device, PRECISIONS[precision]):
        _error(f"note: this CPU has no native {precision} arithmetic, so --precision {precision} is emulated and "
               f"many times slower than fp32; leave --precision out for the fastest")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Report a failed write as a failure to write ``path``, the file the user asked for: the
    library writes through a hidden temporary file beside it, which the error would name."""
    try:
        yield
    except OSError as error:
        named = Path(error.filename) if isinstance(error.filename, (str, os.PathLike)) else None
        if named is not None and not (named.parent == path.parent and named.name.startswith(".")):
            raise  # about another file (an input, a folder): its own name is the right one
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error


def _require(module: str, feature: str, install: str) -> None:
    """Raise MissingDependencyError when the optional ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(feature, module, install) from None


def margin_option(text: str | None) -> int | None:
    """``--margin`` (stylize, video) as pixels, None when not given; UsageError (one line, exit 2)
    unless a whole number in 0..:data:`~styletransfer.inference.margin.MAX_BORDER_MARGIN`."""
    if text is None:
        return None
    from styletransfer.inference.margin import check_margin  # torch: only once the option is given

    try:
        return check_margin(text)
    except ValueError as error:
        raise UsageError(f"--{error}") from None
