"""The 2× zoom check of the shipped styles: the centre of each style's output, magnified twice
with nearest-neighbour pixels, so periodic artefacts (rings, hatching, a grid) are visible.

Usage (from the repository root)::

    python docs/make_zoom.py examples/mont_saint_michel.jpg --size 1024 -o docs/zoom_2x.jpg
    python docs/make_zoom.py PHOTO --styles starry_night,starry_night_slim,... -o docs/slim_zoom_2x.jpg
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import load_catalogue
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR

CROP = 160
LABEL = 18


def centre_zoom(image: Image.Image) -> Image.Image:
    """The ``CROP``×``CROP`` centre of ``image``, magnified twice with nearest-neighbour pixels."""
    left, top = (image.width - CROP) // 2, (image.height - CROP) // 2
    return image.crop((left, top, left + CROP, top + CROP)).resize((2 * CROP, 2 * CROP), Image.Resampling.NEAREST)


def zoom_sheet(photo: Image.Image, styles: list[str], size: int, columns: int = 4) -> Image.Image:
    """A grid of ``CROP``×``CROP`` centre crops of each style's output at ``size`` px, shown 2×."""
    photo = photo.convert("RGB")
    photo.thumbnail((size, size), Image.Resampling.LANCZOS)
    cell = 2 * CROP
    rows = -(-len(styles) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, name in enumerate(styles):
        crop = centre_zoom(stylize(name, photo))
        x, y = (index % columns) * cell, (index // columns) * (cell + LABEL)
        draw.text((x + 4, y + 3), name, fill="black")
        sheet.paste(crop, (x, y + LABEL))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--styles", help="comma list of styles (default: every shipped style in the gallery)")
    args = parser.parse_args()
    styles = (args.styles.split(",") if args.styles
              else [style.name for style in load_catalogue([SHIPPED_STYLES_DIR]).gallery()])
    zoom_sheet(Image.open(args.photo), styles, args.size).save(args.output, quality=88)


if __name__ == "__main__":
    main()
