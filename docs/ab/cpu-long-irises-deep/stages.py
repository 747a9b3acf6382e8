"""Record in the shipped ``irises`` file the stages its weights went through since the shipped
file it was fine-tuned from: that file's ``stages`` (session 35: style weight 30, then TV ×4),
then this run (session 36: relu4_1 at weight 0.1), with the style layers and their weights of
each stage, since they are what changed (docs/model-format.md). ``ship.py`` does not carry stages
over; the trainer writes only the last run's recipe. Run from the repository root after
``ship.py`` and the margin, with the file shipped before (``git show REV:styles/irises.safetensors``):

    .venv/bin/python docs/ab/cpu-long-irises-deep/stages.py BEFORE.safetensors
"""
import sys
from pathlib import Path

from styletransfer.modelfiles.format import read_header, update_metadata

STAGE_FIELDS = ("steps", "batch_size", "style_weight", "tv_weight", "images_seen", "date")
SHIPPED = Path("styles/irises.safetensors")


def stage(metadata: dict, layers: dict) -> dict:
    """One stage: the fields every stage records, and the style layers (with their weights)."""
    return {**{field: metadata[field] for field in STAGE_FIELDS}, **layers}


def main() -> None:
    before, now = read_header(sys.argv[1])[1], read_header(SHIPPED)[1]
    if now.get("init") != "irises" or now["images_seen"] != before["images_seen"] + now["steps"] * now["batch_size"]:
        raise SystemExit(f"{SHIPPED} is not a fine-tune of {sys.argv[1]}")
    earlier = [{**old, "style_layers": before["style_layers"]} for old in before["stages"]]
    last = stage(now, {"style_layers": now["style_layers"], "style_layer_weights": now["style_layer_weights"]})
    update_metadata(SHIPPED, stages=[*earlier, last])


if __name__ == "__main__":
    main()
