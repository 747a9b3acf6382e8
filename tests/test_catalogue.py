"""The style catalogue: one scan of the shipped and user style folders, typed metadata from the
model headers (never the weights), the same fallbacks for every front end."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from fixtures_images import gradient
from styletransfer.modelfiles import catalogue
from styletransfer.modelfiles.catalogue import (get_model, get_style, list_models, load_catalogue, read_metadata,
                                                read_style)
from styletransfer.modelfiles.catalogue import find_model_files
from styletransfer.modelfiles.format import ModelFileError, save_model
from styletransfer.models.transformer import TransformerNet
from styletransfer.core.resources import EXAMPLES_DIR, STYLES_DIR

REPO = Path(__file__).resolve().parent.parent
METRICS_HEADER = "step,epoch,content,style,tv,total,lr,images_per_s,wall_time\n"


def make_styles(models_dir: Path) -> Path:
    """A BN+SRM model ``testwave`` with its BN twin ``testwave_bn``, the painting and run curves."""
    torch.manual_seed(0)
    for name, norm, attention, variant, twin in (("testwave", "batch", "srm", "bn+srm", "testwave_bn"),
                                                  ("testwave_bn", "batch", "none", "bn", "testwave")):
        save_model(TransformerNet(norm, attention), models_dir / f"{name}.safetensors", title="Test Wave",
                   artist="Nobody", year="2024", variant=variant, twin=twin, image_size=64)
        run = models_dir / "runs" / name
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text(METRICS_HEADER + "".join(
            f"{step},0,{9 / step},{50 / step},1,{60 / step},0.001,4,{step}\n" for step in range(1, 11)))
    gradient((96, 64)).save(models_dir / "testwave.jpg")
    return models_dir


@pytest.fixture
def two_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fake shipped folder (testwave pair) and a user folder, as the library's style folders."""
    shipped = make_styles(tmp_path / "shipped")
    monkeypatch.setattr(catalogue, "SHIPPED_STYLES_DIR", shipped)
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    return shipped, tmp_path / "home" / "models"


def test_catalogue_reads_headers_pairs_twins_and_skips_broken_files(tmp_path: Path) -> None:
    models = make_styles(tmp_path / "models")
    (models / "broken.safetensors").write_bytes(b"nonsense")
    catalogue = load_catalogue([models])
    assert catalogue.names() == ["testwave", "testwave_bn"]
    assert [entry.name for entry in catalogue.gallery()] == ["testwave"]
    wave = catalogue.get("testwave")
    assert wave.caption == "Test Wave — Nobody, 2024" and wave.painting == models / "testwave.jpg"
    assert (wave.variant, wave.norm, wave.attention, wave.image_size) == ("bn+srm", "batch", "srm", 64)
    assert wave.file_size == (models / "testwave.safetensors").stat().st_size
    assert wave.run_dir == models / "runs" / "testwave"
    assert catalogue.get("testwave_bn").painting == models / "testwave.jpg"  # the twin's painting
    assert [(srm.name, plain.name) for srm, plain in catalogue.srm_pairs()] == [("testwave", "testwave_bn")]
    assert len(catalogue.problems) == 1 and "broken.safetensors" in catalogue.problems[0]


def test_a_slim_twin_is_listed_but_not_shown_as_a_painting_of_its_own(tmp_path: Path) -> None:
    models = make_styles(tmp_path / "models")
    save_model(TransformerNet("batch", "srm", width=12, residual_blocks=3), models / "testwave_slim.safetensors",
               title="Test Wave", teacher="testwave", style_image="testwave.jpg")
    catalogue = load_catalogue([models])
    slim = catalogue.get("testwave_slim")
    assert (slim.size, slim.teacher, slim.is_slim_twin) == ("slim", "testwave", True)
    assert slim.painting == models / "testwave.jpg"  # the full model's painting, not a copy
    assert catalogue.get("testwave").size == "full" and not catalogue.get("testwave").is_slim_twin
    assert "testwave_slim" in catalogue.names()
    assert [entry.name for entry in catalogue.gallery()] == ["testwave"]
    assert slim.as_dict()["size"] == "slim" and slim.as_dict()["teacher"] == "testwave"
    assert load_catalogue([tmp_path / "missing"]).styles == []


