"""The training commands of the CLI: ``styletransfer train | resume | compare`` (and the
``train_transfer.py`` shell, which takes the same options).

``train --style A.jpg --style B.jpg ... --out runs/bank`` trains one network per painting as a
bank (styletransfer.training.bank: one process, one stream of photos) into
``runs/bank/<painting file stem>/``, each a normal run folder, and ``resume runs/bank`` continues
the bank; one ``--style`` trains into ``--out`` itself, as always. The bank's own options
(``--device-cache``, ``--read-losses-every``) come from :class:`~styletransfer.training.BankOptions`
the same way.

Their options are generated from the fields of :class:`~styletransfer.training.TrainingConfig`:
each field ``some_name`` becomes ``--some-name`` with the field's type (``bool``: ``--x`` /
``--no-x``; a list: a comma list), its default, and as help its ``metadata["help"]`` or the
docstring written under it. A new field therefore gets its option without any change here;
the tables below only add what a type cannot say (short flags, choices, metavars, groups). A
field with ``metadata["option"] = False`` gets none: the trainer fills it in (``init_stages``,
from the init model).
Options that are not given keep the dataclass's defaults.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
import textwrap
import types
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from styletransfer.core.device import DEVICE_NAMES, PRECISIONS
from styletransfer.evaluation.variants import DEFAULT_SEEDS, compare
from styletransfer.models.transformer import NORM_NAMES, VARIANTS
from styletransfer.training import (BankOptions, BankResult, BankUpdate, ProgressUpdate, RunResult, TrainingConfig,
                                    is_bank, resume_bank, resume_training, train, train_bank)
from styletransfer.training.distributed import torchrun_environment
from styletransfer.apps.cli.common import note_emulated_precision

NORM_ABBREVIATIONS = {"bn": "batch", "in": "instance"}

FLAGS: dict[str, tuple[str, ...]] = {"out_dir": ("--out", "--out-dir")}
"""Flags of fields whose option is not simply ``--field-name``."""
CHOICES: dict[str, tuple[str, ...]] = {
    "norm": (*NORM_NAMES, *NORM_ABBREVIATIONS),
    "device": DEVICE_NAMES,
    "precision": ("auto", *PRECISIONS),
}
CONVERTERS: dict[str, Callable[[str], Any]] = {"norm": lambda text: NORM_ABBREVIATIONS.get(text, text)}
METAVARS = {"style": "PAINTING", "out_dir": "runs/NAME", "images": "DIR", "coco_root": "DIR",
            "coco_annotations": "FILE", "image_size": "PX", "style_size": "PX", "epochs": "E", "teacher": "MODEL",
            "init": "MODEL"}
HELP = {
    "norm": "normalization layers: batch (bn) or instance (in)",
    "attention": "attention block in each residual block (srm, se, none, ...)",
    "epochs": "passes over the data (default: 2, when --steps is not given)",
    "content_weight": "weight of the content loss", "style_weight": "weight of the style loss",
    "tv_weight": "weight of the total-variation loss",
    "content_layers": "VGG19 layers of the content loss", "style_layers": "VGG19 layers of the style loss",
    "seed": "random seed (weights, data order, crops)", "device": "where to train",
    "checkpoint_every": "write a checkpoint every N steps (0: only at the end and when stopped)",
    "val_every": "validate on the held-out images every N steps (0: only at the end)",
    "preview_every": "write a preview image every N steps (0: only at the end and when stopped)",
    "title": "the painting's title (model metadata)", "artist": "the painter (model metadata)",
    "year": "the painting's year (model metadata)", "licence": "the painting's licence (model metadata)",
}
"""Help for fields that carry no docstring of their own."""
GROUPS = {
    "data": ("style", "images", "coco_root", "coco_annotations", "coco_categories", "max_images", "image_size",
             "style_size", "val_images", "workers"),
    "network": ("norm", "attention", "width", "residual_blocks", "init", "teacher", "distill_weight",
                "distill_palette_weight", "distill_feature_weight", "distill_feature_layers"),
    "length and optimization": ("steps", "epochs", "batch_size", "lr", "content_weight", "style_weight",
                                "tv_weight", "content_layers", "style_layers", "style_layer_weights", "seed", "device",
                                "precision"),
    "output": ("out_dir", "checkpoint_every", "val_every", "preview_every"),
    "model metadata": ("name", "title", "artist", "year", "licence"),
}
OTHER_GROUP = "other options"
BANK_GROUP = "bank (several --style, and compare)"
EXIT_DIVERGED = 3
"""The exit code of a diverged training (styletransfer.apps.cli.EXIT_DIVERGED)."""
REQUIRED_TO_START = ("style", "out_dir")
"""Fields without a default: required to start a run (not to resume one)."""


def field_docstrings(cls: type) -> dict[str, str]:
    """The docstring written under each field of a dataclass (one line each), read from its
    source; empty when the source is not available."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _comma_list(item_type: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return [item_type(item.strip()) for item in text.split(",") if item.strip()]
    parse.__name__ = f"comma list of {getattr(item_type, '__name__', 'values')}"
    return parse


