"""``evaluate`` and ``compare-runs``: scores of styles against their paintings and photos, and
training runs side by side."""
from __future__ import annotations

from styletransfer.apps.cli.ab import add_ab_options, output_folders, run_ab, wants_ab

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from styletransfer.core.device import DEVICE_NAMES, PRECISIONS, pick_device
from styletransfer.core.images import (SAVE_SUFFIXES, open_image, save_image_atomic)
from styletransfer.core.files import write_atomic

from styletransfer.apps.cli.common import (EXIT_OK, UsageError, _positive_int, _writing, note_emulated_precision)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``compare-runs``."""
    from styletransfer.evaluation.evaluate import DEFAULT_SIZE

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
    evaluate.add_argument("--no-texture", dest="texture", action="store_false",
                          help="leave the texture score out (it runs VGG19 to relu5_1 on every output, "
                               "most of the time on a CPU); shown as - and null in --json")
    evaluate.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    evaluate.add_argument("--precision", choices=tuple(PRECISIONS),
                          help="the models' precision (default: the fastest safe one for the device)")
    add_ab_options(evaluate)
    evaluate.set_defaults(handler=run_evaluate)
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


def run_evaluate(args: argparse.Namespace) -> int:
    from PIL import Image

    from styletransfer.evaluation.contact_sheet import lay_out_sheet
    from styletransfer.evaluation.evaluate import evaluate, find_photos, to_working_size

    sheet_cell = 256  # px, the side of a cell in the --sheet

    if wants_ab(args):  # --ab, --ab-make, --ab-score: a blind A/B test instead of scores
        return run_ab(args)
    if args.photos is None:
        raise UsageError("evaluate needs the PHOTOS_DIR to score the styles on")

    if not args.style and not args.outputs:
        raise UsageError("evaluate needs at least one --style or --outputs")
    if not args.outputs and len(args.painting) > 1:
        raise UsageError("give at most one --painting without --outputs")
    outputs = output_folders(args)
    if args.sheet and args.sheet.suffix.lower() not in SAVE_SUFFIXES:
        raise UsageError(f"--sheet {args.sheet}: use a .png, .jpg or .webp file name")
    photos = find_photos(args.photos)
    if args.style:
        note_emulated_precision(args.device, args.precision)
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
                          on_output=on_output, texture=args.texture)
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
        texture = "      -" if style.texture is None else f"{style.texture:7.3f}"
        print(f"{style.label:<{width}}  {style.palette:7.3f}  {texture}  {style.structure:9.3f}  "
              f"{style.layout:6.3f}  {style.painting}")
    return EXIT_OK


def run_compare_runs(args: argparse.Namespace) -> int:
    from styletransfer.evaluation.runs_table import write_comparison_table
    from styletransfer.evaluation.plots import plot_comparison

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
