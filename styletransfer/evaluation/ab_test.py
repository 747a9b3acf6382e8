"""Blind A/B test of two systems by eye: sheets of pairs for a chooser, a key kept from them,
and the tally of the choices.

The scores of :mod:`styletransfer.evaluate` measure; the eye judges. An A/B test puts the same
photo, stylized with the same painting by two systems (``names``, e.g. ours and a peer's), side
by side on one sheet, in an order and on sides the chooser cannot guess, and counts which one the
chooser prefers. Two steps:

**make** (:func:`make_ab_test`) writes into a new or empty folder::

    FOLDER/sheets/p001.jpg ...   one sheet per pair: the painting and the photo (small, on top),
                                 then two outputs side by side labelled only "A" (left) and "B"
                                 (right), and the pair id
    FOLDER/sheets/choices.csv    the form to fill in: a header ``pair,choice``, then one row per
                                 pair with the choice blank
    FOLDER/key.json              which system is A and which is B on every sheet

Give the chooser the ``sheets`` folder only (the key is outside it, and no file name tells the
systems apart). Pair ids number the sheets in a random order: every style's pairs are spread
over the whole test, and every system is A on half of each style's pairs (a style with an odd
number of pairs gives the extra A to the systems in turn, so over the whole test the two are A
equally often, give or take one). The order and the sides come from ``random.Random(seed)``:
the same inputs and seed make the same test.

**score** (:func:`score_ab_test`) reads the filled-in ``choices.csv``: for each pair ``A`` (the
left output looks better), ``B`` (the right one) or ``=`` (no preference; ``tie`` is taken too,
for spreadsheets that read ``=`` as a formula), in any case, with blank lines and extra columns
ignored. It checks that every pair of the key has exactly one valid choice (otherwise one line
naming the file and the first problem: :class:`AbTestError`) and tallies per style and over
all pairs, for each system: the pairs it won, the ties, its preference (the share of pairs it
won, a tie counting half to each) and a two-sided sign test of the wins (ties left out): the
chance of a split at least this uneven if the chooser had no preference.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from styletransfer.core.device import pick_device
from styletransfer.errors import StyleTransferError
from styletransfer.evaluation.evaluate import (DEFAULT_SIZE, EvaluationError, OutputFolder, check_working_size,
                                               find_outputs, find_photos, shared_stems, style_and_painting,
                                               to_working_size)
from styletransfer.core.images import open_image, save_image_atomic
from styletransfer.core.files import write_atomic
from styletransfer.inference.stylize import stylize
from styletransfer.modelfiles.catalogue import resolve_model_path
from styletransfer.modelfiles.format import ModelFileError, read_header

DEFAULT_NAMES = ("ours", "other")
"""The names of the two systems when none are given: the evaluated one, the other tool."""

SHEETS_FOLDER = "sheets"
"""The folder, inside the test's folder, that goes to the chooser: the sheets and the form."""

CHOICES_FILE = "choices.csv"
"""The form the chooser fills in, inside :data:`SHEETS_FOLDER`."""

KEY_FILE = "key.json"
"""Which system is A and which B on each sheet, beside (not inside) :data:`SHEETS_FOLDER`."""

SHEET_CELL = 512
"""Side, in px, of the box each of the two outputs is shown in (the painting and the photo get
half of it)."""

TIE = "="
_CHOICES = {"a": "A", "b": "B", "=": TIE, "tie": TIE}
_KEY_FORMAT = "styletransfer A/B test"
_MARGIN = 16
_CAPTION = 30


class AbTestError(StyleTransferError, ValueError):
    """An A/B test that cannot be made or scored; the message is one line naming the file or
    folder and the problem."""


# ---------------------------------------------------------------------------------------------
# The plan: order and sides


@dataclass(frozen=True)
class AbPair:
    """One sheet of the test."""

    pair: str
    """The pair id, e.g. ``p007``: the sheet's name and its row in the choices file."""
    style: str
    """The style (the label of the first system's model or folder)."""
    photo: str
    painting: str
    a: str
    """The system shown as A (left)."""
    b: str
    """The system shown as B (right)."""

    @property
    def sheet(self) -> str:
        """The sheet's path relative to the test's folder."""
        return f"{SHEETS_FOLDER}/{self.pair}.jpg"

    def to_dict(self) -> dict[str, Any]:
        return {"pair": self.pair, "sheet": self.sheet, "style": self.style, "photo": self.photo,
                "painting": self.painting, "A": self.a, "B": self.b}


