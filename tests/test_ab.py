"""The blind A/B test: the seeded, balanced plan; the sheets, form and key that make writes; the
tally of a hand-made example; one-line errors for a bad choices file; and the evaluate --ab
command."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from styletransfer.evaluation.ab_test import (CHOICES_FILE, KEY_FILE, SHEET_CELL, SHEETS_FOLDER, AbTestError, draw_sheet,
                                   make_ab_test, plan_pairs, read_key, score_ab_test, sign_test,
                                   write_working_photos)
from styletransfer.apps.cli import main
from styletransfer.evaluation.evaluate import OutputFolder
from styletransfer.errors import StyleTransferError
from test_evaluate import SIZE, photos_dir, tiny_style  # noqa: F401  (fixtures)
from test_stylize import one_thread  # noqa: F401  (autouse fixture)

RED, BLUE = (220, 30, 30), (30, 30, 220)
OUTPUT_SIZE = (64, 48)
"""The size of the test's outputs: a sheet shows them as they are (they fit into a cell)."""


def centres(sheet: Image.Image) -> tuple[tuple[int, int], tuple[int, int]]:
    """The centres of outputs A and B of OUTPUT_SIZE on a sheet (for any outputs at least 48 px
    high, points inside them): the outputs' tops are level, the taller one ends 16 px above the
    bottom, and each is centred in its cell (the cells a cell and 16 px apart)."""
    y = sheet.height - 16 - OUTPUT_SIZE[1] // 2
    return (16 + SHEET_CELL // 2, y), (16 + SHEET_CELL + 16 + SHEET_CELL // 2, y)


# --- the plan ----------------------------------------------------------------------------------


def entries(styles: dict[str, int]) -> list[tuple[str, str, str]]:
    return [(style, f"photo{index}.jpg", f"{style}.jpg") for style, count in styles.items() for index in range(count)]


def test_the_plan_is_seeded() -> None:
    given = entries({"wave": 8, "scream": 7})
    assert plan_pairs(given, seed=3) == plan_pairs(given, seed=3)
    assert plan_pairs(given, seed=3) != plan_pairs(given, seed=4)


def test_the_plan_numbers_the_sheets_and_mixes_the_styles() -> None:
    given = entries({"wave": 10, "scream": 10, "kiss": 10})
    pairs = plan_pairs(given, ("ours", "peer"), seed=0)
    assert [pair.pair for pair in pairs] == [f"p{number:03d}" for number in range(1, 31)]
    assert sorted((pair.style, pair.photo, pair.painting) for pair in pairs) == sorted(given)
    styles = [pair.style for pair in pairs]
    assert styles != sorted(styles, key=["wave", "scream", "kiss"].index)  # not grouped by style
    runs = [1]  # lengths of the runs of sheets of one style
    for previous, style in zip(styles, styles[1:]):
        runs[-1:] = [runs[-1] + 1] if style == previous else [runs[-1], 1]
    assert len(runs) > 10 and max(runs) < 10  # grouped by style: 3 runs of 10
    assert len(plan_pairs(entries({"wave": 1000}))[0].pair) == 5  # p0001: as many digits as needed


@pytest.mark.parametrize("counts", [{"wave": 8}, {"wave": 7, "scream": 9, "kiss": 5, "iris": 3}, {"a": 1, "b": 1}])
def test_each_system_is_a_on_half_of_every_style(counts: dict[str, int]) -> None:
    for seed in range(5):
        pairs = plan_pairs(entries(counts), ("ours", "peer"), seed=seed)
        for pair in pairs:
            assert {pair.a, pair.b} == {"ours", "peer"}
        for style, count in counts.items():
            ours_a = sum(pair.a == "ours" for pair in pairs if pair.style == style)
            assert ours_a in (count // 2, (count + 1) // 2)
        ours_a = sum(pair.a == "ours" for pair in pairs)
        assert abs(ours_a - (len(pairs) - ours_a)) <= 1


def test_the_sides_are_random_within_a_style() -> None:
    pairs = plan_pairs(entries({"wave": 40}), ("ours", "peer"), seed=0)
    sides = "".join("o" if pair.a == "ours" else "p" for pair in sorted(pairs, key=lambda pair: pair.photo))
    assert "oooooo" not in sides and "pppppp" not in sides and sides != "op" * 20


# --- the sheets --------------------------------------------------------------------------------


def solid(color: tuple[int, int, int], size: tuple[int, int] = OUTPUT_SIZE) -> Image.Image:
    return Image.new("RGB", size, color)


def near(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(got - wanted) < 20 for got, wanted in zip(pixel, color))


def test_a_sheet_shows_a_left_and_b_right() -> None:
    sheet = draw_sheet("p007", solid((0, 200, 0)), solid((200, 200, 0)), solid(RED), solid(BLUE))
    assert sheet.mode == "RGB" and sheet.size == (2 * SHEET_CELL + 48, 30 + 48 + 30 + 30 + 48 + 16)
    a, b = centres(sheet)
    assert near(sheet.getpixel(a), RED) and near(sheet.getpixel(b), BLUE)
    large = draw_sheet("p1", solid(RED, (2000, 1000)), solid(RED, (300, 600)), solid(RED, (1000, 2000)), solid(BLUE))
    assert large.size == (2 * SHEET_CELL + 48, 30 + SHEET_CELL // 2 + 30 + 30 + SHEET_CELL + 16)  # fitted


@pytest.fixture
def two_systems(tmp_path: Path, photos_dir: Path) -> tuple[Path, Path]:
    """Outputs of two systems for the three photos: all red (ours) and all blue (peer)."""
    folders = tmp_path / "ours", tmp_path / "peer"
    for folder, color in zip(folders, (RED, BLUE)):
        folder.mkdir()
        for stem in ("cat", "eiffel_tower", "gradient"):
            solid(color).save(folder / f"{stem}.png")
    return folders


def make_test(folder: Path, photos_dir: Path, two_systems: tuple[Path, Path], seed: int = 0):
    ours, peer = two_systems
    painting = photos_dir / "cat.jpg"
    outputs = [OutputFolder(ours, painting, "wave"), OutputFolder(ours, painting, "scream")]
    return make_ab_test(folder, photos_dir, outputs=outputs, others=[peer, peer], names=("ours", "peer"),
                        seed=seed, size=SIZE)


def test_make_writes_sheets_a_form_and_a_key_apart(tmp_path: Path, photos_dir: Path,
                                                   two_systems: tuple[Path, Path]) -> None:
    seen = []
    ours, peer = two_systems
    test = make_ab_test(tmp_path / "ab", photos_dir, outputs=[OutputFolder(ours, photos_dir / "cat.jpg", "wave"),
                                                              OutputFolder(ours, photos_dir / "cat.jpg", "scream")],
                        others=[peer, peer], names=("ours", "peer"), size=SIZE, on_pair=seen.append)
    folder = tmp_path / "ab"
    assert sorted(path.name for path in folder.iterdir()) == [KEY_FILE, SHEETS_FOLDER]  # the key is not in sheets/
    sheets = sorted(path.name for path in (folder / SHEETS_FOLDER).iterdir())
    assert sheets == [CHOICES_FILE] + [f"p{number:03d}.jpg" for number in range(1, 7)]
    assert len(seen) == 6 and {pair.pair for pair in seen} == {pair.pair for pair in test.pairs}
    for name in sheets:  # nothing in a file name tells the systems, styles or photos apart
        assert not any(word in name for word in ("ours", "peer", "wave", "scream", "cat", "eiffel", "gradient"))
    form = (folder / SHEETS_FOLDER / CHOICES_FILE).read_text()
    assert form == "pair,choice\n" + "".join(f"p{number:03d},\n" for number in range(1, 7))
    key = json.loads((folder / KEY_FILE).read_text())
    assert key["names"] == ["ours", "peer"] and key["styles"] == ["wave", "scream"] and key["size"] == SIZE
    assert Counter(row["style"] for row in key["pairs"]) == {"wave": 3, "scream": 3}
    for row in key["pairs"]:  # the key says which output is on which side of each sheet
        sheet = Image.open(folder / row["sheet"]).convert("RGB")
        left, right = (sheet.getpixel(centre) for centre in centres(sheet))
        assert near(left, RED) == (row["A"] == "ours") and near(right, BLUE) == (row["B"] == "peer")
        assert near(left, RED) != near(right, RED)
    assert Counter(row["A"] for row in key["pairs"]) == {"ours": 3, "peer": 3}  # balanced


def test_make_is_seeded(tmp_path: Path, photos_dir: Path, two_systems: tuple[Path, Path]) -> None:
    first = make_test(tmp_path / "first", photos_dir, two_systems, seed=5)
    again = make_test(tmp_path / "again", photos_dir, two_systems, seed=5)
    other = make_test(tmp_path / "other", photos_dir, two_systems, seed=6)
    assert first.pairs == again.pairs and first.pairs != other.pairs


def test_make_never_overwrites_a_test(tmp_path: Path, photos_dir: Path, two_systems: tuple[Path, Path]) -> None:
    make_test(tmp_path / "ab", photos_dir, two_systems)
    (tmp_path / "ab" / SHEETS_FOLDER / CHOICES_FILE).write_text("pair,choice\np001,A\n")
    with pytest.raises(AbTestError, match=r"ab: not empty"):
        make_test(tmp_path / "ab", photos_dir, two_systems)
    assert (tmp_path / "ab" / SHEETS_FOLDER / CHOICES_FILE).read_text() == "pair,choice\np001,A\n"


def test_make_checks_its_inputs_first(tmp_path: Path, photos_dir: Path, two_systems: tuple[Path, Path]) -> None:
    ours, peer = two_systems
    outputs = [OutputFolder(ours, photos_dir / "cat.jpg")]
    with pytest.raises(AbTestError, match="2 folders of the other system's outputs for 1 styles"):
        make_ab_test(tmp_path / "ab", photos_dir, outputs=outputs, others=[peer, peer])
    with pytest.raises(AbTestError, match="two different names"):
        make_ab_test(tmp_path / "ab", photos_dir, outputs=outputs, others=[peer], names=("x", "x"))
    (peer / "gradient.png").unlink()
    with pytest.raises(StyleTransferError, match="peer: no output for the photo gradient.png"):
        make_ab_test(tmp_path / "ab", photos_dir, outputs=outputs, others=[peer])
    assert not (tmp_path / "ab").exists()


def test_a_model_as_the_other_system_is_drawn_like_for_like(tmp_path: Path, photos_dir: Path,
                                                            tiny_style: Path) -> None:
    """The same model on both sides: both stylize the photo at the working size, so A and B
    are the same pixels on every sheet (a folder made at the photo's own size would not be)."""
    test = make_ab_test(tmp_path / "ab", photos_dir, styles=["tiny"], others=[tiny_style], names=("new", "old"),
                        size=2 * SIZE)  # the 64 px photos are scaled up to 128 for both systems
    assert test.scaled_up == (0, 0) and len(test.pairs) == 3
    for pair in test.pairs:
        sheet = Image.open(tmp_path / "ab" / pair.sheet).convert("RGB")
        bottom = sheet.height - 16
        a = sheet.crop((16, bottom - 64, 16 + SHEET_CELL, bottom))
        b = sheet.crop((16 + SHEET_CELL + 16, bottom - 64, 16 + 2 * SHEET_CELL + 16, bottom))
        assert a.tobytes() == b.tobytes()
    with pytest.raises(AbTestError, match="nowhere: neither a folder of outputs nor a style name or model file"):
        make_ab_test(tmp_path / "ab2", photos_dir, styles=["tiny"], others=[tmp_path / "nowhere"])
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    with pytest.raises(StyleTransferError, match="broken.safetensors"):
        make_ab_test(tmp_path / "ab2", photos_dir, styles=["tiny"], others=[broken])
    assert not (tmp_path / "ab2").exists()  # checked before any sheet is written


def test_outputs_smaller_than_the_working_size_are_counted(tmp_path: Path, photos_dir: Path,
                                                           two_systems: tuple[Path, Path]) -> None:
    ours, peer = two_systems
    for output in peer.iterdir():  # the peer drew at half the size: its outputs get scaled up
        solid(BLUE, (32, 24)).save(output)
    (ours / "cat.png").unlink()
    solid(RED, (64, 64)).save(ours / "cat.png")  # the longer side at the working size: not scaled up
    test = make_test(tmp_path / "ab", photos_dir, (ours, peer))
    assert test.scaled_up == (0, 6)
    assert json.loads((tmp_path / "ab" / KEY_FILE).read_text())["scaled_up"] == {"ours": 0, "peer": 6}
    assert read_key(tmp_path / "ab" / KEY_FILE).scaled_up == (0, 6)
    key = json.loads((tmp_path / "ab" / KEY_FILE).read_text())
    del key["scaled_up"]  # a key written before the count was kept
    (tmp_path / "ab" / KEY_FILE).write_text(json.dumps(key))
    assert read_key(tmp_path / "ab" / KEY_FILE).scaled_up == (0, 0)


@pytest.mark.parametrize("size", [2 * SIZE, SIZE // 2])
def test_working_photos_are_scaled_up_or_down(tmp_path: Path, photos_dir: Path, size: int) -> None:
    written = write_working_photos(photos_dir, tmp_path / "working", size)
    assert [path.name for path in written] == ["cat.png", "eiffel_tower.png", "gradient.png"]
    for path in written:
        with Image.open(path) as image:
            assert max(image.size) == size
    with Image.open(written[2]) as image:  # the 64×40 gradient keeps its aspect
        assert image.size == (size, round(40 * size / 64))
    with pytest.raises(AbTestError, match="working: not empty"):
        write_working_photos(photos_dir, tmp_path / "working", size)


# --- the score ---------------------------------------------------------------------------------


def hand_made_key(folder: Path) -> Path:
    """Five pairs: wave p001 (A=ours), p003 (A=peer), p005 (A=ours); scream p002 (A=peer), p004 (A=ours)."""
    rows = [("p001", "wave", "ours"), ("p002", "scream", "peer"), ("p003", "wave", "peer"),
            ("p004", "scream", "ours"), ("p005", "wave", "ours")]
    key = {"format": "styletransfer A/B test", "version": 1, "names": ["ours", "peer"], "styles": ["wave", "scream"],
           "seed": 0, "size": 512,
           "pairs": [{"pair": pair, "sheet": f"sheets/{pair}.jpg", "style": style, "photo": f"{pair}.jpg",
                      "painting": f"{style}.jpg", "A": a, "B": "peer" if a == "ours" else "ours"}
                     for pair, style, a in rows]}
    (folder / SHEETS_FOLDER).mkdir(parents=True)
    (folder / KEY_FILE).write_text(json.dumps(key))
    return folder / SHEETS_FOLDER / CHOICES_FILE


def test_the_score_of_a_hand_made_example(tmp_path: Path) -> None:
    choices = hand_made_key(tmp_path)
    # wave: p001 A=ours -> ours; p003 B=ours -> ours; p005 tie.  scream: p002 A=peer -> peer; p004 B=peer -> peer.
    choices.write_text("pair,choice\np001,A\np002,a\np003,B\np004,b\np005,=\n")
    result = score_ab_test(tmp_path)
    assert result.names == ("ours", "peer")
    wave, scream = result.styles
    assert (wave.style, wave.pairs, wave.wins, wave.ties) == ("wave", 3, (2, 0), 1)
    assert wave.preference == pytest.approx((2.5 / 3, 0.5 / 3))
    assert (scream.style, scream.pairs, scream.wins, scream.ties) == ("scream", 2, (0, 2), 0)
    assert scream.preference == (0.0, 1.0)
    overall = result.overall
    assert (overall.style, overall.pairs, overall.wins, overall.ties) == ("all", 5, (2, 2), 1)
    assert overall.preference == (0.5, 0.5) and overall.p_value == 1.0
    assert wave.p_value == 0.5  # 2:0 with a fair coin: P(2:0 or 0:2) = 1/2
    decoded = json.loads(result.to_json())
    assert decoded["styles"][0]["wins"] == {"ours": 2, "peer": 0} and decoded["overall"]["ties"] == 1
    assert decoded["styles"][1]["preference"] == {"ours": 0.0, "peer": 1.0}
    table = result.to_table().splitlines()
    assert table[0].split()[:5] == ["style", "pairs", "ours", "peer", "ties"]
    assert table[1].split()[:7] == ["wave", "3", "2", "0", "1", "83.3", "16.7"]
    assert table[3].split()[:7] == ["all", "5", "2", "2", "1", "50.0", "50.0"]


def test_the_sign_test() -> None:
    assert sign_test(0, 0) == 1.0 and sign_test(3, 3) == 1.0
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(8, 2) == sign_test(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_spreadsheet_forms_are_read(tmp_path: Path) -> None:
    choices = hand_made_key(tmp_path)
    # A byte order mark, semicolons, capitals, a notes column, blank lines, "tie", rows in another order.
    choices.write_text("\ufeffPair;Choice;note\n\np005; tie ;hard\np004;B;\np003;b;\np002;A;\np001;a;\n\n",
                       encoding="utf-8")
    assert score_ab_test(tmp_path).overall.wins == (2, 2)


@pytest.mark.parametrize(("text", "message"), [
    (None, r"choices\.csv: no such choices file"),
    ("", r"choices\.csv: empty"),
    ("p001,A\n", r"choices\.csv line 1: the first line must name the columns pair and choice"),
    ("pair,choice\np001,A\np002,\np003,B\np004,\np005,A\n", r"choices\.csv: 2 of 5 pairs have no choice yet "
                                                          r"\(first: p002\); write A, B or = for each"),
    ("pair,choice\np001,A\np002,C\n", r"choices\.csv line 3: 'C' for pair p002 is not A, B or ="),
    ("pair,choice\np001,A\np009,B\n", r"choices\.csv line 3: no pair 'p009' in the key"),
    ("pair,choice\np001,A\np001,B\n", r"choices\.csv line 3: pair p001 is listed twice"),
    ("pair,choice\np001,A\np002,B\n", r"choices\.csv: 3 of the key's 5 pairs are not in this file \(first: p003\)"),
    (b"\xff\xfe\x00", r"choices\.csv: not a UTF-8 text file"),
])
def test_a_bad_choices_file_is_one_line_naming_it(tmp_path: Path, text: str | bytes | None, message: str) -> None:
    choices = hand_made_key(tmp_path)
    if isinstance(text, bytes):
        choices.write_bytes(text)
    elif text is not None:
        choices.write_text(text)
    with pytest.raises(AbTestError, match=message) as caught:
        score_ab_test(tmp_path)
    assert "\n" not in str(caught.value) and str(choices) in str(caught.value)


def test_a_missing_or_bad_key_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AbTestError, match=r"key\.json: no such A/B key file"):
        score_ab_test(tmp_path)
    (tmp_path / KEY_FILE).write_text("{not json")
    with pytest.raises(AbTestError, match=r"key\.json: not an A/B key file") as caught:
        score_ab_test(tmp_path)
    assert "\n" not in str(caught.value)


def test_make_then_score(tmp_path: Path, photos_dir: Path, two_systems: tuple[Path, Path]) -> None:
    test = make_test(tmp_path / "ab", photos_dir, two_systems)
    # The chooser always picks the red output: ours wins every pair, whichever side it was on.
    test.choices.write_text("pair,choice\n" + "".join(f"{pair.pair},{'A' if pair.a == 'ours' else 'B'}\n"
                                                      for pair in test.pairs))
    result = score_ab_test(tmp_path / "ab")
    assert [(tally.style, tally.wins, tally.ties) for tally in result.styles] == [("wave", (3, 0), 0),
                                                                                  ("scream", (3, 0), 0)]
    assert result.overall.preference == (1.0, 0.0)


# --- the command -------------------------------------------------------------------------------


def test_cli_make_and_score(tmp_path: Path, photos_dir: Path, tiny_style: Path, two_systems: tuple[Path, Path],
                            capsys: pytest.CaptureFixture[str]) -> None:
    _, peer = two_systems
    folder = tmp_path / "ab"
    code = main(["evaluate", str(photos_dir), "--style", "tiny", "--ab", str(peer), "--ab-make", str(folder),
                 "--ab-names", "ours,lite", "--size", str(SIZE)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "A/B sheets" in captured.err and f"keep {folder / KEY_FILE}" in captured.out
    key = json.loads((folder / KEY_FILE).read_text())
    assert key["names"] == ["ours", "lite"] and key["styles"] == ["tiny"] and len(key["pairs"]) == 3
    assert len(list((folder / SHEETS_FOLDER).glob("p*.jpg"))) == 3
    (folder / SHEETS_FOLDER / CHOICES_FILE).write_text("pair,choice\np001,A\np002,B\np003,=\n")
    assert main(["evaluate", "--ab-score", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3 pairs chosen in")
    assert lines[1].split()[:5] == ["style", "pairs", "ours", "lite", "ties"]
    assert lines[2].split()[:2] == ["tiny", "3"] and lines[3].split()[:2] == ["all", "3"]
    assert main(["evaluate", "--ab-score", str(folder), "--json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["overall"]["pairs"] == 3 and decoded["overall"]["ties"] == 1
    assert sum(decoded["overall"]["wins"].values()) == 2


def test_cli_ab_photos_then_a_like_for_like_test(tmp_path: Path, photos_dir: Path, tiny_style: Path,
                                                 two_systems: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, peer = two_systems  # 64×48 outputs: smaller than a 128 px working size
    working = tmp_path / "working"
    assert main(["evaluate", str(photos_dir), "--ab-photos", str(working), "--size", str(2 * SIZE)]) == 0
    assert f"wrote 3 photos at {2 * SIZE} px to {working}" in capsys.readouterr().out
    assert sorted(path.name for path in working.iterdir()) == ["cat.png", "eiffel_tower.png", "gradient.png"]
    assert main(["evaluate", str(working), "--style", "tiny", "--ab", str(peer), "--ab-make", str(tmp_path / "ab"),
                 "--size", str(2 * SIZE)]) == 0
    out = capsys.readouterr().out
    assert f"note: 3 of 3 outputs of other were smaller than {2 * SIZE} px and were scaled up" in out
    assert main(["evaluate", str(working), "--style", "tiny", "--ab", "tiny", "--ab-make", str(tmp_path / "ab2"),
                 "--ab-names", "new,old", "--size", str(2 * SIZE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scaled_up"] == {"new": 0, "old": 0}


@pytest.mark.parametrize(("arguments", "message"), [
    (["{tmp}/photos", "--ab-photos", "{tmp}/w", "--style", "tiny"], "--ab-photos only writes the photos"),
    (["--ab-photos", "{tmp}/w"], "--ab-photos needs the PHOTOS_DIR"),
    (["{tmp}/photos", "--ab-photos", "{tmp}/ab"], "ab: not empty"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/nowhere",
      "--ab-make", "{tmp}/new"], "nowhere: neither a folder of outputs nor a style name or model file"),
    (["--ab-score", "{tmp}/ab"], "ab/sheets/choices.csv line 3: 'maybe' for pair p002 is not A, B or ="),
    (["--ab-score", "{tmp}/nowhere"], "nowhere/key.json: no such A/B key file"),
    (["{tmp}/photos", "--ab-score", "{tmp}/ab"], "--ab-score tallies a filled-in A/B test; it takes no PHOTOS_DIR"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/peer"],
     "--ab needs --ab-make AB_DIR"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab-make", "{tmp}/new"],
     "--ab-make needs the other system's outputs"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/peer",
      "--ab", "{tmp}/peer", "--ab-make", "{tmp}/new"], "2 --ab for 1 --style/--outputs"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/peer",
      "--ab-make", "{tmp}/ab"], "ab: not empty"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/peer",
      "--ab-make", "{tmp}/new", "--ab-names", "ours"], "--ab-names 'ours': give two names"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg", "--label", "a", "--label", "b",
      "--ab", "{tmp}/peer", "--ab-make", "{tmp}/new"], "2 --label for 1 --outputs; give one per --outputs"),
    (["{tmp}/photos", "--outputs", "{tmp}/ours", "--outputs", "{tmp}/ours", "--painting", "{tmp}/photos/cat.jpg",
      "--painting", "{tmp}/photos/cat.jpg", "--painting", "{tmp}/photos/cat.jpg", "--ab", "{tmp}/peer", "--ab",
      "{tmp}/peer", "--ab-make", "{tmp}/new"], "give --painting once for all 2 --outputs, or once for each"),
    (["--style", "tiny"], "evaluate needs the PHOTOS_DIR"),
])
def test_cli_bad_ab_exits_2_with_one_line(tmp_path: Path, photos_dir: Path, two_systems: tuple[Path, Path],
                                          capsys: pytest.CaptureFixture[str], arguments: list[str],
                                          message: str) -> None:
    make_test(tmp_path / "ab", photos_dir, two_systems)
    (tmp_path / "ab" / SHEETS_FOLDER / CHOICES_FILE).write_text("pair,choice\np001,A\np002,maybe\n")
    code = main(["evaluate", *(argument.format(tmp=tmp_path) for argument in arguments), "--size", str(SIZE)])
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if line.startswith("styletransfer:")]
    assert code == 2
    assert len(error_lines) == 1 and message in error_lines[0], captured.err
    assert not (tmp_path / "new").exists()
