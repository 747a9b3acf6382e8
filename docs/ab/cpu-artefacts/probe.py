"""Artefact probes (session 18, issue #23's "no grid, rings or blotches at 2x"): fine-tune a
shipped full-size style 100 steps x batch 4 from its shipped weights with the total-variation
weight raised, everything else as the shipped recipe (docs/ab/cpu-finetune/finetune.py: content
20, style on relu1_1/2_1/3_1, TV 5e5, the 341 training photos, the judge photos left out).
The shipped TV term is ~0.3 % of the total loss (The Kiss: 3.3e3 of 1.1e6 at its last step).
Run from the repository root (a stopped probe continues from its checkpoint when run again):

    .venv/bin/python docs/ab/cpu-artefacts/probe.py STYLE tv1x,tv30x,tv100x [OUT_DIR]

OUT_DIR defaults to .gpu/artefacts (git-ignored); each probe goes to OUT_DIR/STYLE-PROBE."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import run_probes  # noqa: E402  (also calls keep_freed_memory())
from styletransfer.training.config import DEFAULT_TV_WEIGHT  # noqa: E402  (5e5)

RECIPES = {
    "tv1x": dict(),  # the control: 100 more steps of the shipped recipe, TV unchanged
    "tv30x": dict(tv_weight=30 * DEFAULT_TV_WEIGHT),
    "tv100x": dict(tv_weight=100 * DEFAULT_TV_WEIGHT),
}

if __name__ == "__main__":
    out = Path(sys.argv[3] if len(sys.argv) > 3 else ".gpu/artefacts")
    run_probes(sys.argv[1], RECIPES, sys.argv[2].split(","), out)
