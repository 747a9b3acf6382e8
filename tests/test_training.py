"""Training: data sources, the run folder, exact resume after kill -9, DDP with gloo,
and the errors for bad input. Tiny everything (32 px crops, a handful of steps, CPU, fp32)."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fixtures_images import make_coco, write_truncated_jpeg
from styletransfer.core.images import image_to_tensor
from styletransfer.losses.perceptual import PerceptualLoss
from styletransfer.training.checkpoint import CheckpointError, load_checkpoint
from styletransfer.modelfiles.catalogue import load_model
from styletransfer.modelfiles.format import read_header, save_model, update_metadata
from styletransfer.models.transformer import SIZES, TransformerNet, count_parameters
from styletransfer.training.runfolder import read_csv
from styletransfer.training.trainer import TrainingDivergedError
from styletransfer.training import TrainingConfig, TrainingError, export_checkpoint, resume_training, train

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHELL = REPO / "train_transfer.py"

# The photos folder holds one broken file on purpose; finished_run checks its warning.
pytestmark = pytest.mark.filterwarnings("ignore:skipping 1 unusable image file:RuntimeWarning")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """8 small photos in a nested folder, plus one truncated JPEG."""
    root = tmp_path_factory.mktemp("photos")
    (root / "more").mkdir()
    for i, path in enumerate(sorted(EXAMPLES.glob("*.jpg"))):
        image = Image.open(path).convert("RGB")
        image.resize((56, 40)).save(root / f"a{i}.jpg")
        image.resize((40, 52)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "more" / f"b{i}.png")
    write_truncated_jpeg(root / "more" / "broken.jpg")
    return root


@pytest.fixture(scope="module")
def style(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("style") / "painting.png"
    Image.open(EXAMPLES / "red_panda.jpg").convert("RGB").resize((48, 40)).save(path)
    return path


def tiny(style: Path, out: Path, **options) -> TrainingConfig:
    """A config small enough for a CPU test: 32 px crops, batch 2, a shallow VGG."""
    settings = dict(style=str(style), out_dir=str(out), batch_size=2, image_size=32, precision="fp32",
                    device="cpu", workers=0, val_images=2, style_layers=["relu1_1", "relu2_1"],
                    checkpoint_every=3, val_every=3, preview_every=3, steps=6)
    settings.update(options)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def finished_run(photos, style, tmp_path_factory):
    """An uninterrupted 6-step run (checkpoints at 3 and 6), the reference for resuming."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    with pytest.warns(RuntimeWarning, match="broken.jpg"):
        result = train(tiny(style, out, images=str(photos)))
    return out, result


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [key for key in wa if not torch.equal(wa[key], wb[key])]
    assert not different, f"weights differ: {different[:5]}"


def run_shell(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SHELL), *args], capture_output=True, text=True, timeout=timeout)


