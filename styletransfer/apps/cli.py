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
import contextlib
import glob
import importlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..blend import BLEND_MODES, parse_style
from ..catalogue import load_catalogue
from ..contact_sheet import make_contact_sheet
from ..device import DEVICE_NAMES, PRECISIONS, keep_freed_memory, pick_device, pick_precision, precision_name
from ..errors import MissingDependencyError, StyleTransferError
from ..images import (DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, SAVE_SUFFIXES, ImageError, ImageTooLargeError,
                      encode_image, open_image, save_image_atomic)
from ..io import write_atomic
from ..modelfile import SHIPPED_STYLES_DIR, style_dirs, user_models_dir
from ..resources import PACKAGE_DIR
from ..training.distributed import torchrun_environment
from ..training.runfolder import MODEL_FILE
from ..stylize import TILE_STATISTICS, export_onnx, prepare_model, receptive_field, split_axis, stylize, tile_context
from ..training.trainer import TrainingDivergedError
from ..training import read_run_config
from .publish import publish_model
from .train_commands import add_compare_command, add_resume_command, add_train_command

"""File types picked up from folders (files named explicitly are tried whatever their name)."""

OUTPUT_FORMATS = ("png", "jpg", "webp")
DEFAULT_NAME_TEMPLATE = "{stem}_{style}.{ext}"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
STDIO = "-"
"""The name of standard input (as an INPUT) and standard output (as ``-o``)."""

Item = TypeVar("Item")


class UsageError(StyleTransferError, ValueError):
    """A problem with the command line itself (reported as one line, exit code 2)."""


def collect_inputs(inputs: Sequence[str], recursive: bool = False) -> list[tuple[Path, Path]]:
    """Expand files, folders and glob patterns into a sorted list of image files.

    Folders give their image files (by suffix; hidden files skipped), with ``recursive`` those
    of sub-folders too. Patterns are expanded here as well, for shells that do not (``**``
    matches sub-folders when ``recursive``).

    Returns:
        Sorted, without duplicates: ``(file, relative)`` pairs, where ``relative`` is the
        file's path under the folder it was found in (its name alone for files given
        directly or matched by a pattern), which output names keep.

    Raises:
        FileNotFoundError: an input that is neither a file, a folder, nor a pattern matching
            anything.
    """
    found: dict[Path, Path] = {}
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            walk = path.rglob("*") if recursive else path.glob("*")
            for file in walk:
                relative = file.relative_to(path)
                if (file.suffix.lower() in IMAGE_SUFFIXES and file.is_file()
                        and not any(part.startswith(".") for part in relative.parts)):
                    found.setdefault(file, relative)
        elif path.is_file():
            found.setdefault(path, Path(path.name))
        elif glob.has_magic(text):
            matches = [Path(match) for match in glob.glob(text, recursive=recursive)]
            files = [match for match in matches if match.is_file()]
            if not files:
                raise FileNotFoundError(f"{text}: no files match this pattern")
            for file in files:
                found.setdefault(file, Path(file.name))
        else:
            raise FileNotFoundError(f"{text}: no such file or folder")
    return sorted(found.items())


def share_of_process(items: Sequence[Item], rank: int, world_size: int) -> list[Item]:
    """Process ``rank``'s share of ``items`` among ``world_size`` processes: items
    rank, rank + world_size, ... (every item goes to exactly one process)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of {world_size} processes")
    return list(items[rank::world_size])


def process_rank(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process (see
    :func:`~styletransfer.training.distributed.torchrun_environment`)."""
    return torchrun_environment(environ)


def output_format(relative: Path, image_format: str | None) -> str:
    """The format an output is written in: ``image_format`` (png, jpg, webp) when given, else
    the input's suffix when it is a format we write (jpeg kept as jpeg), else png."""
    ext = image_format or relative.suffix.lower().lstrip(".")
    return ext if ext in ("png", "jpg", "jpeg", "webp") else "png"


def output_path(outdir: Path, relative: Path, template: str, style: str, image_format: str | None) -> Path:
    """Where the stylized ``relative`` goes: ``outdir / relative's folder / template``, its
    extension from :func:`output_format`."""
    ext = output_format(relative, image_format)
    return outdir / relative.parent / template.format(stem=relative.stem, style=style, ext=ext)