def plan_pairs(entries: Sequence[tuple[str, str, str]], names: tuple[str, str] = DEFAULT_NAMES,
               seed: int = 0) -> list[AbPair]:
    """The pairs of a test in sheet order, with their ids and sides.

    Args:
        entries: ``(style, photo, painting)`` of every pair, in any order.
        names: the two systems.
        seed: seeds the order and the sides (see the module docs).

    Returns:
        One :class:`AbPair` per entry, in a random order, numbered ``p001``, ``p002``, ... (at
        least three digits); in each style the first system is A on half the pairs (the extra
        one of an odd style going to the systems in turn).
    """
    first, second = names
    generator = random.Random(seed)
    styles: dict[str, list[int]] = {}
    for index, (style, _, _) in enumerate(entries):
        styles.setdefault(style, []).append(index)
    first_is_a: dict[int, bool] = {}
    odd_styles = 0
    for indices in styles.values():
        count = len(indices) // 2
        if len(indices) % 2:
            count += odd_styles % 2 == 0  # the extra A goes to the first system, then the second, ...
            odd_styles += 1
        sides = [True] * count + [False] * (len(indices) - count)
        generator.shuffle(sides)
        first_is_a.update(zip(indices, sides))
    order = list(range(len(entries)))
    generator.shuffle(order)
    digits = max(3, len(str(len(entries))))
    pairs = []
    for number, index in enumerate(order, start=1):
        style, photo, painting = entries[index]
        a, b = (first, second) if first_is_a[index] else (second, first)
        pairs.append(AbPair(f"p{number:0{digits}d}", style, photo, painting, a, b))
    return pairs


# ---------------------------------------------------------------------------------------------
# Sheets


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    fitted = image.convert("RGB")
    if fitted.width > width or fitted.height > height:
        fitted.thumbnail((width, height), Image.Resampling.LANCZOS)
    return fitted