def _option_kind(hint: Any) -> tuple[Callable[[str], Any] | None, str]:
    """(converter, kind) for a field's type, kind being "flag" (``bool``), "list" (``list[X]``,
    given as a comma list) or "value"; ``X | None`` is taken as X, other types as text."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        hint = options[0] if len(options) == 1 else str
    if hint is bool:
        return None, "flag"
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (str,)
        return _comma_list(item if item in (int, float, str) else str), "list"
    if hint in (int, float, str):
        return hint, "value"
    return str, "value"


def _literal_choices(hint: Any) -> tuple[Any, ...] | None:
    for candidate in (hint, *typing.get_args(hint)):
        if typing.get_origin(candidate) is typing.Literal:
            return typing.get_args(candidate)
    return None


def _default_text(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f" (default: {'on' if value else 'off'})"
    if isinstance(value, list):
        return f" (default: {','.join(map(str, value))})"
    return f" (default: {value})"


def _add_field_option(group: argparse._ArgumentGroup, field: dataclasses.Field, hint: Any, docs: dict[str, str],
                      *, repeatable: bool = False) -> None:
    """The option of one dataclass field (see the module docs); ``repeatable``: given several
    times, it collects a list."""
    converter, kind = _option_kind(hint)
    help_text = field.metadata.get("help") or docs.get(field.name) or HELP.get(field.name, "")
    help_text = help_text.replace("%", "%%") + _default_text(field)
    if repeatable:
        help_text += " (give it several times for several)"
    flags = FLAGS.get(field.name, (f"--{field.name.replace('_', '-')}",))
    options: dict[str, Any] = dict(dest=field.name, default=argparse.SUPPRESS, help=help_text or None)
    if kind == "flag":
        options["action"] = argparse.BooleanOptionalAction
    else:
        options["type"] = CONVERTERS.get(field.name, converter)
        if repeatable:
            options["action"] = "append"
        choices = CHOICES.get(field.name) or _literal_choices(hint)
        if choices is not None:
            options["choices"] = choices
        default_metavar = {"list": "LIST"}.get(kind) or {int: "N", float: "X"}.get(converter)
        if field.name in METAVARS or default_metavar:
            options["metavar"] = METAVARS.get(field.name, default_metavar)
    group.add_argument(*flags, **options)


def add_training_options(parser: argparse.ArgumentParser, *, exclude: tuple[str, ...] = (),
                         repeatable: tuple[str, ...] = ()) -> None:
    """An option for every TrainingConfig field not in ``exclude`` nor marked ``option: False``
    (see the module docs); those in ``repeatable`` may be given several times (a list). Unset
    options are left out of the parsed namespace (``argparse.SUPPRESS``)."""
    hints = typing.get_type_hints(TrainingConfig)
    docs = field_docstrings(TrainingConfig)
    groups = {title: parser.add_argument_group(title) for title in (*GROUPS, OTHER_GROUP)}
    for field in dataclasses.fields(TrainingConfig):
        if field.name in exclude or not field.init or not field.metadata.get("option", True):
            continue
        title = next((title for title, names in GROUPS.items() if field.name in names), OTHER_GROUP)
        _add_field_option(groups[title], field, hints[field.name], docs, repeatable=field.name in repeatable)
    for group in groups.values():
        if not group._group_actions:  # an empty group would print an empty heading
            parser._action_groups.remove(group)


def add_bank_options(parser: argparse.ArgumentParser) -> None:
    """An option for every BankOptions field (a bank's own options), in their own group."""
    hints = typing.get_type_hints(BankOptions)
    docs = field_docstrings(BankOptions)
    group = parser.add_argument_group(BANK_GROUP)
    for field in dataclasses.fields(BankOptions):
        _add_field_option(group, field, hints[field.name], docs)


def given_bank_options(args: argparse.Namespace) -> list[str]:
    """The BankOptions given on the command line (as field names)."""
    names = {field.name for field in dataclasses.fields(BankOptions)}
    return sorted(name for name in vars(args) if name in names)


def bank_options_from_args(args: argparse.Namespace) -> BankOptions:
    return BankOptions(**{name: getattr(args, name) for name in given_bank_options(args)})


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser,
                     **fixed: Any) -> TrainingConfig:
    """The TrainingConfig of the given options (and ``fixed`` values); the others keep their
    defaults. Exits through ``parser.error`` when a required one is missing."""
    names = {field.name for field in dataclasses.fields(TrainingConfig)}
    given = {name: value for name, value in vars(args).items() if name in names}
    given.update(fixed)
    missing = [name for name in REQUIRED_TO_START if name not in given]
    if missing:
        flags = " and ".join(FLAGS.get(name, (f"--{name}",))[0] for name in missing)
        parser.error(f"{flags} {'is' if len(missing) == 1 else 'are'} required"
                     + (" (or --resume runs/NAME)" if "train" in parser.prog.split()[-1] else ""))
    if given.get("steps") is not None and given.get("epochs") is not None:
        parser.error("give --steps or --epochs, not both")
    return TrainingConfig(**given)


