"""Distil the slim twins again from their fine-tuned full models (finetune.py; Wheat Field with
Cypresses is left out, its fine-tune was not shipped), on the CPU.

Each ``<name>_slim`` starts from its shipped weights (``init``) and learns its new teacher's
outputs with the teacher alone, as docs/slim.md made them: pixel MSE 1e8 plus the palette
distance to the teacher's output 3e9, no content, style or colour loss (so no VGG), batch 8 at
256 px, lr 3e-4; ``the_kiss_slim`` with its own recipe (docs/slim.md, "the_kiss_slim needed the
painting back"). Run from the repository root, after finetune.py:

    .venv/bin/python docs/ab/cpu-finetune/distill_slim.py TEACHERS_DIR OUT_DIR [STEPS]

TEACHERS_DIR holds the fine-tuned full models as published (``<name>.safetensors``).
"""
import sys
from pathlib import Path

from styletransfer.core.device import keep_freed_memory
from styletransfer.training.config import TrainingConfig
from styletransfer.training.runs import resume_training, train

keep_freed_memory()  # as the CLI does: about 30 % faster on this CPU (docs/training.md)

NAMES = ["starry_night", "the_scream", "great_wave", "the_kiss", "composition_viii", "night_cafe",
         "irises", "moulin_de_la_galette",
         "starry_night_bn", "the_scream_bn", "great_wave_bn"]


def slim_config(name: str, run_dir: Path, teacher: str | Path, steps: int) -> TrainingConfig:
    """The distillation of ``<name>_slim`` from ``teacher``, starting from its shipped weights."""
    slim = f"{name}_slim"
    recipe = dict(content_weight=0.0, style_weight=0.0, color_weight=0.0, batch_size=8, lr=3e-4)
    if name == "the_kiss":
        recipe = dict(content_weight=0.0, style_weight=0.0, color_weight=1e9, distill_weight=5e8,
                      image_size=384, batch_size=4, lr=1e-4)
    return TrainingConfig(
        style=f"styles/{name}.jpg", out_dir=str(run_dir), images=".gpu/session/photos",
        norm="batch", attention="none" if name.endswith("_bn") else "srm", width=12, residual_blocks=3,
        init=slim, teacher=str(teacher), steps=steps, seed=1, workers=1,
        val_images=0, val_every=0, preview_every=0, checkpoint_every=20, name=slim, **recipe)


def main() -> None:
    teachers, out = Path(sys.argv[1]), Path(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    for name in NAMES:
        slim = f"{name}_slim"
        if (out / slim / "model.safetensors").is_file():
            continue
        config = slim_config(name, out / slim, teachers / f"{name}.safetensors", steps)
        # A stopped run continues from its own stored config (credits included), not this one.
        resumable = (out / slim / "checkpoint.pt").is_file()
        result = resume_training(out / slim) if resumable else train(config)
        print(slim, f"{result.images_per_second:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
