"""Fine-tune every shipped full-size style (the nine BN+SRM networks and the three BN twins) on
the CPU with the recipe the Great Wave sweep chose (docs/ab/cpu-sweep/README.md: content weight
20, style layers relu1_1, relu2_1, relu3_1, i.e. no relu4_1, whose Gram matrices painted the rings
and blotches), one network after another.

Not as one bank: on this 2-core CPU a bank of the twelve ran at 0.74 images/s in all (a step of
48 images took 65 s, the process at 100 % system time and 14.5 GB resident: page faults of its
large fresh tensors), a lone run at 1.4 images/s.
(Session 12: this script then ran without keep_freed_memory(), which the CLI calls and which cut
a lone fine-tune's system time from 15-20 s to 4 s per 12 steps, about 30 % faster; the bank's
100 % system time was probably the same cause, not measured again. It calls it now.)

The judge photos (every 12th photo by name) are not in .gpu/session/photos (``python3
benchmarks/gpu_session.py prepare`` leaves them out). Run from the repository root:

    .venv/bin/python docs/ab/cpu-finetune/finetune.py OUT_DIR [STEPS]

Every network starts from its shipped weights (``init``) and keeps its norm and attention; the
BN twins get exactly the same images, steps and recipe as their BN+SRM styles.
"""
import sys
from pathlib import Path

from styletransfer.core.device import keep_freed_memory
from styletransfer.training.config import TrainingConfig
from styletransfer.training.runs import resume_training, train

keep_freed_memory()  # as the CLI does: about 30 % faster on this CPU (docs/training.md)

STYLES = ["composition_viii", "great_wave", "irises", "moulin_de_la_galette", "night_cafe",
          "starry_night", "the_kiss", "the_scream", "wheat_field_with_cypresses"]
TWINS = ["great_wave_bn", "starry_night_bn", "the_scream_bn"]


def finetune_config(style: str, run_dir: Path, steps: int, *, name: str | None = None,
                    init: str | None = None, **changes) -> TrainingConfig:
    """The CPU fine-tune of the shipped ``style`` from its shipped weights, or from ``init`` (a
    model file, e.g. a snapshot of an earlier stage) (``changes``: recipe fields over this one, as
    the probes in docs/ab/cpu-probes use)."""
    recipe = dict(content_weight=20.0, style_layers=["relu1_1", "relu2_1", "relu3_1"], style_size=512) | changes
    return TrainingConfig(
        style=f"styles/{style}.jpg", out_dir=str(run_dir), images=".gpu/session/photos",
        norm="batch", attention="none" if style.endswith("_bn") else "srm", init=init or style,
        steps=steps, batch_size=4, lr=2e-4, seed=1, workers=1,
        val_images=0, val_every=0, preview_every=0, checkpoint_every=25, name=name or style, **recipe)


def run_probes(style: str, recipes: dict[str, dict], names: list[str], out: Path, steps: int = 100) -> None:
    """Fine-tune ``style`` once per probe in ``names`` (each a recipe change from ``recipes``, on
    top of :func:`finetune_config`) into ``out/STYLE-PROBE``: a finished probe is skipped, a
    stopped one resumes from its checkpoint (docs/ab/cpu-probes and docs/ab/cpu-artefacts)."""
    for probe in names:
        run_dir = out / f"{style}-{probe}"
        if (run_dir / "model.safetensors").is_file():
            continue
        config = finetune_config(style, run_dir, steps, name=f"{style}-{probe}", **recipes[probe])
        result = resume_training(run_dir) if (run_dir / "checkpoint.pt").is_file() else train(config)
        print(style, probe, f"{result.images_per_second:.2f} img/s", flush=True)


def main() -> None:
    out = Path(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for name in STYLES + TWINS:
        if (out / name / "model.safetensors").is_file():
            continue
        config = finetune_config(name, out / name, steps)
        # A stopped run continues from its own stored config (credits included), not this one.
        resumable = (out / name / "checkpoint.pt").is_file()
        result = resume_training(out / name) if resumable else train(config)
        print(name, f"{result.images_per_second:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