def check_tile_pixels(net: torch.nn.Module, tile_pixels: int) -> None:
    """Raise UsageError for a ``--tile-pixels`` too small to tile an image with ``net``."""
    side = math.isqrt(tile_pixels)
    _, stride = receptive_field(net)
    try:
        split_axis(side + 1, side, tile_context(net), stride)
    except ValueError as error:
        raise UsageError(f"--tile-pixels {tile_pixels}: {error}") from None


def check_template(template: str) -> None:
    """Raise UsageError for a ``--name-template`` that cannot name files."""
    try:
        name = template.format(stem="photo", style="style", ext="png")
    except KeyError as error:
        raise UsageError(f"--name-template {template!r}: unknown field {{{error.args[0]}}}; "
                         "use {stem}, {style} and {ext}") from None
    except (IndexError, ValueError) as error:
        raise UsageError(f"--name-template {template!r}: {error}; use {{stem}}, {{style}} "
                         "and {ext}") from None
    if "/" in name or os.sep in name or name in ("", ".", ".."):
        raise UsageError(f"--name-template {template!r} must give a file name, not a path")


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


def default_publish_folder() -> Path:
    """Where ``publish`` writes by default: the shipped ``styles/`` of a source checkout (how
    the starter styles are made), else the user's models folder (an installed package's own
    folder is no place for new files)."""
    installed = SHIPPED_STYLES_DIR.parent == PACKAGE_DIR
    return user_models_dir() if installed else SHIPPED_STYLES_DIR


