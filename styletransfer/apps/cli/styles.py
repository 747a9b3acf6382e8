"""``styles``, ``info`` and ``publish``: what styles there are, what this machine has, and a
finished run (or, with ``--unfinished``, a stopped run's last checkpoint) into a style folder."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from styletransfer.modelfiles.catalogue import load_catalogue
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, style_dirs, user_models_dir
from styletransfer.core.resources import PACKAGE_DIR
from styletransfer.training.runfolder import CHECKPOINT_FILE, MODEL_FILE
from styletransfer.training import export_checkpoint, read_run_config
from styletransfer.apps.publish import publish_model

from styletransfer.apps.cli.common import (EXIT_FAILURES, EXIT_OK, UsageError, _error, _print_json, _writing)


def default_publish_folder() -> Path:
    """Where ``publish`` writes by default: the shipped ``styles/`` of a source checkout (how
    the starter styles are made), else the user's models folder (an installed package's own
    folder is no place for new files)."""
    installed = SHIPPED_STYLES_DIR.parent == PACKAGE_DIR
    return user_models_dir() if installed else SHIPPED_STYLES_DIR


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``styles``, ``info`` and ``publish``."""
    styles = commands.add_parser("styles", help="list the shipped and user styles")
    styles.add_argument("--json", action="store_true", help="print the styles' metadata as JSON")
    styles.set_defaults(handler=run_styles)

    info = commands.add_parser("info", help="versions, devices and precisions, style folders and styles")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(handler=run_info)

    publish = commands.add_parser("publish", help="copy a finished training run into a style folder")
    publish.add_argument("run", type=Path, metavar="RUN_DIR",
                         help="a finished run folder (with model.safetensors), or with --unfinished a stopped one")
    publish.add_argument("--name", required=True, help="the style's name (its file name in the folder)")
    publish.add_argument("--twin", help="the name of its no-SRM (or SRM) twin, for the app's SRM tab")
    publish.add_argument("-o", "--output", type=Path, default=default_publish_folder(), metavar="FOLDER",
                         help="style folder (default: %(default)s)")
    weights = publish.add_mutually_exclusive_group()
    weights.add_argument("--fp16", action="store_true", help="store the weights in fp16 (half the size)")
    weights.add_argument("--int8", action="store_true",
                         help="store the kernels in int8 with per-channel scales (a quarter of the size)")
    publish.add_argument("--unfinished", action="store_true",
                         help="a run stopped before its last step: publish its last checkpoint's network "
                              "(its metadata says the step and completed: false)")
    publish.set_defaults(handler=run_publish)


def run_styles(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    for problem in catalogue.problems:
        _error(problem)
    if args.json:
        _print_json([style.as_dict() for style in catalogue.styles])
    elif not catalogue.styles:
        print("no styles found in " + ", ".join(str(folder) for folder in style_dirs()))
    for style in [] if args.json else catalogue.styles:
        print(f"{style.name:<20} {style.title} - {style.artist or 'unknown artist'} ({style.year or 'n.d.'}), "
              f"{style.licence or 'licence unknown'} [{style.norm}/{style.attention}"
              + (f", slim, from {style.teacher}]" if style.is_slim_twin else "]"))
    return EXIT_FAILURES if catalogue.problems else EXIT_OK


def run_info(args: argparse.Namespace) -> int:
    from styletransfer.apps.cli.info import collect_info, format_info

    info = collect_info()
    if args.json:
        _print_json(info)
    else:
        print(format_info(info))
    return EXIT_OK


def run_publish(args: argparse.Namespace) -> int:
    model = args.run / MODEL_FILE
    config = read_run_config(args.run)
    unfinished = not model.is_file()
    with tempfile.TemporaryDirectory(prefix="styletransfer-publish-") as scratch:
        if unfinished:
            if not (args.run / CHECKPOINT_FILE).is_file():
                raise FileNotFoundError(f"{args.run}: nothing to publish: the run stopped before its first checkpoint "
                                        f"(no {MODEL_FILE}, no {CHECKPOINT_FILE})")
            if not args.unfinished:
                raise UsageError(f"{args.run}: the run is not finished (no {MODEL_FILE}); finish it with "
                                 f"`styletransfer resume {args.run}`, or publish its last checkpoint with --unfinished")
            model = export_checkpoint(args.run, Path(scratch) / MODEL_FILE)
        with _writing(args.output / f"{args.name}.safetensors"):
            path = publish_model(model, args.output, args.name, painting=config.style, twin=args.twin,
                                 run_dir=args.run, dtype=torch.float16 if args.fp16 else torch.int8 if args.int8 else None)
    print(f"wrote {path}" + (" (the run's last checkpoint; its metadata says completed: false)" if unfinished else ""))
    return EXIT_OK