def draw_sheet(pair: str, painting: Image.Image, photo: Image.Image, a: Image.Image, b: Image.Image,
               cell: int = SHEET_CELL) -> Image.Image:
    """One sheet: the pair id; the painting and the photo side by side, each fitted into half a
    cell; below them the outputs A (left) and B (right), each fitted into a cell×cell box, with
    their tops level and only "A" and "B" written above them.

    Returns:
        An RGB image ``2·cell + 3·16`` px wide and as high as its rows; nothing on it names a
        system.
    """
    font = ImageFont.load_default(size=20)
    half = cell // 2
    width = 2 * cell + 3 * _MARGIN
    references = [(_fit(image, half, half), caption) for image, caption in ((painting, "painting"), (photo, "photo"))]
    outputs = [(_fit(image, cell, cell), caption) for image, caption in ((a, "A"), (b, "B"))]
    references_height = max(image.height for image, _ in references)
    outputs_top = _CAPTION + references_height + 2 * _CAPTION  # id line, references, their captions, A/B line
    height = outputs_top + max(image.height for image, _ in outputs) + _MARGIN
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((_MARGIN, _CAPTION // 2), f"pair {pair}", fill="black", font=font, anchor="lm")
    left = (width - 2 * half - _MARGIN) // 2
    for column, (image, caption) in enumerate(references):
        x = left + column * (half + _MARGIN)
        sheet.paste(image, (x + (half - image.width) // 2, _CAPTION + (references_height - image.height) // 2))
        draw.text((x + half // 2, _CAPTION + references_height + _CAPTION // 2), caption, fill="gray", font=font,
                  anchor="mm")
    for column, (image, caption) in enumerate(outputs):
        x = _MARGIN + column * (cell + _MARGIN)
        draw.text((x + cell // 2, outputs_top - _CAPTION // 2), caption, fill="black", font=font, anchor="mm")
        sheet.paste(image, (x + (cell - image.width) // 2, outputs_top))
    return sheet


# ---------------------------------------------------------------------------------------------
# Make


@dataclass(frozen=True)
class AbTest:
    """A test as written by :func:`make_ab_test` (or read back from its key)."""

    folder: str
    names: tuple[str, str]
    styles: tuple[str, ...]
    """The styles in the order they were given."""
    seed: int
    size: int
    pairs: tuple[AbPair, ...]
    """In sheet order."""
    scaled_up: tuple[int, int] = (0, 0)
    """Per system (in ``names`` order): how many of its outputs, read from a folder, were
    smaller than the working size and were scaled up for the sheets. Such a pair is not like
    for like: that system drew the photo at its own, smaller size (its strokes look larger and
    softer); give it the photos at the working size (:func:`write_working_photos`)."""

    @property
    def sheets(self) -> Path:
        return Path(self.folder) / SHEETS_FOLDER

    @property
    def choices(self) -> Path:
        return Path(self.folder) / SHEETS_FOLDER / CHOICES_FILE

    @property
    def key(self) -> Path:
        return Path(self.folder) / KEY_FILE

    def to_dict(self) -> dict[str, Any]:
        return {"format": _KEY_FORMAT, "version": 1, "names": list(self.names), "styles": list(self.styles),
                "seed": self.seed, "size": self.size, "scaled_up": dict(zip(self.names, self.scaled_up)),
                "pairs": [pair.to_dict() for pair in self.pairs]}


def _check_names(names: Sequence[str]) -> tuple[str, str]:
    cleaned = tuple(name.strip() for name in names)
    if len(cleaned) != 2 or not all(cleaned) or cleaned[0] == cleaned[1]:
        raise AbTestError(f"an A/B test compares two systems with two different names, not {list(names)}")
    return cleaned  # type: ignore[return-value]


def _empty_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise AbTestError(f"{folder}: not a folder; the A/B test needs a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise AbTestError(f"{folder}: not empty; the A/B test needs a new or empty folder (an old test's "
                          "choices are never overwritten)")


def _other_system(other: str | os.PathLike[str], photo_files: Sequence[Path]) -> list[Path] | Path:
    """The second system of one style: its output files (``other`` a folder) or its model file
    (``other`` a style name or model file, its header checked now, before the slow part)."""
    if Path(other).is_dir():
        return find_outputs(other, photo_files)
    try:
        model_path = resolve_model_path(other)
    except ModelFileError:
        raise AbTestError(f"{other}: neither a folder of outputs nor a style name or model file") from None
    read_header(model_path)  # ModelFileError: one line naming the file
    return model_path


def write_working_photos(photos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                         folder: str | os.PathLike[str], size: int = DEFAULT_SIZE) -> list[Path]:
    """Write every photo at the working size (longer side ``size`` px, scaled up or down,
    Lanczos) into a new or empty ``folder`` as ``<stem>.png``, for another tool to stylize.

    Why: a tool that only shrinks (``--max-size``) leaves a photo smaller than the working size
    as it is, so its output is scaled up on the sheets, with larger, softer strokes than the
    system stylized at the working size. Given these photos, both systems draw the same pixels.

    Returns:
        The files written, in the photos' order.

    Raises:
        AbTestError: a folder that is not empty; EvaluationError: no photos; ImageError: a photo
            that cannot be read (nothing is written before every photo is read).
    """
    folder = Path(folder)
    check_working_size(size)
    _empty_folder(folder)
    photo_files = find_photos(photos)
    shared = shared_stems(photo_files)
    if shared:
        raise AbTestError(f"{shared[0]}: another photo has the same name stem, so their files would collide")
    images = [to_working_size(open_image(file), size) for file in photo_files]
    folder.mkdir(parents=True, exist_ok=True)
    return [save_image_atomic(image, folder / f"{file.stem}.png") for file, image in zip(photo_files, images)]


def make_ab_test(
    folder: str | os.PathLike[str],
    photos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    styles: Sequence[str | os.PathLike[str]] = (),
    outputs: Sequence[OutputFolder] = (),
    others: Sequence[str | os.PathLike[str]] = (),
    *,
    painting: str | os.PathLike[str] | None = None,
    names: Sequence[str] = DEFAULT_NAMES,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
    device: str | torch.device | None = None,
    precision: str | None = None,
    on_pair: Callable[[AbPair], None] | None = None,
) -> AbTest:
    """Write a blind A/B test of two systems into ``folder`` (see the module docs).

    The first system is given as :func:`~styletransfer.evaluate.evaluate` takes it: ``styles``
    (style names or model files, each stylizing every photo at the working size) and
    ``outputs`` (folders of another tool's outputs, each with its painting); ``others`` gives
    the second system, one per style in the same order (``styles`` first, then ``outputs``):
    a folder of its outputs, named like the photos, or a style name or model file, which
    stylizes every photo at the working size as ``styles`` do (so two of our models are
    compared like for like). A pair is one photo in one style; its painting is the first
    system's. Outputs read from a folder that are smaller than the working size are scaled up
    for the sheets and counted in :attr:`AbTest.scaled_up`.

    Args:
        folder: a new or empty folder.
        photos: a folder (its image files, sorted by name) or a list of image files.
        painting: the painting of model files with none beside them.
        names: the two systems' names (first, second).
        seed: seeds the order of the sheets and the sides.
        size: the working size (longer side, px) of the photos and outputs.
        device, precision: where and how the models run.
        on_pair: called with each pair once its sheet is written (for progress bars).

    Returns:
        The test; its key is already written.

    Raises:
        AbTestError: a folder that is not empty, a wrong number of ``others``, bad names, a
            style label used twice, or an ``others`` entry that is neither a folder nor a model.
        EvaluationError, ModelFileError, ImageError: as :func:`~styletransfer.evaluate.evaluate`.
    """
    folder = Path(folder)
    names = _check_names(names)
    check_working_size(size)
    if not styles and not outputs:
        raise AbTestError("nothing to compare: give at least one style or folder of outputs")
    if len(others) != len(styles) + len(outputs):
        raise AbTestError(f"{len(others)} folders of the other system's outputs for "
                          f"{len(styles) + len(outputs)} styles; give one per style")
    _empty_folder(folder)
    photo_files = find_photos(photos)
    torch_device = pick_device(device)

    # Every input is checked before the slow part.
    first: list[tuple[str, Path, Path, list[Path] | None]] = []  # label, source, painting, output files
    for style in styles:
        first.append((*style_and_painting(style, painting), None))
    for output in outputs:
        label = output.label or Path(output.folder).resolve().name
        first.append((label, Path(output.folder), Path(output.painting), find_outputs(output.folder, photo_files)))
    labels = [label for label, *_ in first]
    for label in labels:
        if labels.count(label) > 1:
            raise AbTestError(f"two styles are labelled {label!r}; give each folder of outputs its own label")
    for _, _, painting_path, _ in first:
        if not painting_path.is_file():
            raise EvaluationError(f"{painting_path}: no such painting file")
    second = [_other_system(other, photo_files) for other in others]

    entries = [(label, str(photo), str(painting_path))
               for label, _, painting_path, _ in first for photo in photo_files]
    pairs = plan_pairs(entries, names, seed)
    by_entry = {(pair.style, pair.photo): pair for pair in pairs}
    photo_images = [to_working_size(open_image(file), size) for file in photo_files]
    scaled_up = [0, 0]
    for (label, source, painting_path, output_files), other_files in zip(first, second):
        painting_image = to_working_size(open_image(painting_path), size)
        for index, photo in enumerate(photo_images):
            if output_files is None:
                mine = stylize(source, photo, device=torch_device, precision=precision)
            else:
                mine = open_image(output_files[index])
                scaled_up[0] += max(mine.size) < size
            if isinstance(other_files, Path):  # a model: stylized like the first system's styles
                theirs = stylize(other_files, photo, device=torch_device, precision=precision)
            else:
                theirs = open_image(other_files[index])
                scaled_up[1] += max(theirs.size) < size
            mine, theirs = (to_working_size(image, size) for image in (mine, theirs))
            mine, theirs = (image if image.size == photo.size else image.resize(photo.size, Image.Resampling.LANCZOS)
                            for image in (mine, theirs))
            pair = by_entry[(label, str(photo_files[index]))]
            a, b = (mine, theirs) if pair.a == names[0] else (theirs, mine)
            save_image_atomic(draw_sheet(pair.pair, painting_image, photo, a, b), folder / pair.sheet, quality=95)
            if on_pair is not None:
                on_pair(pair)
    test = AbTest(str(folder), names, tuple(labels), seed, size, tuple(pairs), (scaled_up[0], scaled_up[1]))
    form = io.StringIO()
    writer = csv.writer(form, lineterminator="\n")
    writer.writerow(["pair", "choice"])
    writer.writerows([pair.pair, ""] for pair in pairs)
    write_atomic(test.choices, form.getvalue().encode())
    write_atomic(test.key, (json.dumps(test.to_dict(), indent=2) + "\n").encode())  # last: a test is whole
    return test


# ---------------------------------------------------------------------------------------------
# Score


def read_key(path: str | os.PathLike[str]) -> AbTest:
    """The test a key file describes.

    Raises:
        AbTestError: no such file, or not a key written by :func:`make_ab_test`.
    """
    path = Path(path)
    if not path.is_file():
        raise AbTestError(f"{path}: no such A/B key file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _KEY_FORMAT:
            raise ValueError("no A/B test format line")
        names = _check_names(data["names"])
        pairs = tuple(AbPair(str(row["pair"]), str(row["style"]), str(row["photo"]), str(row["painting"]),
                             str(row["A"]), str(row["B"])) for row in data["pairs"])
        styles = tuple(str(style) for style in data["styles"])
        scaled = data.get("scaled_up", {})  # keys before session 25 have none
        scaled_up = (int(scaled.get(names[0], 0)), int(scaled.get(names[1], 0)))
        test = AbTest(str(path.parent), names, styles, int(data["seed"]), int(data["size"]), pairs, scaled_up)
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        raise AbTestError(f"{path}: not an A/B key file ({type(error).__name__}: {error})".replace("\n", " ")) \
            from None
    ids = [pair.pair for pair in pairs]
    for pair in pairs:
        if {pair.a, pair.b} != set(names):
            raise AbTestError(f"{path}: pair {pair.pair} shows {pair.a!r} and {pair.b!r}, not the systems {names}")
        if ids.count(pair.pair) > 1:
            raise AbTestError(f"{path}: pair {pair.pair} is listed twice")
        if pair.style not in test.styles:
            raise AbTestError(f"{path}: pair {pair.pair} is in the style {pair.style!r}, which the key does not list")
    if not pairs:
        raise AbTestError(f"{path}: this A/B key has no pairs")
    return test


def read_choices(path: str | os.PathLike[str], pairs: Sequence[str]) -> dict[str, str]:
    """The choice (``A``, ``B`` or ``=``) of every pair id in ``pairs`` from a filled-in form.

    The form is CSV (``,``, ``;`` or tab between the columns) with a header naming the columns
    ``pair`` and ``choice``; blank lines and other columns are ignored.

    Raises:
        AbTestError: no such file, no header, an unknown or repeated pair, a choice that is
            not A, B or =, or pairs without a choice; the message names the file (and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise AbTestError(f"{path}: no such choices file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise AbTestError(f"{path}: not a UTF-8 text file; save the choices as CSV") from None
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = next((mark for mark in (",", ";", "\t") if mark in header_line), ",")
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    known = set(pairs)
    choices: dict[str, str] = {}
    blank: list[str] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        line = rows.line_num
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if "pair" not in header or "choice" not in header:
                raise AbTestError(f"{path} line {line}: the first line must name the columns pair and choice")
            continue
        cells = row + [""] * (len(header) - len(row))
        pair = cells[header.index("pair")].strip()
        choice = cells[header.index("choice")].strip()
        if pair not in known:
            raise AbTestError(f"{path} line {line}: no pair {pair!r} in the key")
        if pair in choices or pair in blank:
            raise AbTestError(f"{path} line {line}: pair {pair} is listed twice")
        if not choice:
            blank.append(pair)
            continue
        if choice.lower() not in _CHOICES:
            raise AbTestError(f"{path} line {line}: {choice!r} for pair {pair} is not A, B or =")
        choices[pair] = _CHOICES[choice.lower()]
    if header is None:
        raise AbTestError(f"{path}: empty; expected the header pair,choice and a row per pair")
    missing = [pair for pair in pairs if pair not in choices and pair not in blank]
    if missing:
        raise AbTestError(f"{path}: {len(missing)} of the key's {len(pairs)} pairs are not in this file "
                          f"(first: {missing[0]})")
    if blank:
        raise AbTestError(f"{path}: {len(blank)} of {len(pairs)} pairs have no choice yet (first: {blank[0]}); "
                          "write A, B or = for each")
    return choices


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least as uneven as ``wins`` :
    ``losses`` when each pair is a fair coin (1 with no pairs)."""
    count = wins + losses
    if count == 0:
        return 1.0
    tail = sum(math.comb(count, k) for k in range(min(wins, losses) + 1)) / 2 ** count
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class AbTally:
    """The choices over one style's pairs (or over all pairs)."""

    style: str
    """The style, or ``all``."""
    pairs: int
    wins: tuple[int, int]
    """The pairs each system won, in the order of :attr:`AbResult.names`."""
    ties: int

    @property
    def preference(self) -> tuple[float, float]:
        """Each system's share of the pairs, a tie counting half to each (the two add up to 1)."""
        return tuple((wins + self.ties / 2) / self.pairs for wins in self.wins)  # type: ignore[return-value]

    @property
    def p_value(self) -> float:
        """Two-sided sign test of the wins (:func:`sign_test`; ties left out)."""
        return sign_test(*self.wins)

    def to_dict(self, names: tuple[str, str]) -> dict[str, Any]:
        return {"style": self.style, "pairs": self.pairs, "wins": dict(zip(names, self.wins)), "ties": self.ties,
                "preference": dict(zip(names, self.preference)), "p_value": self.p_value}


@dataclass(frozen=True)
class AbResult:
    """What :func:`score_ab_test` counted."""

    names: tuple[str, str]
    styles: tuple[AbTally, ...]
    """Per style, in the order the styles were given to :func:`make_ab_test`."""
    overall: AbTally
    choices: str
    """The choices file read."""
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "choices": self.choices, "key": self.key,
                "styles": [tally.to_dict(self.names) for tally in self.styles],
                "overall": self.overall.to_dict(self.names)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_table(self) -> str:
        """A plain-text table: per style and over all pairs, the pairs, each system's wins, the
        ties, each system's preference and the sign test's p."""
        first, second = self.names
        width = max(len("style"), *(len(tally.style) for tally in (*self.styles, self.overall)))
        columns = max(len(first), len(second), 6)
        lines = [f"{'style':<{width}}  pairs  {first:>{columns}}  {second:>{columns}}  ties  "
                 f"{'% ' + first:>{columns + 2}}  {'% ' + second:>{columns + 2}}  sign test p"]
        for tally in (*self.styles, self.overall):
            shares = [f"{100 * share:.1f}" for share in tally.preference]
            lines.append(f"{tally.style:<{width}}  {tally.pairs:5d}  {tally.wins[0]:>{columns}}  "
                         f"{tally.wins[1]:>{columns}}  {tally.ties:4d}  {shares[0]:>{columns + 2}}  "
                         f"{shares[1]:>{columns + 2}}  {tally.p_value:11.3f}")
        return "\n".join(lines)


def tally(pairs: Sequence[AbPair], choices: dict[str, str], names: tuple[str, str], style: str) -> AbTally:
    """The :class:`AbTally` of ``pairs`` under ``choices`` (pair id → ``A``, ``B`` or ``=``)."""
    wins = [0, 0]
    ties = 0
    for pair in pairs:
        choice = choices[pair.pair]
        if choice == TIE:
            ties += 1
        else:
            wins[names.index(pair.a if choice == "A" else pair.b)] += 1
    return AbTally(style, len(pairs), (wins[0], wins[1]), ties)


def score_ab_test(folder: str | os.PathLike[str], *, choices: str | os.PathLike[str] | None = None,
                  key: str | os.PathLike[str] | None = None) -> AbResult:
    """Tally a filled-in test (see the module docs).

    Args:
        folder: the test's folder (as given to :func:`make_ab_test`).
        choices: the filled-in form (default: ``folder/sheets/choices.csv``).
        key: the key (default: ``folder/key.json``).

    Raises:
        AbTestError: a missing or unreadable key or choices file, or choices that are missing
            or not A, B or =; the message names the file.
    """
    folder = Path(folder)
    test = read_key(Path(key) if key is not None else folder / KEY_FILE)
    choices_path = Path(choices) if choices is not None else folder / SHEETS_FOLDER / CHOICES_FILE
    chosen = read_choices(choices_path, [pair.pair for pair in test.pairs])
    styles: dict[str, list[AbPair]] = {style: [] for style in test.styles}
    for pair in test.pairs:
        styles[pair.style].append(pair)
    return AbResult(names=test.names,
                    styles=tuple(tally(pairs, chosen, test.names, style) for style, pairs in styles.items() if pairs),
                    overall=tally(test.pairs, chosen, test.names, "all"),
                    choices=str(choices_path), key=str(Path(key) if key is not None else folder / KEY_FILE))
