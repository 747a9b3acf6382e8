"""Distil the shipped slim twins further from their shipped full models (the recipe of
distill_slim.py), each from its shipped weights, by a plan of steps per twin:

- ``session12``: the four still distilled from the previous full models 150 steps, the seven
  distilled 40-60 steps in session 11, 100 more;
- ``session13``: 300 steps more for each of the ten 256-px twins (about 9 minutes each on the
  2-core CPU), largest structure gap first, then 100 for ``the_kiss_slim`` (its own recipe,
  batch 4 at 384 px).

Run from the repository root (a stopped run continues where it stopped):

    .venv/bin/python docs/ab/cpu-finetune/distill_slim_more.py PLAN [OUT_DIR]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_slim import slim_config  # noqa: E402  (also calls keep_freed_memory())
from styletransfer.training.runs import resume_training, train  # noqa: E402

PLANS = {
    "session12": [("moulin_de_la_galette", 150), ("starry_night_bn", 150), ("the_scream_bn", 150),
                  ("great_wave_bn", 150), ("starry_night", 100), ("the_scream", 100), ("great_wave", 100),
                  ("composition_viii", 100), ("night_cafe", 100), ("irises", 100), ("the_kiss", 100)],
    "session13": [("the_scream_bn", 300), ("moulin_de_la_galette", 300), ("the_scream", 300),
                  ("great_wave_bn", 300), ("starry_night", 300), ("great_wave", 300), ("composition_viii", 300),
                  ("night_cafe", 300), ("starry_night_bn", 300), ("irises", 300), ("the_kiss", 100)],
}
plan = PLANS[sys.argv[1]]
out = Path(sys.argv[2] if len(sys.argv) > 2 else f"/tmp/explore/slim-{sys.argv[1]}")
for name, steps in plan:
    run = out / f"{name}_slim"
    if (run / "model.safetensors").is_file():
        continue
    config = slim_config(name, run, f"styles/{name}.safetensors", steps)
    result = resume_training(run, steps=steps) if (run / "checkpoint.pt").is_file() else train(config)
    print(run.name, steps, f"{result.images_per_second:.2f} images/s", flush=True)
