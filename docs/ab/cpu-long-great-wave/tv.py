"""Session 34's second stage for The Great Wave (issue #23): a style-weight-30 snapshot of
``../cpu-long/long.py`` fine-tuned on with the TV weight raised (the first stage's 400 steps drew a
strong diagonal hatching at 2×, which the TV term damps). Same recipe as the first stage
(``../cpu-finetune/finetune.py``'s, style weight 30) but for the TV weight, from the snapshot's
weights. Run from the repository root (run it again to continue a stopped run):

    .venv/bin/python docs/ab/cpu-long-great-wave/tv.py STYLE SNAPSHOT RUN_DIR STEPS TV_WEIGHT
"""
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import finetune_config  # noqa: E402  (also calls keep_freed_memory())

from styletransfer.training.runs import resume_training, train  # noqa: E402


def main() -> None:
    style, snapshot, run_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    steps, tv_weight = int(sys.argv[4]), float(sys.argv[5])
    if (run_dir / "checkpoint.pt").is_file():
        result = resume_training(run_dir, steps=steps)
    else:
        config = finetune_config(style, run_dir, steps, name=f"{style}-sw30-tv{tv_weight:g}",
                                 style_weight=30.0, tv_weight=tv_weight)
        result = train(dataclasses.replace(config, init=snapshot))
    print(f"{style} {steps} steps at TV {tv_weight:g}: {result.images_per_second:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