def test_run_folder_holds_everything(finished_run, photos):
    out, result = finished_run
    assert result.completed and result.step == result.total_steps == 6
    assert [Path(p).name for p, _ in result.skipped] == ["broken.jpg"]

    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 6 and config["images"] == str(photos) and config["val_images"] == 2
    assert config["style_size"] == 48  # the painting's own size (under the 512 px cap)
    assert TrainingConfig.from_dict(config).to_dict() == config

    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["step", "epoch", "content", "style", "tv", "color", "distill", "total", "lr", "images_per_s",
                             "wall_time"]
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4, 5, 6]
    # 9 files, 1 broken, 2 held out: 6 training images, 3 steps per epoch.
    assert [int(row["epoch"]) for row in rows] == [0, 0, 0, 1, 1, 1]
    assert all(float(row["images_per_s"]) > 0 for row in rows)
    assert [row["step"] for row in read_csv(out / "val.csv")] == [3, 6]

    previews = sorted(p.name for p in (out / "previews").iterdir())
    assert previews == ["step_000003.jpg", "step_000006.jpg"]
    assert Image.open(out / "previews" / previews[0]).size == (2 * 32, 2 * 32)  # 2 held-out photos, 2 rows

    checkpoint = load_checkpoint(out / "checkpoint.pt")  # weights_only=True inside
    assert checkpoint["step"] == 6 and checkpoint["torch_rng"].dtype == torch.uint8
    assert (checkpoint["epoch"], checkpoint["position"]) == (2, 0)

    model = load_model(out / "model.safetensors")
    meta = model.metadata
    assert meta["name"] == "reference" and meta["style_image"] == "painting.png" and meta["steps"] == 6
    assert set(meta["final_losses"]) == {"content", "style", "tv", "color", "distill", "total"}
    assert meta["images_per_second"] > 0 and "folder" in meta["dataset"]
    assert (out / "curves.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and len(summary["skipped"]) == 1
    assert summary["parameters"] == count_parameters(TransformerNet("batch", "srm"))


def test_a_slim_network_trains_and_says_so(photos, style, tmp_path):
    result = train(tiny(style, tmp_path / "slim", images=str(photos), width=12, residual_blocks=3, steps=2))
    net = load_model(result.model_path)
    assert (net.config.width, net.config.residual_blocks) == (12, 3)
    assert net.metadata["size"] == "slim"


def test_a_slim_network_learns_from_a_teacher(photos, style, tmp_path):
    """Distillation: with only the distillation term, a slim network's pixel MSE and color
    distance to the teacher's output fall; the teacher's name and the weights go into the model
    file."""
    teacher = train(tiny(style, tmp_path / "teacher", images=str(photos), steps=2)).model_path
    result = train(tiny(style, tmp_path / "student", images=str(photos), **SIZES["slim"], teacher=str(teacher),
                        distill_weight=1.0, distill_palette_weight=0.5, content_weight=0, style_weight=0,
                        tv_weight=0, color_weight=0, steps=30, checkpoint_every=0, val_every=0, preview_every=0, lr=1e-2))
    rows = read_csv(tmp_path / "student" / "metrics.csv")
    distill = [row["distill"] for row in rows]
    assert all(row["total"] == pytest.approx(row["distill"]) for row in rows)
    assert sum(distill[-5:]) / 5 < 0.5 * sum(distill[:5]) / 5, distill
    net = load_model(result.model_path)
    assert net.metadata["size"] == "slim"
    assert (net.metadata["teacher"], net.metadata["distill_weight"], net.metadata["distill_palette_weight"]) == (
        "model", 1.0, 0.5)
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["teacher"] == str(teacher.resolve())


def test_the_feature_term_distils_and_is_recorded_in_the_model_file(photos, style, tmp_path):
    """--distill-feature-weight: the VGG feature MSE towards the teacher's output is the distill
    term here (nothing else), so 30 steps bring the student's pictures of the same photos closer
    to the teacher's in those features than 1 step does (measured on fixed photos, the teacher in
    eval mode and the students with batch statistics as trained: the per-step losses of random
    crops are too noisy to compare); the model file records the
    term's weight and layers, and a run without it has neither."""
    teacher = train(tiny(style, tmp_path / "teacher", images=str(photos), steps=2)).model_path
    layers = ["relu1_2", "relu2_2"]
    student = dict(images=str(photos), **SIZES["slim"], teacher=str(teacher), distill_weight=0.0,
                   distill_palette_weight=0.0, distill_feature_weight=1.0, distill_feature_layers=layers,
                   content_weight=0, style_weight=0, tv_weight=0, color_weight=0, checkpoint_every=0,
                   val_every=0, preview_every=0, lr=3e-3)
    short = train(tiny(style, tmp_path / "short", steps=1, **student)).model_path
    long = train(tiny(style, tmp_path / "long", steps=30, **student)).model_path
    images = torch.cat([image_to_tensor(Image.open(path).convert("RGB").resize((48, 48)))
                        for path in sorted(photos.glob("*.jpg"))])
    loss = PerceptualLoss(torch.rand(1, 3, 32, 32), content_layers=layers, style_layers=["relu1_1"],
                          distill_feature_weight=1.0, distill_feature_layers=layers)
    with torch.no_grad():
        target = load_model(teacher).eval()(images)  # the teacher as training uses it (folded BN)
        # The students with batch statistics, as they were trained.
        before, after = (loss.feature_distance(load_model(path).train()(images), target).item() for path in (short, long))
    assert after < 0.8 * before, (before, after)
    meta = load_model(long).metadata
    assert (meta["distill_feature_weight"], meta["distill_feature_layers"]) == (1.0, layers)
    assert "distill_feature_weight" not in load_model(teacher).metadata


def test_a_run_can_start_from_a_trained_model(finished_run, photos, style, tmp_path):
    """--init: the network starts from a model's weights (fine-tuning), so before any step it
    stylizes exactly as that model does; the model file names where it started."""
    out, result = finished_run
    start = load_model(result.model_path)
    config = tiny(style, tmp_path / "more", images=str(photos), init=str(result.model_path), steps=1,
                  lr=1e-12, val_every=0, preview_every=0, checkpoint_every=0)
    tuned = load_model(train(config).model_path)
    # One step at a negligible learning rate: the weights are still the start's (the BatchNorm
    # running statistics moved with the step's batch, as in any training step).
    for (name, weight), (_, started) in zip(tuned.named_parameters(), start.named_parameters()):
        torch.testing.assert_close(weight, started, rtol=0, atol=1e-9, msg=name)
    fresh = load_model(train(dataclasses.replace(config, init=None, out_dir=str(tmp_path / "fresh"))).model_path)
    assert not torch.allclose(dict(fresh.named_parameters())["head.1.weight"], dict(start.named_parameters())["head.1.weight"])
    assert tuned.metadata["init"] == "model"
    assert json.loads((tmp_path / "more" / "config.json").read_text())["init"] == str(result.model_path.resolve())


def test_a_distillation_run_stored_before_the_palette_term_resumes_without_it():
    """Exact resume: an older run folder's config.json, which has a teacher but no
    distill_palette_weight, comes back with the term off, as the run started; a new config
    gets the default."""
    stored = TrainingConfig(style="painting.jpg", out_dir="runs/x", teacher="teacher.safetensors").to_dict()
    del stored["distill_palette_weight"]
    assert TrainingConfig.from_dict(stored).distill_palette_weight == 0
    assert TrainingConfig(style="painting.jpg", out_dir="runs/x", teacher="t").distill_palette_weight == 3e9
    without_teacher = TrainingConfig(style="painting.jpg", out_dir="runs/x").to_dict()
    del without_teacher["distill_palette_weight"]
    assert TrainingConfig.from_dict(without_teacher).distill_palette_weight == 3e9


def test_a_fine_tune_of_the_same_painting_keeps_the_models_credits(photos, style, tmp_path):
    """Training a shipped style further (--init, the same painting) keeps its title, artist,
    year and licence unless the run gives its own; a run on another painting takes none."""
    credited = train(tiny(style, tmp_path / "credited", images=str(photos), steps=1, title="Red Panda",
                          artist="A. Painter", year="1901", licence="public domain", val_every=0,
                          preview_every=0, checkpoint_every=0)).model_path
    common = dict(images=str(photos), init=str(credited), steps=1, val_every=0, preview_every=0, checkpoint_every=0)
    tuned = load_model(train(tiny(style, tmp_path / "tuned", year="1902", **common)).model_path).metadata
    assert (tuned["title"], tuned["artist"], tuned["year"], tuned["licence"]) == (
        "Red Panda", "A. Painter", "1902", "public domain")
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["artist"] == "A. Painter"
    other = tmp_path / "other.png"
    Image.open(style).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    elsewhere = load_model(train(tiny(other, tmp_path / "elsewhere", **common)).model_path).metadata
    assert (elsewhere["title"], elsewhere["artist"], elsewhere["licence"]) == ("elsewhere", None, None)


def test_a_fine_tune_records_the_training_images_its_weights_have_seen_in_all(photos, style, tmp_path):
    """images_seen: steps × batch from scratch; a fine-tune adds its init model's count (from its
    images_seen, or its steps × batch for a model that predates the field); given by hand, that
    count wins; from an init model whose count is unknown, the field is left out."""
    common = dict(images=str(photos), val_every=0, preview_every=0, checkpoint_every=0)
    base = train(tiny(style, tmp_path / "base", steps=2, **common)).model_path
    assert load_model(base).metadata["images_seen"] == 2 * 2
    assert load_model(base).metadata["style_layers"] == ["relu1_1", "relu2_1"]  # what trained it
    assert load_model(base).metadata["content_layers"] == TrainingConfig(style="p", out_dir="o").content_layers
    tuned = train(tiny(style, tmp_path / "tuned", init=str(base), steps=3, batch_size=4, **common)).model_path
    assert load_model(tuned).metadata["images_seen"] == 2 * 2 + 3 * 4
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_images_seen"] == 4
    again = train(tiny(style, tmp_path / "again", init=str(tuned), steps=1, **common)).model_path
    assert load_model(again).metadata["images_seen"] == 2 * 2 + 3 * 4 + 1 * 2
    net = load_model(base)
    old = {key: value for key, value in net.metadata.items() if key not in ("images_seen", "path")}
    save_model(net, tmp_path / "old.safetensors", **old)  # a model file of an older version
    from_old = train(tiny(style, tmp_path / "from_old", init=str(tmp_path / "old.safetensors"), steps=1, **common))
    assert load_model(from_old.model_path).metadata["images_seen"] == 2 * 2 + 1 * 2
    by_hand = train(tiny(style, tmp_path / "by_hand", init=str(base), init_images_seen=160_000, steps=1, **common))
    assert load_model(by_hand.model_path).metadata["images_seen"] == 160_000 + 2
    save_model(net, tmp_path / "unknown.safetensors", **{k: v for k, v in old.items() if k != "steps"})
    unknown = train(tiny(style, tmp_path / "unknown", init=str(tmp_path / "unknown.safetensors"), steps=1, **common))
    assert "images_seen" not in load_model(unknown.model_path).metadata


def test_a_fine_tune_records_each_run_its_weights_went_through(photos, style, tmp_path):
    """stages (docs/model-format.md): none for a run from scratch; a fine-tune records its init
    model's run and its own, each with its recipe, images seen and date, the file's recipe being
    the last one's; a fine-tune of that keeps both and adds a third; an init model that does not
    say how it was trained gives no stages."""
    common = dict(images=str(photos), val_every=0, preview_every=0, checkpoint_every=0)
    base = train(tiny(style, tmp_path / "base", steps=2, **common)).model_path
    base_meta = read_header(base)[1]
    assert "stages" not in base_meta
    tuned = train(tiny(style, tmp_path / "tuned", init=str(base), steps=3, batch_size=4, style_weight=30.0,
                       **common)).model_path
    meta = read_header(tuned)[1]
    first, second = meta["stages"]
    assert (first["steps"], first["batch_size"], first["images_seen"], first["date"]) == (2, 2, 4, base_meta["date"])
    assert first["style_weight"] == TrainingConfig(style="p", out_dir="o").style_weight
    assert (second["steps"], second["batch_size"], second["images_seen"], second["style_weight"]) == (3, 4, 16, 30.0)
    for key, value in second.items():
        assert meta[key] == value, key
    layers = dict(style_layers=["relu1_1", "relu2_1", "relu3_1"], style_layer_weights=[1.0, 1.0, 0.1])
    again = read_header(train(tiny(style, tmp_path / "again", init=str(tuned), steps=1, **layers,
                                   **common)).model_path)[1]
    assert again["stages"][:2] == meta["stages"] and len(again["stages"]) == 3
    assert {key: again["stages"][2][key] for key in layers} == layers
    assert again["stages"][2]["images_seen"] == again["images_seen"] == 16 + 2
    net = load_model(base)
    untold = {key: value for key, value in base_meta.items() if key not in ("steps", "images_seen")}
    save_model(net, tmp_path / "untold.safetensors", **untold)
    unknown = train(tiny(style, tmp_path / "unknown", init=str(tmp_path / "untold.safetensors"), steps=1, **common))
    assert "stages" not in read_header(unknown.model_path)[1]


def test_a_fine_tune_resumed_with_a_fresh_config_keeps_what_it_took_from_its_init_model(photos, style, tmp_path):
    """train(config, resume=True) with a config built afresh (as a script that restarts does):
    the credits, the init model's count of images and its runs (stages) come from the run's
    stored config, not lost because the init model is not read again on resume (nor changed
    when the init file has changed since)."""
    common = dict(images=str(photos), val_every=0, preview_every=0, checkpoint_every=1)
    credited = train(tiny(style, tmp_path / "credited", steps=2, title="Red Panda", artist="A. Painter",
                          licence="public domain", **common)).model_path
    stop = threading.Event()
    fresh = tiny(style, tmp_path / "tuned", init=str(credited), steps=3, **common)
    stopped = train(fresh, progress=lambda update: update.step == 1 and stop.set(), stop_event=stop)
    assert not stopped.completed
    update_metadata(credited, steps=99, title="Replaced")  # the init file changed (a style shipped over it)
    done = train(tiny(style, tmp_path / "tuned", init=str(credited), steps=3, **common), resume=True)
    metadata = load_model(done.model_path).metadata
    assert [stage["steps"] for stage in metadata["stages"]] == [2, 3]  # as the init model was at the start
    assert (metadata["title"], metadata["artist"], metadata["licence"]) == ("Red Panda", "A. Painter", "public domain")
    assert metadata["images_seen"] == 2 * 2 + 3 * 2
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_images_seen"] == 4


def test_starting_from_a_model_of_another_network_is_refused_with_the_options_to_give(finished_run, photos,
                                                                                        style, tmp_path):
    _, result = finished_run
    with pytest.raises(TrainingError, match=r"init: .*model.safetensors: holds a batch/srm network of width 32 with "
                                            r"5 residual blocks.*give --norm batch --attention srm --width 32 "
                                            r"--residual-blocks 5"):
        train(tiny(style, tmp_path / "run", images=str(photos), init=str(result.model_path), width=12,
                   residual_blocks=3))
    with pytest.raises(TrainingError, match="init: no_such_style: no such model file or style name"):
        train(tiny(style, tmp_path / "run", images=str(photos), init="no_such_style"))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_run_without_a_teacher_logs_a_zero_distillation_term(finished_run):
    out, _ = finished_run
    assert all(row["distill"] == 0 for row in read_csv(out / "metrics.csv"))
    assert "teacher" not in load_model(out / "model.safetensors").metadata


@pytest.mark.parametrize("teacher, problem", [("no_such_style", "no such model file or style name"),
                                               ("painting", "not a model file")])
def test_an_unusable_teacher_is_refused_before_training(photos, style, tmp_path, teacher, problem):
    teacher = str(style) if teacher == "painting" else teacher
    with pytest.raises(TrainingError, match=f"teacher: .*{teacher}.*{problem}"):
        train(tiny(style, tmp_path / "run", images=str(photos), teacher=teacher))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_loss_goes_down(photos, style, tmp_path):
    train(tiny(style, tmp_path / "run", images=str(photos), steps=20, checkpoint_every=0, val_every=0,
               preview_every=0, val_images=1))
    totals = [row["total"] for row in read_csv(tmp_path / "run" / "metrics.csv")]
    assert len(totals) == 20
    first, last = sum(totals[:5]) / 5, sum(totals[-5:]) / 5
    assert last < 0.85 * first, (first, last)


def test_stopping_checkpoints_and_resume_continues_exactly(finished_run, photos, style, tmp_path):
    reference, _ = finished_run
    out = tmp_path / "stopped"
    stop = threading.Event()
    result = train(tiny(style, out, images=str(photos), checkpoint_every=0),
                   progress=lambda update: update.step == 2 and stop.set(), stop_event=stop)
    # Set between steps 2 and 3: step 3 runs, then the run stops.
    assert not result.completed and result.model_path is None and result.step == 3
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    result = resume_training(out)
    assert result.completed and result.step == 6
    assert_same_weights(reference, out)


def test_a_stopped_runs_last_checkpoint_exports_as_a_model_file(finished_run, photos, style, tmp_path):
    """export_checkpoint: the checkpoint's weights exactly, with the metadata a finished file has
    for that step and completed false; the photos gone, the data set is still named; a run's
    last checkpoint says completed true; a folder without a checkpoint is a one-line error."""
    out = tmp_path / "stopped"
    stop = threading.Event()
    train(tiny(style, out, images=str(photos), checkpoint_every=0),
          progress=lambda update: update.step == 1 and stop.set(), stop_event=stop)
    net = load_model(export_checkpoint(out, tmp_path / "at2.safetensors"))
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 2 and not net.training
    assert all(torch.equal(value, checkpoint["model"][key]) for key, value in net.state_dict().items())
    metadata = net.metadata
    assert (metadata["completed"], metadata["steps"], metadata["images_seen"]) == (False, 2, 4)
    assert set(metadata["final_losses"]) >= {"content", "style", "total"}
    assert metadata["dataset"].startswith(f"folder {photos.name} (")
    _, finished = finished_run
    finished_metadata = load_model(finished.model_path).metadata
    assert set(finished_metadata) - set(metadata) <= {"final_val_losses", "images_per_second"}

    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps(config | {"images": str(tmp_path / "gone")}))
    assert load_model(export_checkpoint(moved, tmp_path / "moved.safetensors")).metadata["dataset"] == "folder gone"

    resume_training(out)
    assert load_model(export_checkpoint(out, tmp_path / "last.safetensors")).metadata["completed"] is True
    (tmp_path / "empty").mkdir()
    shutil.copy(out / "config.json", tmp_path / "empty")
    with pytest.raises(CheckpointError, match="empty/checkpoint.pt: no checkpoint"):
        export_checkpoint(tmp_path / "empty", tmp_path / "none.safetensors")
    assert not (tmp_path / "none.safetensors").exists()


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(photos, style, tmp_path):
    def interrupt(update):
        if update.step == 1:
            os.kill(os.getpid(), signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    result = train(tiny(style, tmp_path / "run", images=str(photos), checkpoint_every=0), progress=interrupt)
    assert not result.completed and result.step == 2
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is handler


def test_resume_with_more_steps_equals_one_long_run(finished_run, photos, style, tmp_path):
    reference, _ = finished_run
    out = tmp_path / "short"
    # A data loading worker process draws the same crops as the main process did.
    assert train(tiny(style, out, images=str(photos), steps=3, workers=1)).completed
    assert (out / "model.safetensors").is_file()
    result = resume_training(out, steps=6)
    assert result.completed and result.step == 6
    assert [row["step"] for row in read_csv(out / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
    assert_same_weights(reference, out)


def test_killed_run_resumes_to_the_same_weights(finished_run, photos, style, tmp_path):
    """kill -9 after step 4 (last checkpoint at step 3), then ``--resume`` from the shell."""
    reference, _ = finished_run
    out = tmp_path / "killed"
    config = tiny(style, out, images=str(photos)).to_dict()
    script = (
        "import json, os, signal, sys\n"
        "from styletransfer.training import TrainingConfig, train\n"
        "def kill_at_step_4(update):\n"
        "    if update.step == 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "train(TrainingConfig(**json.loads(sys.argv[1])), progress=kill_at_step_4)\n"
    )
    killed = subprocess.run([sys.executable, "-W", "ignore", "-c", script, json.dumps(config)],
                            capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    assert [row["step"] for row in read_csv(out / "metrics.csv")] == [1, 2, 3, 4]
    assert not (out / "model.safetensors").exists()

    resumed = run_shell("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "done: 6 steps" in resumed.stdout
    assert [row["step"] for row in read_csv(out / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
    assert_same_weights(reference, out)


def test_coco_with_category_filter(style, tmp_path):
    # Images 1-6 show a dog, 7-9 only a person, 10 nothing.
    coco = make_coco(tmp_path / "coco", {**{i: [18, 1] for i in range(1, 7)}, 7: [1], 8: [1], 9: [1], 10: []})
    broken = write_truncated_jpeg(coco / "train2017" / f"{1:012d}.jpg")
    out = tmp_path / "run"
    # COCO files are checked as they are read: 2 steps of batch 2 visit all 4 training images.
    with pytest.warns(RuntimeWarning, match="skipping unusable training image"):
        result = train(tiny(style, out, coco_root=str(coco), coco_categories=["dog"], steps=2, checkpoint_every=0))
    assert result.completed and [path for path, _ in result.skipped] == [str(broken)]
    assert json.loads((out / "summary.json").read_text())["skipped"][0][0] == str(broken)
    config = json.loads((out / "config.json").read_text())
    assert config["coco_categories"] == ["dog"] and config["val_images"] == 2
    dataset = load_model(out / "model.safetensors").metadata["dataset"]
    assert "instances_train2017.json" in dataset and "dog" in dataset and "6 images" in dataset

    with pytest.raises(TrainingError, match="unknown COCO category"):
        train(tiny(style, tmp_path / "bad", coco_root=str(coco), coco_categories=["unicorn"]))
    (coco / "annotations" / "instances_train2017.json").unlink()
    with pytest.raises(TrainingError, match="instances_train2017.json: COCO annotation file not found"):
        train(tiny(style, tmp_path / "missing", coco_root=str(coco)))


def test_style_layer_weights_weigh_each_layer_of_the_style_term(photos, style, tmp_path):
    """--style-layer-weights: a layer weighted 0 trains exactly as if it were left out; the
    weights are stored in the run's config and the model file (what trained it), and a run
    without them records none."""
    from styletransfer.apps.cli import main

    common = dict(images=str(photos), steps=2, val_every=0, preview_every=0, checkpoint_every=0)
    alone = train(tiny(style, tmp_path / "alone", style_layers=["relu1_1"], **common)).model_path
    assert "style_layer_weights" not in load_model(alone).metadata
    assert main(["train", "--style", str(style), "--images", str(photos), "--out", str(tmp_path / "zero"),
                 "--steps", "2", "--batch-size", "2", "--image-size", "32", "--precision", "fp32",
                 "--device", "cpu", "--workers", "0", "--val-images", "2", "--val-every", "0",
                 "--preview-every", "0", "--checkpoint-every", "0", "--style-layers", "relu1_1,relu2_1",
                 "--style-layer-weights", "1,0"]) == 0
    assert_same_weights(tmp_path / "alone", tmp_path / "zero")
    assert load_model(tmp_path / "zero" / "model.safetensors").metadata["style_layer_weights"] == [1.0, 0.0]
    assert json.loads((tmp_path / "zero" / "config.json").read_text())["style_layer_weights"] == [1.0, 0.0]
    train(tiny(style, tmp_path / "half", style_layer_weights=[1.0, 0.5], **common))
    with pytest.raises(AssertionError, match="weights differ"):  # relu2_1 at half weight does count
        assert_same_weights(tmp_path / "alone", tmp_path / "half")


def test_two_processes_with_gloo(photos, style, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SHELL),
               "--style", str(style), "--images", str(photos), "--out", str(out), "--steps", "3",
               "--batch-size", "4", "--image-size", "32", "--precision", "fp32", "--device", "cpu",
               "--workers", "0", "--val-images", "2", "--style-layers", "relu1_1,relu2_1"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.count("done: 3 steps") == 1  # rank 0 alone reports
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2
    assert [row["step"] for row in read_csv(out / "metrics.csv")] == [1, 2, 3]
    assert load_model(out / "model.safetensors").metadata["steps"] == 3


def test_run_folder_with_a_checkpoint_is_not_overwritten(finished_run, photos, style):
    out, _ = finished_run
    with pytest.raises(TrainingError, match="already holds a training run"):
        train(tiny(style, out, images=str(photos)))


@pytest.mark.parametrize("change, message", [
    (dict(style="missing.png"), "missing.png: file not found"),
    (dict(batch_size=1), "need at least 2 images per process"),
    (dict(images=None), "no training images"),
    (dict(norm="group"), "unknown norm 'group'"),
    (dict(content_layers=["relu9_9"]), "unknown VGG19 layer.s. relu9_9 for the content loss"),
    (dict(distill_feature_layers=["conv2_2", "relu6_1"]), "unknown VGG19 layer.s. relu6_1 for the distill feature loss"),
    (dict(distill_feature_weight=-1.0), "distill_feature_weight must not be negative"),
    (dict(distill_feature_weight=1.0, distill_feature_layers=[]), "feature term needs at least one VGG layer"),
    (dict(style_layer_weights=[1.0]), "1 style layer weights for 2 style layers .relu1_1, relu2_1."),
    (dict(style_layer_weights=[1.0, -0.5]), "style layer weights must not be negative, not 1, -0.5"),
])
def test_bad_options_fail_with_one_clear_line(photos, style, tmp_path, change, message):
    config = dataclasses.replace(tiny(style, tmp_path / "run", images=str(photos)), **change)
    with pytest.raises(TrainingError, match=message):
        train(config)
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_divergence_stops_before_the_checkpoint_is_spoilt(photos, style, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match="training diverged at step 1"):
        train(tiny(style, out, images=str(photos), style_weight=float("inf")))
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 0
    assert all(value.isfinite().all() for value in checkpoint["model"].values() if value.is_floating_point())


def test_no_usable_images(style, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    write_truncated_jpeg(folder / "x.jpg")
    (folder / "notes.png").write_text("not an image")
    with pytest.raises(TrainingError, match="no usable images in .*broken"):
        train(tiny(style, tmp_path / "run", images=str(folder)))


def test_shell_prints_one_line_and_exits_non_zero(photos, tmp_path):
    finished = run_shell("--style", str(tmp_path / "nope.jpg"), "--images", str(photos), "--out", str(tmp_path / "r"))
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [f"train_transfer.py: error: {tmp_path / 'nope.jpg'}: file not found"]
    finished = run_shell("--resume", str(tmp_path / "never"))
    assert finished.returncode == 2 and "not a training run folder" in finished.stderr
    assert "Traceback" not in finished.stderr
