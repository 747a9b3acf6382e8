"""``stylize``, ``export-onnx`` and ``contact-sheet``: images in, images (or a network file) out."""
from __future__ import annotations

import argparse
import glob
import io
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from styletransfer.inference.blend import BLEND_MODES, parse_style
from styletransfer.evaluation.contact_sheet import make_contact_sheet
from styletransfer.core.device import DEVICE_NAMES, PRECISIONS, pick_device, pick_precision, precision_name
from styletransfer.errors import StyleTransferError
from styletransfer.core.images import (DEFAULT_MAX_PIXELS, ImageError, find_image_files, ImageTooLargeError, encode_image,
                      open_image, save_image_atomic)
from styletransfer.training.distributed import torchrun_environment
from styletransfer.inference.export import export_onnx
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.stylize import (DEFAULT_TILE_STATISTICS, STROKE_SCALES, TILE_STATISTICS, check_stroke_scale,
                                            stylize)
from styletransfer.inference.tiling import receptive_field, split_axis, tile_context

from styletransfer.apps.cli.common import (EXIT_FAILURES, EXIT_OK, STDIO, Item, UsageError, _error, _positive_float,
    _positive_int, _print_json, _quality, _require, _strength, _writing, margin_option, note_emulated_precision)


OUTPUT_FORMATS = ("png", "jpg", "webp")


DEFAULT_NAME_TEMPLATE = "{stem}_{style}.{ext}"


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
            for file in find_image_files(path, recursive=recursive):
                found.setdefault(file, file.relative_to(path))
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


def stroke_scale_option(text: str) -> float:
    """``--stroke-scale`` as a number; UsageError (one line, exit 2) outside :data:`STROKE_SCALES`."""
    try:
        return check_stroke_scale(text)
    except ValueError:
        low, high = STROKE_SCALES
        raise UsageError(f"--stroke-scale must be a number between {low:g} and {high:g}, not {text}") from None


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


def _image_format(data: bytes) -> str | None:
    """The output format (png, jpg, webp) matching the encoded image ``data``, if any."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            found = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return {"jpeg": "jpg", "mpo": "jpg", "png": "png", "webp": "webp"}.get(found)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``stylize``, ``export-onnx`` and ``contact-sheet``."""
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
    run.add_argument("--stroke-scale", default="1", metavar="S",
                     help=f"brush-stroke size, {STROKE_SCALES[0]:g}..{STROKE_SCALES[1]:g}: the network sees the image at "
                          "1/S of its size and the result is resized back (2: larger strokes, 0.5: finer; "
                          "default: %(default)s)")
    run.add_argument("--margin", metavar="PX",
                     help="mirror the image outwards by PX pixels before the network and crop them off after, "
                          "so a band a network draws along its edges falls outside the picture (default: the "
                          "margin the model file records, else 0)")
    run.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    run.add_argument("--precision", choices=tuple(PRECISIONS), help="default: the fastest safe one for the device")
    run.add_argument("--tile-pixels", type=_positive_int, metavar="N",
                     help="largest area stylized in one pass; larger images are tiled "
                          "(default: 2048x2048 on CUDA; on a CPU, images up to 2048x2048 whole given 8 GiB of memory, "
                          "larger ones in 1024x1024 tiles)")
    run.add_argument("--tile-statistics", choices=TILE_STATISTICS, default=DEFAULT_TILE_STATISTICS,
                     help="on tiled images, SRM statistics of the whole image with the tiles run in step (the "
                          "result equals the untiled one; more memory), of each tile (tiles may differ in tone), "
                          "or of the whole image measured in extra passes first (memory of one tile; slower) "
                          "(default: %(default)s)")
    run.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"refuse larger images (decompression-bomb guard; default: {DEFAULT_MAX_PIXELS})")
    run.add_argument("--json", action="store_true", help="print a JSON summary (each input and its result)")
    run.set_defaults(handler=run_stylize)

    onnx = commands.add_parser("export-onnx", help="export a style network to ONNX (needs the onnx package)")
    onnx.add_argument("--style", required=True, help="style name or model file")
    onnx.add_argument("output", type=Path, help="the .onnx file to write")
    onnx.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default: 17)")
    onnx.set_defaults(handler=run_export_onnx)

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


def run_stylize(args: argparse.Namespace) -> int:
    check_template(args.name_template)
    stroke_scale = stroke_scale_option(args.stroke_scale)
    margin = margin_option(args.margin)
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
    if rank == 0:
        note_emulated_precision(str(device), args.precision)
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
                             tile_statistics=args.tile_statistics, stroke_scale=stroke_scale, margin=margin)
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


def run_export_onnx(args: argparse.Namespace) -> int:
    _require("onnx", "export-onnx", "'styletransfer[onnx]'  (or: pip install onnx)")
    with _writing(args.output):
        path = export_onnx(args.style, args.output, opset=args.opset)
    print(f"wrote {path}")
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