def add_app_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The web app's options (``styletransfer app`` and ``python app.py`` take the same ones)."""
    host = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    parser.add_argument("--host", default=host,
                        help="address to listen on; 0.0.0.0: every interface (default: $GRADIO_SERVER_NAME, "
                             "else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help="default: $GRADIO_SERVER_PORT, else 7860")
    parser.add_argument("--share", type=str.lower, nargs="?", const="true", choices=("true", "false"),
                        default="false", help="also open a public gradio.live link (needs the internet): "
                                              "--share, or --share true")
    parser.add_argument("--train-images", type=Path, default=None, metavar="DIR",
                        help="folder of training photos for the Train tab (default: "
                             "$STYLETRANSFER_TRAIN_IMAGES, else the example photos)")
    return parser


def build_parser(prog: str = "styletransfer") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Real-time neural style transfer.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("stylize", help="stylize images, files, folders or glob patterns",
                              description="Stylize images into OUTDIR; existing outputs are skipped. "
                                          "'-' as the INPUT reads one image from standard input; '-o -' "
                                          "writes one image to standard output.")
    run.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder, glob pattern, or -")
    run.add_argument("--style", required=True, metavar="NAME[:W,NAME:W...]",
                     help="style name (see 'styletransfer styles') or model file; several with weights blend "
                          "them, e.g. starry_night:0.6,the_scream:0.4")
    run.add_argument("--blend", choices=BLEND_MODES, default="output",
                     help="how blended styles mix: the weighted mean of their outputs, or of their weights "
                          "(only for styles fine-tuned from one network) (default: %(default)s)")
    run.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder, or - (standard output)")
    run.add_argument("--recursive", action="store_true", help="descend into sub-folders (kept in OUTDIR)")
    run.add_argument("--name-template", default=DEFAULT_NAME_TEMPLATE,
                     help="output file name from {stem}, {style}, {ext} (default: %(default)s)")
    run.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: the input's, else png)")
    run.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality 1..100 (default: 95)")
    run.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--max-size", type=_positive_int, metavar="PX", help="shrink the longer side to PX first")
    size.add_argument("--scale", type=_positive_float, metavar="F", help="resize by factor F first")
    run.add_argument("--strength", type=_strength, default=1.0, help="0..1 blend with the original (default: 1)")
    run.add_argument("--preserve-color", action="store_true", help="keep the original colors")
    run.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    run.add_argument("--precision", choices=tuple(PRECISIONS), help="default: the fastest safe one for the device")
    run.add_argument("--tile-pixels", type=_positive_int, metavar="N",
                     help="largest area stylized in one pass; larger images are tiled "
                          "(default: 1024x1024 on CPU, 2048x2048 on CUDA)")
    run.add_argument("--tile-statistics", choices=TILE_STATISTICS, default="tile",
                     help="on tiled images, SRM statistics per tile (fast) or of the whole image (measured "
                          "first; the result then equals the untiled one; slower) (default: %(default)s)")
    run.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"refuse larger images (decompression-bomb guard; default: {DEFAULT_MAX_PIXELS})")
    run.add_argument("--json", action="store_true", help="print a JSON summary (each input and its result)")
    run.set_defaults(handler=run_stylize)

    styles = commands.add_parser("styles", help="list the shipped and user styles")
    styles.add_argument("--json", action="store_true", help="print the styles' metadata as JSON")
    styles.set_defaults(handler=run_styles)

    info = commands.add_parser("info", help="versions, devices and precisions, style folders and styles")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(handler=run_info)

    app = commands.add_parser("app", help="start the web app (Gradio)",
                              description="Serve the web app: stylize, compare SRM, train new styles.")
    add_app_options(app)
    app.set_defaults(handler=run_app)

    add_train_command(commands)
    add_resume_command(commands)
    add_compare_command(commands)

    onnx = commands.add_parser("export-onnx", help="export a style network to ONNX (needs the onnx package)")
    onnx.add_argument("--style", required=True, help="style name or model file")
    onnx.add_argument("output", type=Path, help="the .onnx file to write")
    onnx.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default: 17)")
    onnx.set_defaults(handler=run_export_onnx)

    compare = commands.add_parser("compare-runs", help="plot and tabulate training runs side by side, "
                                                       "pooling the seeds of each variant")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    compare.add_argument("-o", "--output", type=Path, default=Path("comparison.png"),
                         help="plot file; a .md and a .csv table go beside it (default: %(default)s)")
    compare.add_argument("--labels", nargs="+", help="one label per run; runs with the same label are pooled as "
                                                     "seeds (default: each run's variant, bn, bn+srm, ...)")
    compare.add_argument("--baseline", metavar="LABEL",
                         help="the label the differences are measured against (default: the first)")
    compare.add_argument("--at-step", type=_positive_int, metavar="STEP",
                         help="compare the losses at this step (default: the last step every run reached)")
    compare.set_defaults(handler=run_compare_runs)

    sheet = commands.add_parser("contact-sheet", help="the same photos through several styles, in one image")
    sheet.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (one column each)")
    sheet.add_argument("--styles", required=True, help="comma list of style names or model files (one row each)")
    sheet.add_argument("-o", "--output", type=Path, required=True, help="the PNG/JPEG to write")
    sheet.add_argument("--sizes", default="512", metavar="PX[,PX...]",
                       help="longest sides at which each photo is stylized, one row each (default: %(default)s)")
    sheet.add_argument("--cell", type=_positive_int, default=256, metavar="PX",
                       help="side of a cell in the sheet (default: %(default)s)")
    sheet.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    sheet.set_defaults(handler=run_contact_sheet)

    publish = commands.add_parser("publish", help="copy a finished training run into a style folder")
    publish.add_argument("run", type=Path, metavar="RUN_DIR", help="a finished run folder (with model.safetensors)")
    publish.add_argument("--name", required=True, help="the style's name (its file name in the folder)")
    publish.add_argument("--twin", help="the name of its no-SRM (or SRM) twin, for the app's SRM tab")
    publish.add_argument("-o", "--output", type=Path, default=default_publish_folder(), metavar="FOLDER",
                         help="style folder (default: %(default)s)")
    weights = publish.add_mutually_exclusive_group()
    weights.add_argument("--fp16", action="store_true", help="store the weights in fp16 (half the size)")
    weights.add_argument("--int8", action="store_true",
                         help="store the kernels in int8 with per-channel scales (a quarter of the size)")
    publish.set_defaults(handler=run_publish)
    add_evaluate_parser(commands)
    add_video_parser(commands)
    return parser


_prog = "styletransfer"


