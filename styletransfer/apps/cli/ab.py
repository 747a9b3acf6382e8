"""The blind A/B test of ``styletransfer evaluate`` (:mod:`styletransfer.evaluation.ab_test`):

    styletransfer evaluate PHOTOS_DIR --style great_wave --ab PEER/great_wave \\
        [--style the_scream --ab PEER/the_scream ...] --ab-make AB_DIR [--ab-names ours,peer] [--ab-seed N]
    styletransfer evaluate --ab-score AB_DIR [--json]

    styletransfer evaluate PHOTOS_DIR --ab-photos DIR [--size 512]

``--ab`` gives the other system, once per ``--style`` or ``--outputs`` in the order they are
given (``--style`` ones first, as ``evaluate`` reports them): a folder of its outputs (named like
the photos), or a style name or model file, stylized at the working size like ``--style``.
``--ab-photos`` writes the photos at the working size, for another tool to stylize, so that both
sides of every pair are drawn at the same size; ``--ab-make`` prints a note when a folder's
outputs were smaller than the working size.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from styletransfer.evaluation.ab_test import (DEFAULT_NAMES, AbPair, make_ab_test, score_ab_test,
                                              write_working_photos)
from styletransfer.evaluation.evaluate import OutputFolder, find_photos
from styletransfer.apps.cli.common import EXIT_OK, UsageError


def add_ab_options(evaluate: argparse.ArgumentParser) -> None:
    """The A/B options of the ``evaluate`` command."""
    group = evaluate.add_argument_group(
        "blind A/B test", "compare two systems by eye: --ab-make writes sheets of pairs and a choices form to "
                          "hand to a chooser, --ab-score tallies the filled-in form against the key")
    group.add_argument("--ab", action="append", default=[], metavar="DIR|STYLE",
                       help="the other system to compare with a --style or --outputs (once per style, in their "
                            "order: --style ones first): a folder of its outputs, named like the photos, or a "
                            "style name or model file, stylized at the working size like --style")
    group.add_argument("--ab-photos", type=Path, metavar="DIR",
                       help="write the photos at the working size (--size) into this new or empty folder, for the "
                            "other system to stylize, so both sides of a pair are drawn at the same size; then stop")
    group.add_argument("--ab-make", type=Path, metavar="AB_DIR",
                       help="write the A/B test into this new or empty folder: AB_DIR/sheets/ (the sheets and "
                            "choices.csv, for the chooser) and AB_DIR/key.json (keep it from the chooser)")
    group.add_argument("--ab-score", type=Path, metavar="AB_DIR",
                       help="tally AB_DIR/sheets/choices.csv (A, B or = per pair) against AB_DIR/key.json")
    group.add_argument("--ab-names", default=",".join(DEFAULT_NAMES), metavar="FIRST,SECOND",
                       help="the two systems' names: the --style/--outputs one, then the --ab one "
                            "(default: %(default)s)")
    group.add_argument("--ab-seed", type=int, default=0, metavar="N",
                       help="seed of the sheets' order and sides (default: %(default)s)")


def output_folders(args: argparse.Namespace) -> list[OutputFolder]:
    """``evaluate``'s --outputs as OutputFolder items, each with its --painting (one for all, or
    one each) and --label; UsageError where the counts do not match."""
    if args.outputs and len(args.painting) not in (1, len(args.outputs)):
        raise UsageError(f"give --painting once for all {len(args.outputs)} --outputs, or once for each"
                         if args.painting else "--outputs needs the --painting the other tool was given")
    if args.label and len(args.label) != len(args.outputs):
        raise UsageError(f"{len(args.label)} --label for {len(args.outputs)} --outputs; give one per --outputs")
    paintings = args.painting * len(args.outputs) if len(args.painting) == 1 else args.painting
    labels = args.label or [None] * len(args.outputs)
    return [OutputFolder(folder, painting, label) for folder, painting, label in zip(args.outputs, paintings, labels)]


def wants_ab(args: argparse.Namespace) -> bool:
    """Whether the command line asks for an A/B step rather than scores."""
    return bool(args.ab or args.ab_make or args.ab_score or args.ab_photos)


def run_ab(args: argparse.Namespace) -> int:
    """Make or score an A/B test (the evaluate command's other mode)."""
    if args.ab_score:
        return _run_score(args)
    if args.ab_photos:
        return _run_photos(args)
    return _run_make(args)


def _run_photos(args: argparse.Namespace) -> int:
    if args.photos is None:
        raise UsageError("--ab-photos needs the PHOTOS_DIR to write at the working size")
    extra = [flag for flag, given in (("--style", args.style), ("--outputs", args.outputs), ("--ab", args.ab),
                                      ("--ab-make", args.ab_make)) if given]
    if extra:
        raise UsageError(f"--ab-photos only writes the photos at the working size; it takes no {extra[0]}")
    written = write_working_photos(args.photos, args.ab_photos, args.size)
    print(f"wrote {len(written)} photos at {args.size} px to {args.ab_photos}: give them to the other system, "
          f"then use that folder as PHOTOS_DIR of --ab-make")
    return EXIT_OK


def _run_score(args: argparse.Namespace) -> int:
    extra = [flag for flag, given in (("PHOTOS_DIR", args.photos), ("--style", args.style),
                                      ("--outputs", args.outputs), ("--ab", args.ab), ("--ab-make", args.ab_make),
                                      ("--ab-photos", args.ab_photos), ("--csv", args.csv), ("--sheet", args.sheet))
             if given]
    if extra:
        raise UsageError(f"--ab-score tallies a filled-in A/B test; it takes no {extra[0]}")
    result = score_ab_test(args.ab_score)
    if args.json:
        print(result.to_json())
        return EXIT_OK
    print(f"{result.overall.pairs} pairs chosen in {result.choices}; % = share of the pairs preferred (a tie "
          f"counts half); sign test p: the chance of a split this uneven with no preference")
    print(result.to_table())
    return EXIT_OK


def _run_make(args: argparse.Namespace) -> int:
    if args.photos is None:
        raise UsageError("the A/B test needs the PHOTOS_DIR the systems were given")
    if not args.ab_make:
        raise UsageError("--ab needs --ab-make AB_DIR: the folder the A/B test is written to")
    if not args.ab:
        raise UsageError("--ab-make needs the other system's outputs: one --ab DIR per --style or --outputs")
    systems = len(args.style) + len(args.outputs)
    if len(args.ab) != systems:
        raise UsageError(f"{len(args.ab)} --ab for {systems} --style/--outputs; give one --ab per style")
    if args.csv or args.sheet:
        raise UsageError("--ab-make writes sheets of pairs, not scores; run evaluate without --ab for "
                         f"{'--csv' if args.csv else '--sheet'}")
    names = args.ab_names.split(",")
    if len(names) != 2:
        raise UsageError(f"--ab-names {args.ab_names!r}: give two names separated by a comma")
    outputs = output_folders(args)
    photos = find_photos(args.photos)

    with tqdm(total=len(photos) * systems, desc="A/B sheets", unit="pair") as bar:
        def on_pair(pair: AbPair) -> None:
            bar.update()

        test = make_ab_test(args.ab_make, photos, args.style, outputs, args.ab,
                            painting=args.painting[0] if args.painting else None, names=names, seed=args.ab_seed,
                            size=args.size, device=args.device, precision=args.precision, on_pair=on_pair)
    summary = {"pairs": len(test.pairs), "names": list(test.names), "styles": list(test.styles),
               "sheets": str(test.sheets), "choices": str(test.choices), "key": str(test.key),
               "scaled_up": dict(zip(test.names, test.scaled_up))}
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(f"wrote {len(test.pairs)} sheets and {test.choices} to {test.sheets}: give the chooser that folder; "
          f"keep {test.key} from them")
    for name, count in zip(test.names, test.scaled_up):
        if count:
            print(f"note: {count} of {len(test.pairs)} outputs of {name} were smaller than {test.size} px and were "
                  f"scaled up, so those pairs are not like for like; make them from --ab-photos at {test.size} px")
    print(f"then: styletransfer evaluate --ab-score {args.ab_make}")
    return EXIT_OK