def given_training_options(args: argparse.Namespace) -> list[str]:
    """The TrainingConfig options given on the command line (as field names)."""
    names = {field.name for field in dataclasses.fields(TrainingConfig)}
    return sorted(name for name in vars(args) if name in names)


class ProgressBar:
    """A tqdm bar per run: step, images/s and the running losses."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.run: str | None = None

    def __call__(self, update: ProgressUpdate) -> None:
        if self.bar is None or update.run != self.run:
            self.close()
            self.run = update.run
            self.bar = tqdm(total=update.total_steps, initial=update.step, desc=update.run, unit="step",
                            dynamic_ncols=True)
        self.bar.update(update.step - self.bar.n)
        losses = update.losses
        self.bar.set_postfix_str(f"{update.images_per_second:.1f} img/s  content {losses['content']:.4g}  "
                                 f"style {losses['style']:.4g}  tv {losses['tv']:.3g}"
                                 + "".join(f"  {key} {losses[key]:.4g}" for key in ("color", "distill")
                                           if losses.get(key))
                                 + f"  total {losses['total']:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class BankProgressBar:
    """One tqdm bar for a bank: its step, images per second (all networks) and how many networks
    train, finished and diverged."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, update: BankUpdate) -> None:
        if self.bar is None or self.bar.total != update.total_steps:
            self.close()
            self.bar = tqdm(total=update.total_steps, initial=update.step, desc="bank", unit="step",
                            dynamic_ncols=True)
        self.bar.update(max(0, update.step - self.bar.n))
        self.bar.set_postfix_str(f"{update.images_per_second:.1f} img/s  {update.training} training, "
                                 f"{update.finished} done, {update.diverged} diverged")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def report_bank(result: BankResult, resume_hint: str) -> int:
    """The end-of-bank summary, one line per network; returns the exit code (0 done, 3 a network
    diverged, 130 stopped)."""
    for name, run in result.runs.items():
        if name in result.diverged:
            print(f"error: {result.diverged[name]}", file=sys.stderr)
        elif run.completed:
            print(f"{name}: done, {run.step} steps, total loss {run.final_losses.get('total', float('nan')):.4g}, "
                  f"model: {run.model_path}")
        else:
            print(f"{name}: stopped at step {run.step}/{run.total_steps}")
    print(f"bank: {len(result.runs)} networks, {result.images_per_second:.1f} images/s in all")
    if result.diverged:
        return EXIT_DIVERGED
    if not result.completed:
        if result.bank_dir is not None:
            print(f"interrupted; resume with {resume_hint} {result.bank_dir}", file=sys.stderr)
        return 130
    return 0


