"""``styletransfer train | resume | compare``: options generated from TrainingConfig's fields,
tiny runs through the CLI, and one line plus an exit code for every expected failure."""
from __future__ import annotations

import argparse
import csv
import dataclasses
import errno
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from fixtures_images import write_truncated_jpeg
from styletransfer.apps.cli import training as train_commands
from styletransfer.apps.cli import main
from styletransfer.training.runfolder import read_csv
from styletransfer.training import TrainingConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = ["--image-size", "32", "--batch-size", "2", "--precision", "fp32", "--device", "cpu", "--workers", "0",
        "--val-images", "1", "--style-layers", "relu1_1,relu2_1", "--checkpoint-every", "0", "--val-every", "0",
        "--preview-every", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(painting, folder of 5 small photos)."""
    root = tmp_path_factory.mktemp("data")
    photos = root / "photos"
    photos.mkdir()
    for index, path in enumerate(sorted(EXAMPLES.glob("*.jpg")) + sorted(EXAMPLES.glob("*.jpg"))[:1]):
        Image.open(path).convert("RGB").resize((48, 40)).save(photos / f"p{index}.jpg")
    painting = root / "painting.png"
    Image.open(EXAMPLES / "red_panda.jpg").convert("RGB").resize((40, 32)).save(painting)
    return painting, photos


def parse_train(*argv: str) -> TrainingConfig:
    parser = argparse.ArgumentParser(prog="styletransfer train")
    train_commands.add_training_options(parser)
    return train_commands.config_from_args(parser.parse_args(argv), parser)


def test_every_config_field_has_an_option_with_its_type_and_help() -> None:
    parser = argparse.ArgumentParser()
    train_commands.add_training_options(parser)
    options = {action.dest: action for action in parser._actions}
    fields = [field for field in dataclasses.fields(TrainingConfig) if field.metadata.get("option", True)]
    filled_in = {field.name for field in dataclasses.fields(TrainingConfig)} - {field.name for field in fields}
    assert filled_in == {"init_stages"}  # the trainer fills it in from the init model; no option
    assert {field.name for field in fields} <= set(options) and not filled_in & set(options)
    docs = train_commands.field_docstrings(TrainingConfig)
    for field in fields:
        help_text = options[field.name].help or ""
        assert help_text, f"--{field.name} has no help"
        if field.name in docs:
            assert help_text.startswith(docs[field.name].replace("%", "%%")), field.name
    config = parse_train("--style", "p.jpg", "--out", "runs/x", "--images", "photos", "--norm", "in",
                         "--steps", "7", "--lr", "0.01", "--content-layers", "relu1_2,relu2_2", "--year", "1900")
    assert (config.norm, config.steps, config.lr, config.content_layers, config.year) == (
        "instance", 7, 0.01, ["relu1_2", "relu2_2"], "1900")
    defaults = TrainingConfig(style="p.jpg", out_dir="runs/x", images="photos")
    assert parse_train("--style", "p.jpg", "--out", "runs/x", "--images", "photos") == defaults


def test_a_new_config_field_gets_its_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the options are generated from: fields added later need no CLI change."""

    @dataclasses.dataclass
    class Extended(TrainingConfig):
        compile: bool = False
        """Compile the network with torch.compile."""
        cache_images: int | None = None
        """Keep this many decoded images in memory."""
        loss_layers: list[float] = dataclasses.field(default_factory=lambda: [1.0],
                                                     metadata={"help": "one weight per layer"})

    monkeypatch.setattr(train_commands, "TrainingConfig", Extended)
    config = parse_train("--style", "p.jpg", "--out", "r", "--compile", "--cache-images", "64",
                         "--loss-layers", "0.5,2")
    assert (config.compile, config.cache_images, config.loss_layers) == (True, 64, [0.5, 2.0])
    assert parse_train("--style", "p.jpg", "--out", "r", "--no-compile").compile is False
    parser = argparse.ArgumentParser()
    train_commands.add_training_options(parser)
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["compile"] == "Compile the network with torch.compile. (default: off)"
    assert helps["cache_images"] == "Keep this many decoded images in memory."
    assert helps["loss_layers"] == "one weight per layer (default: 1.0)"


def test_train_resume_and_compare_through_the_cli(data: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    painting, photos = data
    run = tmp_path / "run"
    assert main(["train", "--style", str(painting), "--images", str(photos), "--out", str(run), "--steps", "2",
                 *TINY]) == 0
    out = capsys.readouterr().out
    assert "done: 2 steps" in out and f"model: {run / 'model.safetensors'}" in out
    assert json.loads((run / "config.json").read_text())["image_size"] == 32

    assert main(["resume", str(run), "--steps", "3"]) == 0
    assert "done: 3 steps" in capsys.readouterr().out
    assert [row["step"] for row in read_csv(run / "metrics.csv")] == [1, 2, 3]
    assert main(["train", "--resume", str(run), "--steps", "4"]) == 0  # train_transfer.py's spelling
    assert "done: 4 steps" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--lr", "1"]) == 2
    assert "--resume takes only --steps" in capsys.readouterr().err

    compared = tmp_path / "cmp"
    assert main(["compare", "--style", str(painting), "--images", str(photos), "--out", str(compared),
                 "--variants", "bn,in", "--steps", "1", *TINY]) == 0
    assert f"comparison: {compared / 'comparison.png'}" in capsys.readouterr().out
    with open(compared / "comparison.csv", newline="") as handle:
        assert [row["run"] for row in csv.DictReader(handle)] == ["bn", "in"]


def test_train_failures_are_one_line_with_their_exit_code(data: tuple[Path, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    painting, photos = data
    base = ["train", "--style", str(painting), "--images", str(photos), "--steps", "2", *TINY]

    assert main(["train", "--images", str(photos)]) == 2  # argparse-style usage error
    assert "--style and --out are required" in capsys.readouterr().err

    # Diverged: its own exit code, not the usage one.
    assert main([*base, "--out", str(tmp_path / "diverged"), "--style-weight", "inf"]) == 3
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "training diverged at step 1" in error[0]

    # A data problem: no usable images.
    broken = tmp_path / "broken"
    broken.mkdir()
    write_truncated_jpeg(broken / "x.jpg")
    assert main([*base[:3], "--images", str(broken), "--out", str(tmp_path / "r2"), *base[5:]]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no usable images" in error[0]

    # The disk fills up mid-run (while writing the checkpoint after the last step).
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r3" / "checkpoint.pt"))

    monkeypatch.setattr(torch, "save", disk_full)
    assert main([*base, "--out", str(tmp_path / "r3")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"styletransfer: error: {tmp_path / 'r3' / 'checkpoint.pt'}: No space left on device"]
