"""Every model shipped in styles/ loads by name, carries complete metadata, and stylizes."""
import csv

import numpy as np
import pytest
from PIL import Image

from styletransfer.inference.stylize import stylize
from styletransfer import load_model
from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR, list_models

from conftest import example_photos

SHIPPED = sorted(path.stem for path in SHIPPED_STYLES_DIR.glob("*.safetensors"))
REQUIRED_METADATA = ("title", "artist", "year", "licence", "style_image", "variant", "steps", "image_size",
                     "batch_size", "content_weight", "style_weight", "tv_weight", "final_losses", "library_version")


def test_styles_are_shipped():
    assert SHIPPED, f"no model files in {SHIPPED_STYLES_DIR}"
    assert set(SHIPPED) <= set(list_models())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_complete(name):
    net = load_model(name)
    missing = [key for key in REQUIRED_METADATA if net.metadata.get(key) in (None, "")]
    assert not missing, f"{name}: metadata lacks {missing}"
    painting = SHIPPED_STYLES_DIR / net.metadata["style_image"]
    assert painting.is_file() and max(Image.open(painting).size) <= 768
    runs = SHIPPED_STYLES_DIR / "runs" / name
    assert (runs / "metrics.csv").is_file() and (runs / "curves.png").is_file()
    if net.metadata.get("twin"):
        twin = load_model(net.metadata["twin"])
        assert twin.metadata["twin"] == name
        assert {net.metadata["variant"], twin.metadata["variant"]} == {"bn+srm", "bn"}
        for key in ("image_size", "batch_size", "seed", "lr", "content_weight", "style_weight", "tv_weight",
                    "color_weight", "dataset"):
            assert net.metadata.get(key) == twin.metadata.get(key), key
        # Same steps, except that the GPU session's deadline stopped the SRM runs of the shipped
        # pairs at ~709 of their twins' 800 steps (docs/styles.md, "How they were made"): a pair may
        # handicap its SRM model, never its BN twin.
        srm, bn = (net, twin) if net.metadata["variant"] == "bn+srm" else (twin, net)
        assert srm.metadata["steps"] <= bn.metadata["steps"]
    with open(SHIPPED_STYLES_DIR / "manifest.csv", newline="") as handle:
        credited = {row["file"] for row in csv.DictReader(handle)}
    assert net.metadata["style_image"] in credited


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_stylizes_a_photo(name):
    photo = Image.open(example_photos()[0]).convert("RGB")
    result = stylize(name, photo, max_size=256)
    original = np.asarray(photo.resize(result.size), dtype=np.float32)
    styled = np.asarray(result, dtype=np.float32)
    assert np.abs(styled - original).mean() > 10  # it changed the photo...
    assert styled.std() > 20                       # ...into an image, not a flat color


def test_starter_set_has_eight_srm_paintings_and_three_twin_pairs():
    metadata = {name: load_model(name).metadata for name in SHIPPED}
    srm = [name for name, meta in metadata.items() if meta["variant"] == "bn+srm"]
    paintings = {(metadata[name]["title"], metadata[name]["artist"]) for name in srm}
    assert len(paintings) >= 8, f"BN+SRM styles of only {sorted(paintings)}"
    paired = [name for name in srm if metadata[name].get("twin") in metadata]
    assert len(paired) >= 3, f"only {paired} ship with their no-SRM twin"


