"""Contact sheets: the same photos through several styles, in one image, for judging by eye.

Row 0 holds the original photos; each further row is one style, labelled with its name. Every
cell is the photo stylised at ``size`` px (longest side) and then shown at ``cell`` px, so a
sheet made at 512 and one made at 1024 px can be compared side by side.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .images import open_image, resize_longest
from .modelfile import resolve_model_path
from .stylize import stylize

LABEL_WIDTH = 170


def _fit(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled to fit a cell×cell box, centred on white."""
    box = Image.new("RGB", (cell, cell), "white")
    fitted = image.convert("RGB")
    fitted.thumbnail((cell, cell), Image.Resampling.LANCZOS)
    box.paste(fitted, ((cell - fitted.width) // 2, (cell - fitted.height) // 2))
    return box


def make_contact_sheet(styles: Sequence[str | os.PathLike], photos: Sequence[str | os.PathLike], *,
                       size: int = 512, cell: int = 256, device: str | None = None,
                       on_cell: Callable[[], None] | None = None) -> Image.Image:
    """Stylise every photo with every style and lay the results out in a grid.

    Args:
        styles: style names or model file paths (one row each).
        photos: image files (one column each).
        size: longest side, in px, at which each photo is stylised.
        cell: side of a grid cell in the sheet, px.
        on_cell: called after each stylised cell (for progress bars).

    Returns an RGB image of (1 + len(styles)) rows and len(photos) columns plus a label column.
    """
    font = ImageFont.load_default(size=16)
    originals = [resize_longest(open_image(photo), size) for photo in photos]
    rows: list[tuple[str, list[Image.Image]]] = [("photo", originals)]
    for style in styles:
        name = Path(resolve_model_path(style)).stem
        cells = []
        for original in originals:
            cells.append(stylize(style, original, device=device))
            if on_cell is not None:
                on_cell()
        rows.append((name, cells))
    sheet = Image.new("RGB", (LABEL_WIDTH + cell * len(photos), cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, images) in enumerate(rows):
        draw.text((8, row * cell + cell // 2), label, fill="black", font=font, anchor="lm")
        for column, image in enumerate(images):
            sheet.paste(_fit(image, cell), (LABEL_WIDTH + column * cell, row * cell))
    return sheet
