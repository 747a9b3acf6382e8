"""The 2x zoom check for the artefact probes: for each photo and size, the centre of the shipped
style's output and of each probe's, magnified twice with nearest-neighbour pixels (as
docs/make_zoom.py does for the gallery), one column per network. Run from the repository root:

    .venv/bin/python docs/ab/cpu-artefacts/zoom_sheet.py -o SHEET.jpg --sizes 512,1024 \
        --photos examples/mont_saint_michel.jpg,... the_kiss=styles/the_kiss.safetensors \
        tv30x=.gpu/artefacts/the_kiss-tv30x/model.safetensors ...

Each column is LABEL=MODEL (a style name or a model file); each row a photo at a size (its
longer side scaled to that size, up or down, by make_zoom.fit_longest). ``--crop`` sets the
side of the centre crop (the slim-distill rounds' 2x pictures use 256)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from make_zoom import CROP, LABEL, centre_zoom, fit_longest  # noqa: E402  (docs/make_zoom.py)
from styletransfer.inference.stylize import stylize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="LABEL=MODEL, one column each")
    parser.add_argument("--photos", required=True, help="comma list of photos, one row each per size")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--crop", type=int, default=CROP, help="side of the centre crop, px (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    columns = [item.split("=", 1) for item in args.models]
    rows = [(Path(p), int(s)) for p in args.photos.split(",") for s in args.sizes.split(",")]
    cell = 2 * args.crop
    sheet = Image.new("RGB", (len(columns) * cell, len(rows) * (cell + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (photo_path, size) in enumerate(rows):
        photo = fit_longest(Image.open(photo_path), size)
        for c, (label, model) in enumerate(columns):
            crop = centre_zoom(stylize(model, photo), args.crop)
            x, y = c * cell, r * (cell + LABEL)
            draw.text((x + 4, y + 3), f"{label}, {photo_path.stem[:24]} at {size} px", fill="black")
            sheet.paste(crop, (x, y + LABEL))
    sheet.save(args.output, quality=88)


if __name__ == "__main__":
    main()