def test_shipped_styles_use_the_default_recipe():
    """The starter styles are what ``styletransfer train`` makes by default (at more steps), or a
    fine-tune of that whose file records its own recipe (``init``: the style itself); a
    slim twin is that, or a distillation fine-tune of it: started from the twin (``init``), with
    its teacher's pixel and palette terms and no content or style loss (the painting's colour loss
    may be on, as it was for the_kiss_slim before session 18)."""
    from styletransfer.training import TrainingConfig
    defaults = TrainingConfig(style="painting.jpg", out_dir="runs/x")
    for name in SHIPPED:
        meta = load_model(name).metadata
        if meta.get("init") == name and meta.get("teacher"):
            assert meta["content_weight"] == meta["style_weight"] == 0, name
            assert meta["distill_weight"] > 0 and meta["distill_palette_weight"] > 0, name
            continue
        if meta.get("init") == name:
            # A CPU fine-tune of the shipped style with the recipe the judge chose
            # (docs/ab/cpu-finetune): its file records that recipe and the images of both runs.
            assert meta["images_seen"] > meta["steps"] * meta["batch_size"], name
            assert meta["style_layers"] and meta["content_layers"], name
            if "stages" in meta:
                # Run in stages whose recipes differ (docs/model-format.md): the recorded recipe
                # is the last stage's, and the stages' images add up to the file's count.
                stages = meta["stages"]
                last = stages[-1]
                assert len(stages) >= 2, name
                for key in ("steps", "batch_size", "style_weight", "tv_weight", "images_seen"):
                    assert last[key] == meta[key], (name, key)
                assert stages[0]["images_seen"] >= stages[0]["steps"] * stages[0]["batch_size"], name
                for earlier, later in zip(stages, stages[1:]):
                    added = later["steps"] * later["batch_size"]
                    assert later["images_seen"] == earlier["images_seen"] + added, name
            continue
        for key in ("content_weight", "style_weight", "tv_weight", "color_weight"):
            assert meta[key] == getattr(defaults, key), (name, key)


def test_the_variant_comparison_is_shipped_with_every_variant_over_three_seeds():
    """styles/comparison/ (shown in the app's SRM tab): the paper's figure from our own models,
    the curves with bands and the table of every variant over at least three paired seeds."""
    from styletransfer import VARIANTS

    folder = SHIPPED_STYLES_DIR / "comparison"
    for name in ("figure.jpg", "comparison.png", "comparison.md", "comparison.csv"):
        assert (folder / name).is_file(), name
    with open(folder / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["run"] for row in rows} == set(VARIANTS)
    assert all(int(row["seeds"]) >= 3 for row in rows)
    assert all(int(row["steps"]) >= 1000 for row in rows)  # the GPU budget, not a CPU toy run
    assert "agrees with the paper" in (folder / "summary.md").read_text()


def test_every_shipped_style_has_a_slim_twin_distilled_from_it():
    """Issue 14: ``<name>_slim`` beside every full style (the webcam runs it on a CPU), a slim
    network distilled from that style's own model, on the same painting."""
    from styletransfer.modelfiles.catalogue import load_catalogue
    from styletransfer.modelfiles.catalogue import SHIPPED_STYLES_DIR as folder

    catalogue = load_catalogue([folder])
    full = [style for style in catalogue.styles if style.size == "full"]
    assert len(full) >= 12
    for style in full:
        slim = catalogue.get(f"{style.name}_slim")
        assert slim is not None, f"{style.name} has no slim twin"
        assert (slim.size, slim.teacher, slim.is_slim_twin) == ("slim", style.name, True)
        assert (slim.norm, slim.attention, slim.title) == (style.norm, style.attention, style.title)
        assert slim.painting == style.painting
        assert load_model(slim.name).metadata["distill_weight"] > 0
    assert all(style.size == "full" for style in catalogue.gallery())


@pytest.mark.parametrize("name", SHIPPED)
def test_a_recorded_border_margin_is_a_margin(name):
    from styletransfer.inference.margin import recorded_margin

    assert 0 <= recorded_margin(load_model(name).metadata) <= 64  # ValueError for anything else


def _top_edge_step(name: str, margin: int | None) -> float:
    """Mean luma of the outer 8 px rows minus the 16-32 px strip inside, over the first example
    photo as it is and mirrored left-right (docs/ab/border-bands/measure.py, the top side only)."""
    photo = Image.open(example_photos()[0]).convert("RGB")
    steps = []
    for image in (photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)):
        luma = np.asarray(stylize(name, image, max_size=256, margin=margin).convert("L"), dtype=np.float64)
        steps.append(luma[:8].mean() - luma[16:32].mean())
    return float(np.mean(steps))


def test_the_bn_great_wave_band_is_kept_out_of_the_picture():
    """Issue 23 (no border bands): great_wave_bn draws a dark band ~30 px wide along its top
    edge; the margin its model file records takes it out of the picture."""
    assert _top_edge_step("great_wave_bn", margin=0) < -40  # the band is there without a margin...
    assert abs(_top_edge_step("great_wave_bn", margin=None)) < 15  # ...and gone with the recorded one
