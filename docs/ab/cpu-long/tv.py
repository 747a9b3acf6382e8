"""The second stage of a style-weight-30 fine-tune (issue #23): a snapshot of ``long.py``
fine-tuned on with the TV weight raised, which damps the diagonal hatching the first stage can
draw at 2×. Same recipe as the first stage (``../cpu-finetune/finetune.py``'s, style weight 30)
but for the TV weight, from the snapshot's weights. Written for The Great Wave in session 34
(../cpu-long-great-wave), run unchanged on The Scream and Irises in session 35
(../cpu-long-scream, ../cpu-long-irises). Run from the repository root (``run`` again continues
a stopped run):

    .venv/bin/python docs/ab/cpu-long/tv.py run STYLE SNAPSHOT RUN_DIR STEPS TV_WEIGHT

After ``../cpu-artefacts/ship.py`` has shipped the run as ``styles/STYLE.safetensors``, ``stages``
writes into that file the two stages it went through (``stages``: each one's steps, batch size,
style and TV weights, images seen and date, from the snapshot's metadata and the file's own) and
``init`` = STYLE, the shipped model the first stage started from (docs/model-format.md):

    .venv/bin/python docs/ab/cpu-long/tv.py stages STYLE SNAPSHOT

A later one-stage fine-tune of such a file (``long.py`` from the shipped weights) keeps only its
own recipe; once shipped, ``append`` writes the stages of the file it replaced (BEFORE, e.g. from
``git show REV:styles/STYLE.safetensors``) followed by its own, each with its style layers (and
their weights where set), since those may be what changed (Irises, session 36:
../cpu-long-irises-deep):

    .venv/bin/python docs/ab/cpu-long/tv.py append STYLE BEFORE

Since session 37 the trainer writes ``stages`` itself for every fine-tune (docs/model-format.md);
``stages`` and ``append`` remain for runs started before that (the shipped files' histories were
written with them; ``append`` takes BEFORE's runs as the library reads them, so a file without
``stages`` gives one entry of its own recipe).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpu-finetune"))
from finetune import finetune_config  # noqa: E402  (also calls keep_freed_memory())

from styletransfer.modelfiles.format import (read_header, training_stage, training_stages,  # noqa: E402
                                              update_metadata)
from styletransfer.training.runs import resume_training, train  # noqa: E402

STAGE_FIELDS = ("steps", "batch_size", "style_weight", "tv_weight", "images_seen", "date")
"""The fields ``stages`` wrote for the session-34/35 files (the library's STAGE_FIELDS, since
session 37, has the whole recipe); kept so that ``stages`` writes what those files hold."""


def run(style: str, snapshot: str, run_dir: Path, steps: int, tv_weight: float) -> None:
    if (run_dir / "checkpoint.pt").is_file():
        result = resume_training(run_dir, steps=steps)
    else:
        result = train(finetune_config(style, run_dir, steps, name=f"{style}-sw30-tv{tv_weight:g}",
                                       init=snapshot, style_weight=30.0, tv_weight=tv_weight))
    print(f"{style} {steps} steps at TV {tv_weight:g}: {result.images_per_second:.2f} images/s", flush=True)


def record_stages(style: str, snapshot: str) -> None:
    shipped = Path("styles") / f"{style}.safetensors"
    first, second = read_header(snapshot)[1], read_header(shipped)[1]
    if first.get("init") != style:
        raise SystemExit(f"{snapshot}: started from {first.get('init')!r}, not the shipped {style!r}")
    stages = [{field: metadata[field] for field in STAGE_FIELDS} for metadata in (first, second)]
    update_metadata(shipped, init=style, stages=stages)


def append_stage(style: str, before: str) -> None:
    shipped = Path("styles") / f"{style}.safetensors"
    old, new = read_header(before)[1], read_header(shipped)[1]
    if new.get("init") != style or new["images_seen"] != old["images_seen"] + new["steps"] * new["batch_size"]:
        raise SystemExit(f"{shipped} is not a fine-tune of {before}")
    earlier = [{**entry, "style_layers": entry.get("style_layers", old["style_layers"])}
               for entry in training_stages(old)]
    update_metadata(shipped, stages=[*earlier, training_stage(new)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="the second stage, from SNAPSHOT")
    run_parser.add_argument("style")
    run_parser.add_argument("snapshot")
    run_parser.add_argument("run_dir", type=Path)
    run_parser.add_argument("steps", type=int)
    run_parser.add_argument("tv_weight", type=float)
    stages_parser = commands.add_parser("stages", help="record both stages in the shipped file")
    stages_parser.add_argument("style")
    stages_parser.add_argument("snapshot")
    append_parser = commands.add_parser("append", help="the stages of BEFORE, then the shipped file's own")
    append_parser.add_argument("style")
    append_parser.add_argument("before")
    args = parser.parse_args()
    if args.command == "run":
        run(args.style, args.snapshot, args.run_dir, args.steps, args.tv_weight)
    elif args.command == "stages":
        record_stages(args.style, args.snapshot)
    else:
        append_stage(args.style, args.before)


if __name__ == "__main__":
    main()
