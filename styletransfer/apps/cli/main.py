"""Command line: ``styletransfer stylize | video | styles | info | app | train | resume | compare |
evaluate | export-onnx | compare-runs | contact-sheet | publish``.

A thin shell over the library: it parses arguments, finds input files, prints progress and
turns expected errors (:class:`~styletransfer.errors.StyleTransferError`, and the machine's
file errors) into one line and an exit code; anything else is a bug and shows its traceback:

    0    everything worked
    1    some images (or style files) failed; the others were written
    2    bad arguments, no such input, an unusable image, model file, data set or device,
         a missing optional package, a file that cannot be read or written
    3    training diverged (its losses stopped being finite numbers)
    130  interrupted (Ctrl-C)

``stylize`` reads ``-`` as one image from standard input and writes ``-o -`` as one image to
standard output (its format from ``--format``, else the input's), printing nothing else there.
``--json`` makes ``stylize``, ``styles`` and ``info`` print one JSON document instead of text.

Under ``torchrun --nproc_per_node=N`` (RANK, WORLD_SIZE and LOCAL_RANK in the environment),
``stylize`` gives process r the images r, r+N, r+2N, ... of the sorted input list, and each
process uses ``cuda:LOCAL_RANK`` when CUDA is available. The processes never talk to each other
(no process group); only rank 0 shows the progress bar and summary, every rank reports its own
failures. ``train`` and ``compare`` train on the N processes with DDP.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from styletransfer.apps.cli import app, common, evaluation, styles, stylize, training, video
from styletransfer.apps.cli.common import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_USAGE, _error)
from styletransfer.core.device import keep_freed_memory
from styletransfer.errors import StyleTransferError
from styletransfer.training.config import TrainingDivergedError

COMMAND_GROUPS = (stylize, styles, app, training, evaluation, video)
"""The modules that add commands, in the order ``--help`` lists them. Each has
``register(commands)``, which adds its sub-parsers with ``handler=run_...`` defaults; a new
command group is a module with that function, listed here."""


def build_parser(prog: str = "styletransfer") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Real-time neural style transfer.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "styletransfer") -> int:
    """Run the command line; returns the exit code (see the module docs). Expected problems
    become one line on stderr; other exceptions (bugs) propagate with their traceback."""
    common._prog = prog
    keep_freed_memory()
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exit_request:  # --help, or a usage message already printed
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except SystemExit as exit_request:  # a handler's parser.error(): its usage line is printed
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted" + ("; resume from the last checkpoint (or rerun a comparison)"
                                if args.command in ("train", "resume", "compare") else ""))
        return EXIT_INTERRUPTED
    except TrainingDivergedError as error:
        _error(f"error: {error}")
        return EXIT_DIVERGED
    except StyleTransferError as error:
        _error(f"error: {error}")
        return EXIT_USAGE
    except OSError as error:  # a file or folder the machine refuses, a full disk, ...
        where = f"{error.filename}: " if error.filename else ""
        _error(f"error: {where}{error.strerror or error}")
        return EXIT_USAGE
