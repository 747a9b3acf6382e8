"""Command line: ``styletransfer stylize | video | styles | export-onnx | compare-runs | contact-sheet |
publish | evaluate``.

A thin shell over the library: it parses arguments, finds input files, prints progress and
turns expected errors into one line and an exit code:

    0    everything worked
    1    some images (or style files) failed; the others were written
    2    bad arguments, no such input, an unusable model file or device
    130  interrupted (Ctrl-C)

Under ``torchrun --nproc_per_node=N`` (RANK, WORLD_SIZE and LOCAL_RANK in the environment),
``stylize`` gives process r the images r, r+N, r+2N, ... of the sorted input list, and each
process uses ``cuda:LOCAL_RANK`` when CUDA is available. The processes never talk to each other
(no process group); only rank 0 shows the progress bar and summary, every rank reports its own
failures.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import torch
from tqdm import tqdm

from .blend import BLEND_MODES, parse_style
from .contact_sheet import make_contact_sheet
from .device import DEVICE_NAMES, PRECISIONS, keep_freed_memory, pick_device, pick_precision
from .images import DEFAULT_MAX_PIXELS, ImageError, ImageTooLargeError, open_image, save_image_atomic
from .modelfile import (REPO_STYLES_DIR, ModelFileError, list_model_names, read_header, resolve_model_path,
                        style_dirs)
from .publish import publish_model
from .runlog import MODEL_FILE
from .stylize import TILE_STATISTICS, export_onnx, prepare_model, stylize
from .training import read_run_config

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""File types picked up from folders (files named explicitly are tried whatever their name)."""

OUTPUT_FORMATS = ("png", "jpg", "webp")
DEFAULT_NAME_TEMPLATE = "{stem}_{style}.{ext}"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

Item = TypeVar("Item")


class UsageError(ValueError):
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