def _error(message: str) -> None:
    tqdm.write(f"{_prog}: {message}", file=sys.stderr)


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


def _image_format(data: bytes) -> str | None:
    """The output format (png, jpg, webp) matching the encoded image ``data``, if any."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            found = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return {"jpeg": "jpg", "mpo": "jpg", "png": "png", "webp": "webp"}.get(found)


def run_stylize(args: argparse.Namespace) -> int:
    check_template(args.name_template)
    from_stdin = STDIO in args.inputs
    to_stdout = args.output == STDIO
    if from_stdin and len(args.inputs) > 1:
        raise UsageError("'-' (standard input) must be the only INPUT")
    if to_stdout and args.json:
        raise UsageError("-o - writes the image to standard output; --json cannot go there too")
    rank, world_size, local_rank = process_rank()
    device = pick_device(args.device)
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    if from_stdin:
        stdin_bytes = sys.stdin.buffer.read()
        stdin_format = args.format or _image_format(stdin_bytes) or "png"
        items: list[tuple[Path | None, Path]] = [(None, Path(f"stdin.{stdin_format}"))]
    else:
        items = list(collect_inputs(args.inputs, args.recursive))
        if to_stdout and len(items) != 1:
            raise UsageError(f"-o - writes one image to standard output, but the inputs give {len(items)}")
    items = share_of_process(items, rank, world_size)
    dtype = pick_precision(device, args.precision)
    style = parse_style(args.style)  # StyleMixError: exit 2
    net = prepare_model(style, device, dtype, blend=args.blend)  # ModelFileError: exit 2 first
    if args.tile_pixels is not None:
        check_tile_pixels(net, args.tile_pixels)
    model_path = net.metadata["path"] or style
    style_name = net.metadata["name"]
    is_main = rank == 0
    started = time.perf_counter()
    outdir = Path(args.output)
    results: list[dict[str, Any]] = []
    claimed: dict[Path, Path] = {}
    for source, relative in tqdm(items, desc="stylize", unit="image", disable=not is_main or to_stdout):
        shown = "-" if source is None else str(source)
        target = None if to_stdout else output_path(outdir, relative, args.name_template, style_name, args.format)
        record: dict[str, Any] = {"input": shown, "output": STDIO if target is None else str(target)}
        results.append(record)
        if target is not None and target in claimed:
            record.update(status="failed", error=f"its output is also the output of {claimed[target]}")
            _error(f"{shown}: its output {target} is also the output of {claimed[target]}; skipped")
            continue
        if target is not None:
            claimed[target] = Path(shown)
            if target.exists() and not args.overwrite:
                record["status"] = "skipped"
                continue
        try:
            if source is None:
                image = open_image(io.BytesIO(stdin_bytes), max_pixels=args.max_pixels)
            else:
                image = open_image(source, max_pixels=args.max_pixels)
            result = stylize(model_path, image, strength=args.strength, preserve_color=args.preserve_color,
                             max_size=args.max_size, scale=args.scale, device=device,
                             precision=args.precision, tile_pixels=args.tile_pixels, blend=args.blend,
                             tile_statistics=args.tile_statistics)
            if target is None:
                image_format = output_format(relative, args.format)
                sys.stdout.buffer.write(encode_image(result, image_format, quality=args.quality))
                sys.stdout.buffer.flush()
            else:
                save_image_atomic(result, target, format=target.suffix.lstrip("."), quality=args.quality)
            record.update(status="done", size=list(result.size))
        except ImageTooLargeError as error:
            message = f"{error}; if you trust this file, raise the limit with --max-pixels"
            record.update(status="failed", error=message)
            _error(message)
        except ImageError as error:
            record.update(status="failed", error=str(error))
            _error(str(error))
        except (StyleTransferError, RuntimeError, OSError) as error:  # e.g. out of memory on one huge image
            record.update(status="failed", error=f"{shown}: {error}")
            _error(f"{shown}: {error}")
    counts = {state: sum(record["status"] == state for record in results) for state in ("done", "skipped", "failed")}
    seconds = time.perf_counter() - started
    if is_main and args.json:
        _print_json({**counts, "seconds": round(seconds, 3), "style": style_name, "model": str(model_path),
                     "device": str(device), "precision": precision_name(dtype), "world_size": world_size,
                     "results": results})
    elif is_main and not to_stdout:
        share = f" (this process's share of {world_size})" if world_size > 1 else ""
        print(f"{counts['done']} done, {counts['skipped']} skipped (already there), {counts['failed']} failed"
              f"{share} in {seconds:.1f} s -> {args.output}")
    return EXIT_FAILURES if counts["failed"] else EXIT_OK


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
    from .info import collect_info, format_info

    info = collect_info()
    if args.json:
        _print_json(info)
    else:
        print(format_info(info))
    return EXIT_OK


def run_app(args: argparse.Namespace) -> int:
    from .webapp import serve  # imports gradio: only for this command

    serve(args)
    return EXIT_OK


def run_export_onnx(args: argparse.Namespace) -> int:
    _require("onnx", "export-onnx", "'styletransfer[onnx]'  (or: pip install onnx)")
    with _writing(args.output):
        path = export_onnx(args.style, args.output, opset=args.opset)
    print(f"wrote {path}")
    return EXIT_OK


def run_compare_runs(args: argparse.Namespace) -> int:
    from ..comparison import write_comparison_table
    from ..plots import plot_comparison

    for run in args.runs:
        if not run.is_dir():
            raise FileNotFoundError(f"{run}: no such run folder")
    if args.labels is not None and len(args.labels) != len(args.runs):
        raise UsageError(f"--labels: {len(args.labels)} labels for {len(args.runs)} runs")
    with _writing(args.output):
        plot_comparison(args.runs, args.output, labels=args.labels)  # RunDirError: exit 2
    table_md, table_csv = args.output.with_suffix(".md"), args.output.with_suffix(".csv")
    with _writing(table_md):
        write_comparison_table(args.runs, table_md, table_csv, labels=args.labels, baseline=args.baseline,
                               at_step=args.at_step)
    print(f"wrote {args.output}, {table_md}, {table_csv}")
    return EXIT_OK


def run_contact_sheet(args: argparse.Namespace) -> int:
    styles = [style for style in args.styles.split(",") if style]
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        raise UsageError(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}") from None
    with tqdm(total=len(styles) * len(sizes) * len(args.photos), desc="contact sheet", unit="image") as bar:
        sheet = make_contact_sheet(styles, args.photos, sizes=sizes, cell=args.cell,
                                   device=pick_device(args.device), on_cell=bar.update)
    save_image_atomic(sheet, args.output)
    print(f"wrote {args.output}")
    return EXIT_OK


def run_publish(args: argparse.Namespace) -> int:
    model = args.run / MODEL_FILE
    if not model.is_file():
        raise FileNotFoundError(f"{args.run}: no {MODEL_FILE}; is the run finished?")
    painting = read_run_config(args.run).style
    with _writing(args.output / f"{args.name}.safetensors"):
        path = publish_model(model, args.output, args.name, painting=painting, twin=args.twin, run_dir=args.run,
                             dtype=torch.float16 if args.fp16 else torch.int8 if args.int8 else None)
    print(f"wrote {path}")
    return EXIT_OK


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    from ..evaluate import DEFAULT_SIZE
    from .ab_commands import add_ab_options

    evaluate = commands.add_parser(
        "evaluate", help="score styles against their paintings: palette, texture, structure and layout kept",
        description="Stylize a folder of photos with each --style (or read another tool's --outputs) and "
                    "report per style: palette (sliced Wasserstein distance of the colors to the painting's, "
                    "lower is closer), texture (distance of VGG19 relu3_2/relu5_1 features to the painting's, "
                    "lower is closer), structure (correlation of the photo's and the output's edge maps, "
                    "higher keeps more of the photo) and layout (correlation of their 32x32 luma thumbnails, "
                    "higher keeps more of the photo's light and dark masses). No score is a target on its own; "
                    "--ab makes a blind A/B test for the eye.")
    evaluate.add_argument("photos", type=Path, nargs="?", metavar="PHOTOS_DIR",
                          help="folder of photos (not with --ab-score)")
    evaluate.add_argument("--style", action="append", default=[], metavar="NAME",
                          help="style name or model file (repeat for several)")
    evaluate.add_argument("--outputs", action="append", default=[], type=Path, metavar="DIR",
                          help="another tool's outputs, named like the photos (repeat for several)")
    evaluate.add_argument("--painting", action="append", default=[], type=Path, metavar="IMG",
                          help="the painting of the --outputs (once for all, or once per --outputs); "
                               "also used for a model file with no painting beside it")
    evaluate.add_argument("--label", action="append", default=[], metavar="NAME",
                          help="the name shown for each --outputs (default: the folder's name)")
    evaluate.add_argument("--size", type=_positive_int, default=DEFAULT_SIZE, metavar="PX",
                          help="working size: longer side every image is resized to (default: %(default)s)")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON on stdout")
    evaluate.add_argument("--csv", type=Path, metavar="FILE", help="also write the per-photo scores as CSV")
    evaluate.add_argument("--sheet", type=Path, metavar="FILE.png",
                          help="also write a contact sheet: photos as columns, a row per style")
    evaluate.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    evaluate.add_argument("--precision", choices=tuple(PRECISIONS),
                          help="the models' precision (default: the fastest safe one for the device)")
    add_ab_options(evaluate)
    evaluate.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from PIL import Image

    from ..contact_sheet import lay_out_sheet
    from ..evaluate import OutputFolder, evaluate, find_photos, to_working_size
    from .ab_commands import run_ab, wants_ab

    sheet_cell = 256  # px, the side of a cell in the --sheet

    if wants_ab(args):  # --ab, --ab-make, --ab-score: a blind A/B test instead of scores
        return run_ab(args)
    if args.photos is None:
        raise UsageError("evaluate needs the PHOTOS_DIR to score the styles on")
    if not args.style and not args.outputs:
        raise UsageError("evaluate needs at least one --style or --outputs")
    if args.outputs and len(args.painting) not in (1, len(args.outputs)):
        raise UsageError(f"give --painting once for all {len(args.outputs)} --outputs, or once for each"
                         if args.painting else "--outputs needs the --painting the other tool was given")
    if not args.outputs and len(args.painting) > 1:
        raise UsageError("give at most one --painting without --outputs")
    if args.label and len(args.label) != len(args.outputs):
        raise UsageError(f"{len(args.label)} --label for {len(args.outputs)} --outputs; give one per --outputs")
    if args.sheet and args.sheet.suffix.lower() not in SAVE_SUFFIXES:
        raise UsageError(f"--sheet {args.sheet}: use a .png, .jpg or .webp file name")
    paintings = args.painting * len(args.outputs) if len(args.painting) == 1 else args.painting
    labels = args.label or [None] * len(args.outputs)
    outputs = [OutputFolder(folder, painting, label)
               for folder, painting, label in zip(args.outputs, paintings, labels)]
    photos = find_photos(args.photos)
    rows: list[tuple[str, list[Image.Image]]] = []  # the sheet's rows, one per style

    def on_output(label: str, photo: Path, output: Image.Image) -> None:
        if args.sheet:
            if not rows or rows[-1][0] != label or len(rows[-1][1]) == len(photos):
                rows.append((label, []))
            cell = output.copy()
            cell.thumbnail((sheet_cell, sheet_cell), Image.Resampling.LANCZOS)  # keeps memory small
            rows[-1][1].append(cell)
        bar.update()

    with tqdm(total=len(photos) * (len(args.style) + len(outputs)), desc="evaluate", unit="image") as bar:
        result = evaluate(photos, args.style, outputs, painting=args.painting[0] if args.painting else None,
                          size=args.size, device=pick_device(args.device), precision=args.precision,
                          on_output=on_output)
    report = sys.stderr if args.json else sys.stdout
    if args.csv:
        write_atomic(args.csv, result.to_csv().encode())  # a failed write names args.csv
        print(f"wrote {args.csv}", file=report)
    if args.sheet:
        photo_row = [to_working_size(open_image(photo), sheet_cell) for photo in photos]
        save_image_atomic(lay_out_sheet([("photo", photo_row), *rows], cell=sheet_cell), args.sheet)
        print(f"wrote {args.sheet}", file=report)
    if args.json:
        print(result.to_json())
        return EXIT_OK
    width = max(len("style"), *(len(style.label) for style in result.styles))
    print(f"{len(photos)} photos at {result.size} px; palette and texture: lower is closer to the painting; "
          "structure and layout: higher keeps more of the photo")
    print(f"{'style':<{width}}  palette  texture  structure  layout  painting")
    for style in result.styles:
        print(f"{style.label:<{width}}  {style.palette:7.3f}  {style.texture:7.3f}  {style.structure:9.3f}  "
              f"{style.layout:6.3f}  {style.painting}")
    return EXIT_OK


def add_video_parser(commands: argparse._SubParsersAction) -> None:
    video = commands.add_parser(
        "video", help="stylize a video file (frames, timing and audio kept)",
        description="Stylize every frame of a video with PyAV (pip install av): same frame count, frame rate and "
                    "duration, audio copied (re-encoded only where the output container cannot hold it). The "
                    "output's suffix picks the container (.mp4, .mkv, .mov, .webm, .avi). Reports the flicker: "
                    "the mean change between consecutive output frames over the same for the input.")
    video.add_argument("input", type=Path, metavar="IN", help="the video to stylize")
    video.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="the video file to write")
    video.add_argument("--style", required=True, metavar="NAME[:W,NAME:W...]",
                       help="style name or model file; several with weights blend them")
    video.add_argument("--blend", choices=BLEND_MODES, default="output", help="how blended styles mix")
    video.add_argument("--max-size", type=_positive_int, metavar="PX", help="shrink the longer side to PX first")
    video.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    video.add_argument("--precision", choices=tuple(PRECISIONS), help="default: the fastest safe one for the device")
    video.add_argument("--batch", type=_positive_int, metavar="N",
                       help="frames per pass through the network (default: as many as fit the device's tile "
                            "budget, at most 16)")
    video.add_argument("--stable", action=argparse.BooleanOptionalAction, default=True,
                       help="steady the frames: blend the previous output in where the input did not move "
                            "(default: on)")
    video.add_argument("--hold-statistics", type=_momentum, metavar="MOMENTUM",
                       help="also hold SRM/InstanceNorm statistics across frames as a running mean, each new "
                            "frame weighing MOMENTUM (0..1; 0 keeps the first frame's) (default: per frame)")
    video.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    video.add_argument("--json", action="store_true", help="print the result (with the flicker) as JSON on stdout")
    video.set_defaults(handler=run_video)


def run_video(args: argparse.Namespace) -> int:
    import json

    from ..video import Stability, probe_video, stylize_video

    info = probe_video(args.input)  # VideoError (an unreadable file, PyAV missing): exit 2 before any work
    if args.output.exists() and not args.overwrite:
        raise UsageError(f"{args.output} exists; add --overwrite to replace it")
    style = parse_style(args.style)
    stability = Stability(statistics_momentum=args.hold_statistics, blend_weight=Stability().blend_weight
                          if args.stable else 0.0)
    # Shown after a second: an error in the first moments (an unwritable output) prints no empty bar.
    with tqdm(total=info.frames, desc="video", unit="frame", delay=1) as bar:
        def progress(done: int, total: int | None) -> None:
            bar.total = max(total, done) if total else None
            bar.update(done - bar.n)

        result = stylize_video(style, args.input, args.output, max_size=args.max_size, device=args.device,
                               precision=args.precision, batch_size=args.batch, stability=stability,
                               blend=args.blend, progress=progress)
    width, height = result.size
    print(f"wrote {result.path}: {result.frames} frames, {width}x{height} at {float(result.fps):g} fps, audio "
          f"{', '.join(result.audio) or 'none'}; {result.flicker}; {result.seconds:.1f} s "
          f"({result.frames_per_second:.1f} frames/s on {result.device.type}, {result.precision})",
          file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result.as_dict()))
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, prog: str = "styletransfer") -> int:
    """Run the command line; returns the exit code (see the module docs). Expected problems
    become one line on stderr; other exceptions (bugs) propagate with their traceback."""
    global _prog
    _prog = prog
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
