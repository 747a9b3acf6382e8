"""Distil every shipped slim twin again from its shipped full model: the four still distilled from
the previous full models 150 steps, the seven distilled 40-60 steps last session 100 more
(session 12; the same recipe as distill_slim.py). Run from the repository root:

    .venv/bin/python docs/ab/cpu-finetune/distill_slim_more.py [OUT_DIR]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_slim import slim_config  # noqa: E402  (also calls keep_freed_memory())
from styletransfer.training.runs import resume_training, train  # noqa: E402

PLAN = [("moulin_de_la_galette", 150), ("starry_night_bn", 150), ("the_scream_bn", 150), ("great_wave_bn", 150),
        ("starry_night", 100), ("the_scream", 100), ("great_wave", 100), ("composition_viii", 100),
        ("night_cafe", 100), ("irises", 100), ("the_kiss", 100)]
out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/explore/slim4")
for name, steps in PLAN:
    run = out / f"{name}_slim"
    if (run / "model.safetensors").is_file():
        continue
    config = slim_config(name, run, f"styles/{name}.safetensors", steps)
    result = resume_training(run, steps=steps) if (run / "checkpoint.pt").is_file() else train(config)
    print(run.name, steps, f"{result.images_per_second:.2f} images/s", flush=True)
