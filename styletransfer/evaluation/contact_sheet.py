"""Contact sheets: the same photos through several styles, in one image, for judging by eye.

Row 0 holds the original photos; each further row is one style at one size, labelled with its
name and size. Every cell is the photo stylized at that size (longest side, px) and then shown
at ``cell`` px, so the same style at 512 and at 1024 px can be compared row against row (the
strokes of a feed-forward network have a fixed size in pixels, so they look finer on the larger
image).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from styletransfer.core.images import open_image, scale_image
from styletransfer.modelfiles.catalogue import resolve_model_path
from styletransfer.inference.stylize import stylize

LABEL_WIDTH = 170


def _fit(image: Image.Image, cell: int) -> Image.Image:
    """The image scaled to fit a cell×cell box, centred on white."""
    box = Image.new("RGB", (cell, cell), "white")
    fitted = image.convert("RGB")
    fitted.thumbnail((cell, cell), Image.Resampling.LANCZOS)
    box.paste(fitted, ((cell - fitted.width) // 2, (cell - fitted.height) // 2))
    return box


def make_contact_sheet(styles: Sequence[str | os.PathLike], photos: Sequence[str | os.PathLike], *,
                       sizes: Sequence[int] = (512,), cell: int = 256, device: str | None = None,
                       on_cell: Callable[[], None] | None = None) -> Image.Image:
    """Stylize every photo with every style and lay the results out in a grid.

    Args:
        styles: style names or model file paths.
        photos: image files (one column each).
        sizes: longest sides, in px, at which each photo is stylized (one row per style and size;
            smaller photos are scaled up).
        cell: side of a grid cell in the sheet, px.
        on_cell: called after each stylized cell (for progress bars).

    Returns an RGB image of (1 + len(styles)·len(sizes)) rows and len(photos) columns plus a
    label column.
    """
    photos_opened = [open_image(photo) for photo in photos]
    rows: list[tuple[str, list[Image.Image]]] = [("photo", photos_opened)]
    for style in styles:
        name = Path(resolve_model_path(style)).stem
        for size in sizes:
            cells = []
            for photo in photos_opened:
                cells.append(stylize(style, scale_image(photo, size / max(photo.size)), device=device))
                if on_cell is not None:
                    on_cell()
            rows.append((f"{name}\n{size} px", cells))
    return lay_out_sheet(rows, cell=cell)


def lay_out_sheet(rows: Sequence[tuple[str, Sequence[Image.Image]]], *, cell: int = 256) -> Image.Image:
    """A grid of labelled rows of images, each image scaled to fit a cell×cell box.

    Returns an RGB image of len(rows) rows and as many columns as the longest row, plus a
    label column on the left.
    """
    font = ImageFont.load_default(size=16)
    columns = max((len(images) for _, images in rows), default=0)
    sheet = Image.new("RGB", (LABEL_WIDTH + cell * columns, cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, images) in enumerate(rows):
        draw.multiline_text((8, row * cell + cell // 2), label, fill="black", font=font, anchor="lm")
        for column, image in enumerate(images):
            sheet.paste(_fit(image, cell), (LABEL_WIDTH + column * cell, row * cell))
    return sheet