def process_rank(environ: os._Environ[str] | dict[str, str] = os.environ) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables; (0, 1, 0)
    for a plain run."""
    try:
        return (int(environ.get("RANK", "0")), int(environ.get("WORLD_SIZE", "1")),
                int(environ.get("LOCAL_RANK", "0")))
    except ValueError:
        raise UsageError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers") from None


def output_path(outdir: Path, relative: Path, template: str, style: str, image_format: str | None) -> Path:
    """Where the stylised ``relative`` goes: ``outdir / relative's folder / template``.

    ``image_format`` (png, jpg, webp) forces the extension; None keeps the input's when it is
    a format we write, else png.
    """
    ext = image_format or relative.suffix.lower().lstrip(".")
    if ext not in ("png", "jpg", "jpeg", "webp"):
        ext = "png"
    return outdir / relative.parent / template.format(stem=relative.stem, style=style, ext=ext)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styletransfer", description="Real-time neural style transfer.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("stylize", help="stylise images, files, folders or glob patterns",
                              description="Stylise images into OUTDIR; existing outputs are skipped.")
    run.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or glob pattern")
    run.add_argument("--style", required=True, metavar="NAME[:W,NAME:W...]",
                     help="style name (see 'styletransfer styles') or model file; several with weights blend "
                          "them, e.g. starry_night:0.6,the_scream:0.4")
    run.add_argument("--blend", choices=BLEND_MODES, default="output",
                     help="how blended styles mix: the weighted mean of their outputs, or of their weights "
                          "(only for styles fine-tuned from one network) (default: %(default)s)")
    run.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
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
    run.add_argument("--preserve-color", action="store_true", help="keep the original colours")
    run.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    run.add_argument("--precision", choices=tuple(PRECISIONS), help="default: the fastest safe one for the device")
    run.add_argument("--tile-pixels", type=_positive_int, metavar="N",
                     help="largest area stylised in one pass; larger images are tiled "
                          "(default: 1024x1024 on CPU, 2048x2048 on CUDA)")
    run.add_argument("--tile-statistics", choices=TILE_STATISTICS, default="tile",
                     help="on tiled images, SRM statistics per tile (fast) or of the whole image (measured "
                          "first; the result then equals the untiled one; slower) (default: %(default)s)")
    run.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"refuse larger images (decompression-bomb guard; default: {DEFAULT_MAX_PIXELS})")
    run.set_defaults(handler=run_stylize)

    styles = commands.add_parser("styles", help="list the shipped and user styles")
    styles.set_defaults(handler=run_styles)

    onnx = commands.add_parser("export-onnx", help="export a style network to ONNX")
    onnx.add_argument("--style", required=True, help="style name or model file")
    onnx.add_argument("output", type=Path, help="the .onnx file to write")
    onnx.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default: 17)")
    onnx.set_defaults(handler=run_export_onnx)

    compare = commands.add_parser("compare-runs", help="plot and tabulate training runs side by side")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    compare.add_argument("-o", "--output", type=Path, default=Path("comparison.png"),
                         help="plot file; a .md and a .csv table go beside it (default: %(default)s)")
    compare.add_argument("--labels", nargs="+", help="one label per run (default: the folder names)")
    compare.set_defaults(handler=run_compare)

    sheet = commands.add_parser("contact-sheet", help="the same photos through several styles, in one image")
    sheet.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (one column each)")
    sheet.add_argument("--styles", required=True, help="comma list of style names or model files (one row each)")
    sheet.add_argument("-o", "--output", type=Path, required=True, help="the PNG/JPEG to write")
    sheet.add_argument("--sizes", default="512", metavar="PX[,PX...]",
                       help="longest sides at which each photo is stylised, one row each (default: %(default)s)")
    sheet.add_argument("--cell", type=_positive_int, default=256, metavar="PX",
                       help="side of a cell in the sheet (default: %(default)s)")
    sheet.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    sheet.set_defaults(handler=run_contact_sheet)

    publish = commands.add_parser("publish", help="copy a finished training run into a style folder")
    publish.add_argument("run", type=Path, metavar="RUN_DIR", help="a finished run folder (with model.safetensors)")
    publish.add_argument("--name", required=True, help="the style's name (its file name in the folder)")
    publish.add_argument("--twin", help="the name of its no-SRM (or SRM) twin, for the app's SRM tab")
    publish.add_argument("-o", "--output", type=Path, default=REPO_STYLES_DIR, metavar="FOLDER",
                         help="style folder (default: the shipped styles/)")
    publish.add_argument("--fp16", action="store_true", help="store the weights in fp16 (half the size)")
    publish.set_defaults(handler=run_publish)
    add_evaluate_parser(commands)
    add_video_parser(commands)
    return parser


def _error(message: str) -> None:
    tqdm.write(f"styletransfer: {message}", file=sys.stderr)


def run_stylize(args: argparse.Namespace) -> int:
    check_template(args.name_template)
    rank, world_size, local_rank = process_rank()
    device = pick_device(args.device)
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    items = share_of_process(collect_inputs(args.inputs, args.recursive), rank, world_size)
    style = parse_style(args.style)  # StyleMixError: exit 2
    net = prepare_model(style, device, pick_precision(device, args.precision), blend=args.blend)  # exit 2 first
    model_path = net.metadata["path"] or style
    style_name = net.metadata["name"]
    is_main = rank == 0
    started = time.perf_counter()
    done = skipped = failed = 0
    claimed: dict[Path, Path] = {}
    for source, relative in tqdm(items, desc="stylize", unit="image", disable=not is_main):
        target = output_path(args.output, relative, args.name_template, style_name, args.format)
        if target in claimed:
            _error(f"{source}: its output {target} is also the output of {claimed[target]}; skipped")
            failed += 1
            continue
        claimed[target] = source
        if target.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            image = open_image(source, max_pixels=args.max_pixels)
            result = stylize(model_path, image, strength=args.strength, preserve_color=args.preserve_color,
                             max_size=args.max_size, scale=args.scale, device=device,
                             precision=args.precision, tile_pixels=args.tile_pixels, blend=args.blend,
                             tile_statistics=args.tile_statistics)
            save_image_atomic(result, target, format=target.suffix.lstrip("."), quality=args.quality)
            done += 1
        except ImageTooLargeError as error:
            _error(f"{error}; if you trust this file, raise the limit with --max-pixels")
            failed += 1
        except ImageError as error:
            _error(str(error))
            failed += 1
        except (ValueError, RuntimeError, OSError) as error:  # e.g. out of memory on one huge image
            _error(f"{source}: {error}")
            failed += 1
    if is_main:
        share = f" (this process's share of {world_size})" if world_size > 1 else ""
        print(f"{done} done, {skipped} skipped (already there), {failed} failed{share} "
              f"in {time.perf_counter() - started:.1f} s -> {args.output}")
    return EXIT_FAILURES if failed else EXIT_OK


def run_styles(args: argparse.Namespace) -> int:
    names = list_model_names()
    if not names:
        print("no styles found in " + ", ".join(str(folder) for folder in style_dirs()))
        return EXIT_OK
    broken = 0
    for name in names:
        try:
            config, metadata = read_header(resolve_model_path(name))
        except ModelFileError as error:
            _error(str(error))
            broken += 1
            continue
        title = metadata.get("title") or metadata.get("style_title") or name
        artist = metadata.get("artist", "unknown artist")
        year = metadata.get("year", "n.d.")
        licence = metadata.get("licence") or metadata.get("license") or "licence unknown"
        print(f"{name:<20} {title} - {artist} ({year}), {licence} [{config.norm}/{config.attention}]")
    return EXIT_FAILURES if broken else EXIT_OK


def run_export_onnx(args: argparse.Namespace) -> int:
    path = export_onnx(args.style, args.output, opset=args.opset)
    print(f"wrote {path}")
    return EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    try:
        from .plots import plot_comparison, write_comparison_table
    except ImportError as error:
        raise UsageError(f"compare-runs needs styletransfer.plots and matplotlib ({error})") from None

    for run in args.runs:
        if not run.is_dir():
            raise FileNotFoundError(f"{run}: no such run folder")
    plot_comparison(args.runs, args.output, labels=args.labels)  # RunDirError, ValueError: exit 2
    table_md, table_csv = args.output.with_suffix(".md"), args.output.with_suffix(".csv")
    write_comparison_table(args.runs, table_md, table_csv, labels=args.labels)
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
    path = publish_model(model, args.output, args.name, painting=painting, twin=args.twin, run_dir=args.run,
                         dtype=torch.float16 if args.fp16 else None)
    print(f"wrote {path}")
    return EXIT_OK


def add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    from .evaluate import DEFAULT_SIZE

    evaluate = commands.add_parser(
        "evaluate", help="score styles against their paintings: palette, texture, structure kept",
        description="Stylise a folder of photos with each --style (or read another tool's --outputs) and "
                    "report per style: palette (sliced Wasserstein distance of the colours to the painting's, "
                    "lower is closer), texture (distance of VGG19 relu3_2/relu5_1 features to the painting's, "
                    "lower is closer) and structure (correlation of the photo's and the output's edge maps, "
                    "higher keeps more of the photo).")
    evaluate.add_argument("photos", type=Path, metavar="PHOTOS_DIR", help="folder of photos")
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
    evaluate.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from PIL import Image

    from .contact_sheet import lay_out_sheet
    from .evaluate import OutputFolder, evaluate, find_photos, to_working_size

    sheet_cell = 256  # px, the side of a cell in the --sheet

    if not args.style and not args.outputs:
        raise UsageError("evaluate needs at least one --style or --outputs")
    if args.outputs and len(args.painting) not in (1, len(args.outputs)):
        raise UsageError(f"give --painting once for all {len(args.outputs)} --outputs, or once for each"
                         if args.painting else "--outputs needs the --painting the other tool was given")
    if not args.outputs and len(args.painting) > 1:
        raise UsageError("give at most one --painting without --outputs")
    if args.label and len(args.label) != len(args.outputs):
        raise UsageError(f"{len(args.label)} --label for {len(args.outputs)} --outputs; give one per --outputs")
    if args.sheet and args.sheet.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
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
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        partial = args.csv.with_name(f".{args.csv.name}.partial")
        try:
            partial.write_text(result.to_csv())
            os.replace(partial, args.csv)
        finally:
            partial.unlink(missing_ok=True)
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
          "structure: higher keeps more of the photo")
    print(f"{'style':<{width}}  palette  texture  structure  painting")
    for style in result.styles:
        print(f"{style.label:<{width}}  {style.palette:7.3f}  {style.texture:7.3f}  {style.structure:9.3f}  "
              f"{style.painting}")
    return EXIT_OK


def add_video_parser(commands: argparse._SubParsersAction) -> None:
    video = commands.add_parser(
        "video", help="stylise a video file (frames, timing and audio kept)",
        description="Stylise every frame of a video with PyAV (pip install av): same frame count, frame rate and "
                    "duration, audio copied (re-encoded only where the output container cannot hold it). The "
                    "output's suffix picks the container (.mp4, .mkv, .mov, .webm, .avi). Reports the flicker: "
                    "the mean change between consecutive output frames over the same for the input.")
    video.add_argument("input", type=Path, metavar="IN", help="the video to stylise")
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

    from .video import Stability, probe_video, stylize_video

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docs)."""
    keep_freed_memory()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_request:  # --help, or a usage message already printed
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except (ModelFileError, ImageError, FileNotFoundError, ValueError) as error:
        _error(f"error: {error}")
        return EXIT_USAGE
    except OSError as error:
        _error(f"error: {error.filename or ''}{': ' if error.filename else ''}{error.strerror or error}")
        return EXIT_USAGE