def report(result: RunResult, resume_hint: str) -> None:
    """The end-of-run summary (rank 0 only)."""
    if not result.completed:
        print(f"interrupted at step {result.step}/{result.total_steps}; resume with {resume_hint} {result.run_dir}",
              file=sys.stderr)
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


def _one_line_warnings() -> None:
    warnings.formatwarning = lambda message, *_: f"warning: {message}\n"


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """``train``: one training run (or ``--resume RUN`` to continue one)."""
    parser = commands.add_parser("train", help="train a style network for one painting (or a bank for several)",
                                 description="Train a feed-forward style transfer network. Under torchrun "
                                             "--nproc_per_node=N it trains on N processes (DDP). Several --style "
                                             "train one network per painting in one process (a bank) into "
                                             "OUT/<painting file stem>/.")
    add_training_options(parser, repeatable=("style",))
    add_bank_options(parser)
    parser.add_argument("--resume", metavar="runs/NAME",
                        help="continue a stopped run (or bank) with its stored options (only --steps may change it)")
    parser.set_defaults(handler=run_train, parser=parser)


def add_resume_command(commands: argparse._SubParsersAction) -> None:
    """``resume RUN [--steps N]``."""
    parser = commands.add_parser("resume", help="continue a stopped training run exactly",
                                 description="Continue a stopped, interrupted or killed run from its last "
                                             "checkpoint, with its stored options.")
    parser.add_argument("resume", metavar="RUN_DIR", help="the run folder (runs/NAME), or a bank's folder")
    parser.add_argument("--steps", type=int, metavar="N", help="train to this many steps in all (longer or shorter)")
    parser.set_defaults(handler=run_resume, parser=parser)


