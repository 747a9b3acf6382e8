"""Border bands (issue #23, "no border bands"): does a network draw a dark or light band along
its own edges, whatever the photo? Each photo is stylized four times, as it is, mirrored,
flipped and both, at 512 px, and each output is measured in the network's own coordinates (not
turned back): the mean luma (0-255) of the outer 8 px of each side minus that of the strip 16-32
px inside. Averaged over the four turns, what the photo puts at an edge (a sky at the top)
lands on every side equally; what the network puts at an edge stays on its side. A band shows
as one side far from the photos' own row (printed first: the same measure on the photos). Run
from the repository root:

    .venv/bin/python docs/ab/border-bands/measure.py PHOTO... > docs/ab/border-bands/bands.md

``--styles a,b`` measures only those networks; ``--margins 0,32,64`` measures each at those
reflected margins (styletransfer.inference.margin) instead of the one its model file records
(the ``margin`` column: what was used).
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageOps

from styletransfer.evaluation.evaluate import to_working_size
from styletransfer.inference.margin import recorded_margin
from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, load_catalogue, read_metadata

SIDES = ("top", "bottom", "left", "right")
TURNS = (lambda im: im, ImageOps.mirror, ImageOps.flip, lambda im: ImageOps.flip(ImageOps.mirror(im)))


def edge_steps(luma: np.ndarray) -> dict[str, float]:
    """Outer 8 px minus the 16-32 px strip inside, per side of an (H, W) luma array."""
    return {"top": luma[:8].mean() - luma[16:32].mean(), "bottom": luma[-8:].mean() - luma[-32:-16].mean(),
            "left": luma[:, :8].mean() - luma[:, 16:32].mean(),
            "right": luma[:, -8:].mean() - luma[:, -32:-16].mean()}


def mean_steps(photos: list[Image.Image], draw=lambda image: image) -> dict[str, float]:
    """:func:`edge_steps` averaged over every photo in its four turns, each through ``draw``."""
    steps = {side: [] for side in SIDES}
    for photo in photos:
        for turn in TURNS:
            luma = np.asarray(draw(turn(photo)).convert("L"), dtype=np.float64)
            for side, value in edge_steps(luma).items():
                steps[side].append(value)
    return {side: float(np.mean(values)) for side, values in steps.items()}


def shipped_networks() -> list[str]:
    """Every shipped network: the gallery's styles, the BN twins, then all their slim twins."""
    styles = [style.name for style in load_catalogue([SHIPPED_STYLES_DIR]).gallery()]
    styles += ["starry_night_bn", "the_scream_bn", "great_wave_bn"]
    return styles + [f"{name}_slim" for name in list(styles)]


def row(label: str, margin: str, steps: dict[str, float]) -> str:
    return f"| {label} | {margin} | " + " | ".join(f"{steps[side]:+.1f}" for side in SIDES) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--styles", help="comma list of networks (default: every shipped one)")
    parser.add_argument("--margins", help="comma list of margins in px (default: each model file's own)")
    args = parser.parse_args()
    photos = [to_working_size(Image.open(path).convert("RGB"), 512) for path in args.photos]
    names = args.styles.split(",") if args.styles else shipped_networks()
    margins = [int(value) for value in args.margins.split(",")] if args.margins else [None]
    print("| network | margin | " + " | ".join(SIDES) + " |")
    print("|---|---:|" + "---:|" * len(SIDES))
    print(row("*the photos themselves*", "–", mean_steps(photos)))
    for name in names:
        for margin in margins:
            used = recorded_margin(read_metadata(name)) if margin is None else margin
            print(row(f"`{name}`", str(used), mean_steps(photos, lambda image: stylize(name, image, margin=margin))),
                  flush=True)


if __name__ == "__main__":
    main()