def test_metadata_fallbacks_are_the_same_for_everyone(tmp_path: Path) -> None:
    bare = save_model(TransformerNet("instance", "none"), tmp_path / "my_bare_style.safetensors")
    style = read_style(bare)
    assert (style.title, style.artist, style.year, style.licence) == ("My Bare Style", "", "", "")
    assert style.variant == "in" and style.twin is None and style.painting is None and style.run_dir is None
    assert style.caption == "My Bare Style"
    old = save_model(TransformerNet("batch", "srm"), tmp_path / "old.safetensors", style_title="Old Title",
                     license="CC0-1.0", year=1900)
    assert (read_style(old).title, read_style(old).licence, read_style(old).year) == ("Old Title", "CC0-1.0", "1900")
    assert json.loads(json.dumps(read_style(old).as_dict()))["path"] == str(old)


def test_the_first_folder_wins_and_hidden_files_are_not_styles(two_folders: tuple[Path, Path]) -> None:
    shipped, user = two_folders
    save_model(TransformerNet("instance", "none"), user / "testwave.safetensors", title="Mine")
    save_model(TransformerNet("instance", "none"), user / "mine.safetensors", title="Mine")
    (user / ".mine.safetensors").write_bytes(b"a temporary file of a write in progress")
    assert list(find_model_files()) == ["testwave", "testwave_bn", "mine"]
    assert list_models() == ["testwave", "testwave_bn", "mine"]
    assert get_style("testwave").path == shipped / "testwave.safetensors"  # shipped before user
    assert get_style("mine").title == "Mine"
    with pytest.raises(ModelFileError, match="nope: no such style .known styles: testwave, testwave_bn, mine"):
        get_style("nope")


def test_get_model_loads_the_style_network(two_folders: tuple[Path, Path]) -> None:
    net = get_model("testwave")
    assert isinstance(net, TransformerNet) and not net.training
    assert net.metadata["name"] == "testwave" and net.metadata["title"] == "Test Wave"


def test_a_rewritten_model_file_is_read_again(tmp_path: Path) -> None:
    path = save_model(TransformerNet("batch", "srm"), tmp_path / "style.safetensors", title="First")
    assert read_style(path).title == "First"
    save_model(TransformerNet("batch", "srm"), path, title="Second, a longer title")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert read_style(path).title == "Second, a longer title"


def test_read_metadata_by_name_or_path_follows_a_rewritten_file(two_folders: tuple[Path, Path]) -> None:
    path = get_style("testwave").path
    metadata = read_metadata("testwave")
    assert metadata == read_metadata(path) and metadata["title"] == "Test Wave"
    metadata["title"] = "changed by a caller"  # a copy: the cached header is not touched
    assert read_metadata(path)["title"] == "Test Wave"
    save_model(TransformerNet("batch", "srm"), path, title="Rewritten")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert read_metadata("testwave")["title"] == "Rewritten"
    with pytest.raises(ModelFileError, match="no_such_style"):
        read_metadata("no_such_style")


def test_the_shipped_styles_and_examples_are_found_where_the_package_is() -> None:
    # A checkout keeps them beside the package; a wheel inside it (tests/wheel_check.sh).
    assert (STYLES_DIR / "manifest.csv").is_file() and (EXAMPLES_DIR / "manifest.csv").is_file()
    assert catalogue.SHIPPED_STYLES_DIR == STYLES_DIR
    shipped = load_catalogue([STYLES_DIR])
    assert shipped.styles and not shipped.problems
    assert all(style.painting is not None and style.artist and style.licence for style in shipped.styles)


def test_every_package_folder_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by hand (styles/ and examples/ are mapped into the
    package): a new sub-package must be listed too, or an installed wheel lacks it."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "styletransfer").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
    assert config["package-dir"] == {"styletransfer.styles": "styles", "styletransfer.examples": "examples"}

