"""The border bands with and without the reflected margin, as a picture: for each network, each
photo stylized at 512 px without a margin and with the margin its model file records
(styletransfer.inference.margin). Run from the repository root:

    .venv/bin/python docs/ab/border-bands/margin_sheet.py -o docs/ab/border-bands/margin.jpg \
        --styles great_wave_bn,starry_night_bn PHOTO...
"""
from __future__ import annotations

import argparse

from PIL import Image, ImageDraw

from styletransfer.evaluation.evaluate import to_working_size
from styletransfer.inference.margin import recorded_margin
from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import read_metadata

CELL = 320
LABEL = 18


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--styles", required=True, help="comma list of networks")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    photos = [to_working_size(Image.open(path).convert("RGB"), 512) for path in args.photos]
    names = args.styles.split(",")
    cells = []  # (row, column, label, image)
    for row, name in enumerate(names):
        margin = recorded_margin(read_metadata(name))
        for index, photo in enumerate(photos):
            for half, (used, label) in enumerate([(0, "no margin"), (margin, f"margin {margin} px")]):
                cell = stylize(name, photo, margin=used)
                cell.thumbnail((CELL, CELL))
                cells.append((row, 2 * index + half, f"{name}, {label}", cell))
    height = max(cell.height for *_, cell in cells) + LABEL + 4
    sheet = Image.new("RGB", (2 * len(photos) * (CELL + 4) + 4, len(names) * height + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for row, column, label, cell in cells:
        x, y = 4 + column * (CELL + 4), 4 + row * height
        draw.text((x + 2, y + 2), label, fill="black")
        sheet.paste(cell, (x, y + LABEL))
    sheet.save(args.output, quality=85)


if __name__ == "__main__":
    main()
