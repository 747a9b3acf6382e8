"""Train a style network for one painting, or compare network variants.

    python train_transfer.py --style PAINTING.jpg --images DIR --out runs/NAME [options]
    python train_transfer.py --style PAINTING.jpg --coco-root COCO --out runs/NAME [options]
    python train_transfer.py --resume runs/NAME [--steps N]
    python train_transfer.py compare --style PAINTING.jpg --images DIR --variants bn,bn+srm \\
        --seeds 0,1,2 --steps N --out runs/NAME

Under ``torchrun --nproc_per_node=N`` the same commands train on N processes (DDP).
Everything here is argument parsing and printing; the work is in styletransfer.training.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from tqdm import tqdm

from styletransfer.attention import ATTENTION_NAMES
from styletransfer.checkpoint import CheckpointError
from styletransfer.device import DEVICE_NAMES, PRECISIONS, keep_freed_memory
from styletransfer.network import NORM_NAMES, VARIANTS
from styletransfer.runlog import RunDirError
from styletransfer.training import (DEFAULT_SEEDS, ProgressUpdate, RunResult, TrainingConfig, TrainingError,
                                    compare, resume_training, train)

_ABBREVIATIONS = {"bn": "batch", "in": "instance"}


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _seed_list(text: str) -> list[int]:
    try:
        return [int(item) for item in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers separated by commas, not {text!r}") from None


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by a single run and a comparison."""
    defaults = TrainingConfig(style="", out_dir="")
    data = parser.add_argument_group("data")
    data.add_argument("--style", help="the painting (an image file)")
    data.add_argument("--images", metavar="DIR", help="folder of training photos (searched recursively)")
    data.add_argument("--coco-root", metavar="DIR", help="MS-COCO folder with train2014/ or train2017/ and annotations/")
    data.add_argument("--coco-annotations", metavar="FILE", help="a COCO instances_*.json file")
    data.add_argument("--coco-categories", type=_comma_list, metavar="LIST", help="e.g. person,dog")
    data.add_argument("--max-images", type=int, metavar="N", help="use only the first N images")
    data.add_argument("--image-size", type=int, default=defaults.image_size, metavar="PX",
                      help="training crop size (default %(default)s)")
    data.add_argument("--style-size", type=int, metavar="PX",
                      help="longest side of the painting for the style loss (default: its own, at most 512)")
    data.add_argument("--val-images", type=int, metavar="N",
                      help="held-out images for validation and previews (default: 10%%, 1 to 8)")
    data.add_argument("--workers", type=int, metavar="N", help="data loading processes (default: CPUs - 1, at most 4)")
    length = parser.add_argument_group("length and optimisation").add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="optimiser steps")
    length.add_argument("--epochs", type=int, metavar="E", help="passes over the data (default 2)")
    optimise = parser.add_argument_group("optimisation")
    optimise.add_argument("--batch-size", type=int, default=defaults.batch_size,
                          help="images per step over all processes (default %(default)s)")
    optimise.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate (default %(default)s)")
    optimise.add_argument("--content-weight", type=float, default=defaults.content_weight)
    optimise.add_argument("--style-weight", type=float, default=defaults.style_weight)
    optimise.add_argument("--tv-weight", type=float, default=defaults.tv_weight)
    optimise.add_argument("--content-layers", type=_comma_list, default=defaults.content_layers, metavar="LIST")
    optimise.add_argument("--style-layers", type=_comma_list, default=defaults.style_layers, metavar="LIST")
    optimise.add_argument("--seed", type=int, default=defaults.seed)
    optimise.add_argument("--device", default=defaults.device, choices=DEVICE_NAMES)
    optimise.add_argument("--precision", default=defaults.precision, choices=("auto", *PRECISIONS))
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="runs/NAME", help="the run folder")
    output.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="N")
    output.add_argument("--val-every", type=int, default=defaults.val_every, metavar="N")
    output.add_argument("--preview-every", type=int, default=defaults.preview_every, metavar="N")
    about = parser.add_argument_group("model metadata")
    for name in ("name", "title", "artist", "year", "licence"):
        about.add_argument(f"--{name}")


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TrainingConfig:
    if not args.style or not args.out:
        parser.error("--style and --out are required (or --resume runs/NAME)")
    return TrainingConfig(
        style=args.style, out_dir=args.out, images=args.images, coco_root=args.coco_root,
        coco_annotations=args.coco_annotations, coco_categories=args.coco_categories,
        max_images=args.max_images, norm=_ABBREVIATIONS.get(args.norm, args.norm), attention=args.attention,
        steps=args.steps, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, content_layers=args.content_layers,
        style_layers=args.style_layers, style_size=args.style_size, image_size=args.image_size, seed=args.seed,
        device=args.device, precision=args.precision, workers=args.workers, val_images=args.val_images,
        checkpoint_every=args.checkpoint_every, val_every=args.val_every, preview_every=args.preview_every,
        name=args.name, title=args.title, artist=args.artist, year=args.year, licence=args.licence,
    )


