"""The picture of output-space against weight-space blending in the README (docs/blending.jpg).

    .venv/bin/python benchmarks/blending_sheet.py [--styles starry_night,the_scream]
        [--photo examples/mont_saint_michel.jpg] [-o docs/blending.jpg]

One photo stylized at 512 px (longest side) by two shipped styles mixed 100/0, 75/25, 50/50,
25/75 and 0/100: the top row blends the outputs (the weighted mean of the two stylized images),
the bottom row the weights (one network whose weights are the weighted mean of the two).
Every cell is shown at 256 px; the sheet is a JPEG at quality 85.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from styletransfer.inference.blend import StyleMix  # noqa: E402
from styletransfer.core.images import open_image, save_image_atomic  # noqa: E402
from styletransfer.inference.stylize import stylize  # noqa: E402

SHARES = (1.0, 0.75, 0.5, 0.25, 0.0)
CELL, LABEL, HEADER = 256, 150, 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default="starry_night,the_scream")
    parser.add_argument("--photo", type=Path, default=REPO / "examples" / "mont_saint_michel.jpg")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "blending.jpg")
    args = parser.parse_args()
    first, second = args.styles.split(",")
    photo = open_image(args.photo)
    font = ImageFont.load_default(size=15)
    cells = []
    for blend in ("output", "weights"):
        row = []
        for share in SHARES:
            mix = StyleMix(((first, share), (second, 1 - share)))
            row.append(stylize(mix, photo, max_size=args.size, precision="fp32", blend=blend))
        cells.append(row)
    width, height = cells[0][0].size
    cell_height = round(CELL * height / width)
    sheet = Image.new("RGB", (LABEL + CELL * len(SHARES), HEADER + cell_height * 2), "white")
    draw = ImageDraw.Draw(sheet)
    for column, share in enumerate(SHARES):
        title = f"{first} {share:.0%}\n{second} {1 - share:.0%}"
        draw.multiline_text((LABEL + column * CELL + CELL // 2, HEADER // 2), title, fill="black", font=font,
                            anchor="mm", align="center")
    for row, label in enumerate(("output blend\n(mean of images)", "weight blend\n(mean of weights)")):
        top = HEADER + row * cell_height
        draw.multiline_text((8, top + cell_height // 2), label, fill="black", font=font, anchor="lm")
        for column, image in enumerate(cells[row]):
            sheet.paste(image.resize((CELL, cell_height), Image.Resampling.LANCZOS), (LABEL + column * CELL, top))
    save_image_atomic(sheet, args.output, quality=85)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