def add_compare_command(commands: argparse._SubParsersAction) -> None:
    """``compare``: several network variants on identical data, then a plot and tables."""
    parser = commands.add_parser("compare", help="train network variants on identical data and compare them",
                                 description="Train network variants with the same seed, data and settings into "
                                             "OUT/<variant>/, then write OUT/comparison.png, .md and .csv. "
                                             "Running it again continues: finished variants are kept.")
    add_training_options(parser, exclude=("norm", "attention"))  # each variant sets its own
    add_bank_options(parser)
    parser.add_argument("--variants", type=_comma_list(str), default=["bn", "bn+srm"], metavar="LIST",
                        help=f"comma list of {', '.join(VARIANTS)} (default: bn,bn+srm)")
    parser.add_argument("--seeds", type=_comma_list(int), metavar="LIST",
                        help="comma list of seeds, each variant trained once per seed "
                             f"(default {','.join(map(str, DEFAULT_SEEDS))}; --seed S: that one seed)")
    parser.set_defaults(handler=run_compare, parser=parser)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``train``, ``resume`` and ``compare``."""
    add_train_command(commands)
    add_resume_command(commands)
    add_compare_command(commands)


def _progress() -> ProgressBar | None:
    """A progress bar on the process that reports (rank 0 under torchrun), else None."""
    return ProgressBar() if torchrun_environment()[0] == 0 else None


def _resume_hint(args: argparse.Namespace) -> str:
    return "--resume" if args.parser.prog.startswith("train_transfer") else "styletransfer resume"


def run_train(args: argparse.Namespace) -> int:
    _one_line_warnings()
    if args.resume:
        extra = [name for name in given_training_options(args) + given_bank_options(args) if name != "steps"]
        if extra:
            args.parser.error(f"--resume takes only --steps (the run keeps its stored options), not "
                              f"{', '.join('--' + name.replace('_', '-') for name in extra)}")
        return run_resume(args)
    if torchrun_environment()[0] == 0:
        note_emulated_precision(getattr(args, "device", None), getattr(args, "precision", None))
    styles = getattr(args, "style", None) or []
    if len(styles) > 1:
        return run_train_bank(args, styles)
    if given_bank_options(args):
        args.parser.error(f"{', '.join('--' + name.replace('_', '-') for name in given_bank_options(args))} "
                          "apply to a bank: give --style once per painting, several times")
    config = config_from_args(args, args.parser, **({"style": styles[0]} if styles else {}))
    return _run_with_progress(args, lambda progress: train(config, progress=progress))


def run_train_bank(args: argparse.Namespace, styles: list[str]) -> int:
    """Several --style: one network per painting, as a bank, into OUT/<painting file stem>/."""
    for name in ("name", "title"):
        if name in vars(args):
            args.parser.error(f"--{name} names one painting; with several --style each network is named after its "
                              "painting's file")
    stems = [Path(style).stem for style in styles]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        args.parser.error(f"two paintings share the file name {repeated[0]}: each network's folder is named "
                          "after its painting's file")
    template = config_from_args(args, args.parser, style=styles[0])
    out = Path(template.out_dir)
    configs = [dataclasses.replace(template, style=style, out_dir=str(out / stem))
               for style, stem in zip(styles, stems)]
    progress = BankProgressBar() if torchrun_environment()[0] == 0 else None
    try:
        result = train_bank(configs, options=bank_options_from_args(args), bank_dir=out, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    return report_bank(result, _resume_hint(args))


def run_resume(args: argparse.Namespace) -> int:
    _one_line_warnings()
    if is_bank(args.resume):
        progress = BankProgressBar()
        try:
            result = resume_bank(args.resume, steps=getattr(args, "steps", None), progress=progress)
        finally:
            progress.close()
        return report_bank(result, _resume_hint(args))
    return _run_with_progress(args, lambda progress: resume_training(args.resume, steps=getattr(args, "steps", None),
                                                                     progress=progress))


def _run_with_progress(args: argparse.Namespace, start: Callable[[ProgressBar | None], RunResult]) -> int:
    """Run ``start`` with a progress bar (on the reporting process), then report its result;
    the exit code: 0 done, 130 stopped."""
    progress = _progress()
    try:
        result = start(progress)
    finally:
        if progress is not None:
            progress.close()
    if progress is not None:
        report(result, _resume_hint(args))
    return 0 if result.completed else 130


def run_compare(args: argparse.Namespace) -> int:
    _one_line_warnings()
    if args.seeds is not None and "seed" in vars(args):
        args.parser.error("give --seeds or --seed, not both")
    seeds = args.seeds if args.seeds is not None else [args.seed] if "seed" in vars(args) else list(DEFAULT_SEEDS)
    config = config_from_args(args, args.parser)
    progress = BankProgressBar() if torchrun_environment()[0] == 0 else None
    try:
        result = compare(config, args.variants, seeds, progress=progress, options=bank_options_from_args(args))
    finally:
        if progress is not None:
            progress.close()
    if progress is not None:
        if result.completed:
            print(f"comparison: {result.plot}, {result.table_md}, {result.table_csv}")
        else:
            print("interrupted; run the same command again to continue", file=sys.stderr)
    return 0 if result.completed else 130