class _ProgressBar:
    """A tqdm bar per run: step, images/s and the running losses."""

    def __init__(self) -> None:
        self.bar = None
        self.run = None

    def __call__(self, update: ProgressUpdate) -> None:
        if self.bar is None or update.run != self.run:
            self.close()
            self.run = update.run
            self.bar = tqdm(total=update.total_steps, initial=update.step, desc=update.run, unit="step",
                            dynamic_ncols=True)
        self.bar.update(update.step - self.bar.n)
        losses = update.losses
        self.bar.set_postfix_str(f"{update.images_per_second:.1f} img/s  content {losses['content']:.4g}  "
                                 f"style {losses['style']:.4g}  tv {losses['tv']:.3g}  total {losses['total']:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _report(result: RunResult) -> None:
    """The end-of-run summary (rank 0 only)."""
    if not result.completed:
        print(f"interrupted at step {result.step}/{result.total_steps}; "
              f"resume with --resume {result.run_dir}", file=sys.stderr)
        return
    losses = "  ".join(f"{key} {value:.4g}" for key, value in result.final_losses.items())
    print(f"done: {result.step} steps, {result.images_per_second:.1f} images/s, final losses: {losses}")
    if result.final_val_losses:
        print(f"validation total loss: {result.final_val_losses['total']:.4g}")
    print(f"skipped files: {len(result.skipped)}")
    for path, problem in result.skipped[:10]:
        print(f"  {path}: {problem}")
    print(f"model: {result.model_path}")
    print(f"run folder: {result.run_dir} (metrics.csv, val.csv, previews/, curves.png, checkpoint.pt)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    warnings.formatwarning = lambda message, *_: f"warning: {message}\n"
    # Under torchrun only rank 0 reports.
    progress = _ProgressBar() if os.environ.get("RANK", "0") == "0" else None
    try:
        if argv[:1] == ["compare"]:
            parser = argparse.ArgumentParser(prog="train_transfer.py compare",
                                             description="Train network variants on identical data and compare them.")
            _add_training_options(parser)
            parser.add_argument("--variants", type=_comma_list, default=["bn", "bn+srm"],
                                help=f"comma list of {', '.join(VARIANTS)}; the first is the baseline of the "
                                     "table's differences (default bn,bn+srm)")
            parser.add_argument("--seeds", type=_seed_list, metavar="LIST",
                                help="comma list of seeds, each variant trained once per seed "
                                     f"(default {','.join(map(str, DEFAULT_SEEDS))}; --seed S: that one seed)")
            parser.set_defaults(norm="batch", attention="srm", seed=None)  # each variant and seed sets its own
            args = parser.parse_args(argv[1:])
            if args.seeds is not None and args.seed is not None:
                parser.error("give --seeds or --seed, not both")
            seeds = args.seeds if args.seeds is not None else [args.seed] if args.seed is not None else list(DEFAULT_SEEDS)
            args.seed = seeds[0] if seeds else 0
            result = compare(_config(args, parser), args.variants, seeds, progress=progress)
            if progress is not None:
                progress.close()
                if result.completed:
                    print(f"comparison: {result.plot}, {result.table_md}, {result.table_csv}")
                else:
                    print("interrupted; run the same command again to continue", file=sys.stderr)
            return 0 if result.completed else 130
        parser = argparse.ArgumentParser(description="Train a feed-forward style transfer network.")
        _add_training_options(parser)
        parser.add_argument("--norm", default="batch", choices=(*NORM_NAMES, *_ABBREVIATIONS))
        parser.add_argument("--attention", default="srm", choices=ATTENTION_NAMES)
        parser.add_argument("--resume", metavar="runs/NAME",
                            help="continue a stopped run with its stored options (only --steps may change it)")
        args = parser.parse_args(argv)
        if args.resume:
            result = resume_training(args.resume, steps=args.steps, progress=progress)
        else:
            result = train(_config(args, parser), progress=progress)
        if progress is not None:
            progress.close()
            _report(result)
        return 0 if result.completed else 130
    except (TrainingError, CheckpointError, RunDirError) as error:
        if progress is not None:
            progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        print("interrupted; resume from the last checkpoint with --resume (or rerun a comparison)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
