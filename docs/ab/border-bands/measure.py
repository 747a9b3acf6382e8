"""Border bands (issue #23, "no border bands"): does a network draw a dark or light band along
its own edges, whatever the photo? Each photo is stylized four times, as it is, mirrored,
flipped and both, at 512 px, and each output is measured in the network's own coordinates (not
turned back): the mean luma (0-255) of the outer 8 px of each side minus that of the strip 16-32
px inside. Averaged over the four turns, what the photo puts at an edge (a sky at the top)
lands on every side equally; what the network puts at an edge stays on its side. A band shows
as one side far from 0. Run from the repository root:

    .venv/bin/python docs/ab/border-bands/measure.py PHOTO... > docs/ab/border-bands/bands.md
"""
from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageOps

from styletransfer.evaluation.evaluate import to_working_size
from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, load_catalogue

SIDES = ("top", "bottom", "left", "right")
TURNS = (lambda im: im, ImageOps.mirror, ImageOps.flip, lambda im: ImageOps.flip(ImageOps.mirror(im)))


def edge_steps(luma: np.ndarray) -> dict[str, float]:
    """Outer 8 px minus the 16-32 px strip inside, per side of an (H, W) luma array."""
    return {"top": luma[:8].mean() - luma[16:32].mean(), "bottom": luma[-8:].mean() - luma[-32:-16].mean(),
            "left": luma[:, :8].mean() - luma[:, 16:32].mean(),
            "right": luma[:, -8:].mean() - luma[:, -32:-16].mean()}


def main() -> None:
    photos = [to_working_size(Image.open(path).convert("RGB"), 512) for path in sys.argv[1:]]
    styles = [style.name for style in load_catalogue([SHIPPED_STYLES_DIR]).gallery()]
    styles += ["starry_night_bn", "the_scream_bn", "great_wave_bn"]
    styles += [f"{name}_slim" for name in list(styles)]
    print("| network | " + " | ".join(SIDES) + " |")
    print("|---|" + "---:|" * len(SIDES))
    for name in styles:
        steps = {side: [] for side in SIDES}
        for photo in photos:
            for turn in TURNS:
                luma = np.asarray(stylize(name, turn(photo)).convert("L"), dtype=np.float64)
                for side, value in edge_steps(luma).items():
                    steps[side].append(value)
        print(f"| `{name}` | " + " | ".join(f"{np.mean(steps[side]):+.1f}" for side in SIDES) + " |")


if __name__ == "__main__":
    main()
