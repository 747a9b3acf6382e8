"""The 2× zoom check of the shipped styles: the centre of each style's output, magnified twice
with nearest-neighbour pixels, so periodic artefacts (rings, hatching, a grid) are visible.

The photo is scaled so its longer side is ``--size`` px, up as well as down (the example photos
are 640 px: "at 1024 px" means stylized at 1024 px, where a network's strokes are smallest
relative to the scene); ``--crop`` is the side of the centre crop, before magnifying.

Usage (from the repository root)::

    python docs/make_zoom.py examples/mont_saint_michel.jpg --size 1024 -o docs/zoom_2x.jpg
    python docs/make_zoom.py PHOTO --styles starry_night,starry_night_slim,... -o docs/slim_zoom_2x.jpg
    python docs/make_zoom.py PHOTO --styles before.safetensors,after.safetensors --size 512 --size 1024 -o OUT.jpg

With several ``--size`` the sheet has one row per size and one column per style (a before/after
comparison at both sizes the 2× check asks for, in one picture).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from styletransfer.evaluation.evaluate import to_working_size
from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import load_catalogue
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR

CROP = 160
LABEL = 18


def fit_longest(photo: Image.Image, size: int) -> Image.Image:
    """``photo`` as RGB with its longer side exactly ``size`` px (Lanczos, up or down; unlike
    ``Image.thumbnail``, which never scales up)."""
    return to_working_size(photo.convert("RGB"), size)


def centre_crop(image: Image.Image, crop: int = CROP) -> Image.Image:
    """The ``crop``×``crop`` centre of ``image``, at 1×."""
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    return image.crop((left, top, left + crop, top + crop))


def centre_zoom(image: Image.Image, crop: int = CROP) -> Image.Image:
    """The ``crop``×``crop`` centre of ``image``, magnified twice with nearest-neighbour pixels."""
    return centre_crop(image, crop).resize((2 * crop, 2 * crop), Image.Resampling.NEAREST)


def paste_grid(cells: list[tuple[str, Image.Image]], columns: int, crop: int = CROP) -> Image.Image:
    """``cells`` (label, 2×-zoomed crop) laid out left to right, ``columns`` to a row, each crop
    under its label."""
    cell = 2 * crop
    rows = -(-len(cells) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, zoomed) in enumerate(cells):
        x, y = (index % columns) * cell, (index // columns) * (cell + LABEL)
        draw.text((x + 4, y + 3), label, fill="black")
        sheet.paste(zoomed, (x, y + LABEL))
    return sheet


def zoom_sheet(photo: Image.Image, styles: list[str], size: int, columns: int = 4, crop: int = CROP) -> Image.Image:
    """A grid of ``crop``×``crop`` centre crops of each style's output at ``size`` px, shown 2×."""
    photo = fit_longest(photo, size)
    return paste_grid([(name, centre_zoom(stylize(name, photo), crop)) for name in styles], columns, crop)


def zoom_rows(photo: Image.Image, styles: list[str], sizes: list[int], crop: int = CROP) -> Image.Image:
    """One row per size in ``sizes`` and one column per style, never wrapped (unlike
    :func:`zoom_sheet`'s grid): each cell the ``crop``×``crop`` centre of that style's output with
    the photo at that size, magnified twice, labelled with the style and the size."""
    cells = []
    for size in sizes:
        scaled = fit_longest(photo, size)
        cells += [(f"{Path(name).name} at {size} px", centre_zoom(stylize(name, scaled), crop)) for name in styles]
    return paste_grid(cells, len(styles), crop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("--size", type=int, action="append",
                        help="the photo's longer side, px (scaled up or down; default 1024); repeat for a row per size")
    parser.add_argument("--crop", type=int, default=CROP, help="side of the centre crop, px, before magnifying")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--styles", help="comma list of styles (default: every shipped style in the gallery)")
    args = parser.parse_args()
    styles = (args.styles.split(",") if args.styles
              else [style.name for style in load_catalogue([SHIPPED_STYLES_DIR]).gallery()])
    sizes = args.size or [1024]
    photo = Image.open(args.photo)
    if len(sizes) == 1:
        sheet = zoom_sheet(photo, styles, sizes[0], crop=args.crop)
    else:
        sheet = zoom_rows(photo, styles, sizes, crop=args.crop)
    sheet.save(args.output, quality=88)


if __name__ == "__main__":
    main()
