"""Recipe probes (session 12): fine-tune a shipped style 100 steps x batch 4 from its shipped
weights with one recipe change each (on top of the shipped recipe: content 20, relu1_1/2_1/3_1).
Run from the repository root:

    .venv/bin/python docs/ab/cpu-probes/probe.py STYLE colour10x,style4x,c5 [OUT_DIR]

OUT_DIR defaults to /tmp/explore/ft; each probe goes to OUT_DIR/STYLE-PROBE."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import run_probes  # noqa: E402  (also calls keep_freed_memory())

RECIPES = {
    "colour10x": dict(color_weight=3e8),
    "style4x": dict(style_weight=40.0),
    "c5": dict(content_weight=5.0),
}

if __name__ == "__main__":
    out = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/explore/ft")
    run_probes(sys.argv[1], RECIPES, sys.argv[2].split(","), out)
