"""Publishing finished (or, asked, stopped) runs as styles: model + painting + run logs, twins paired for the app."""
import shutil
import threading
from pathlib import Path

import torch
from PIL import Image

from styletransfer import TransformerNet, load_model, save_model
from styletransfer.apps.cli import main
from styletransfer.training.runfolder import write_json
from styletransfer.training import TrainingConfig, train
from styletransfer.modelfiles.catalogue import load_catalogue


def fake_run(folder: Path, painting: Path, norm: str, attention: str) -> Path:
    """A finished run folder as the trainer leaves it (config, logs, model)."""
    folder.mkdir(parents=True)
    write_json(folder / "config.json", TrainingConfig(style=str(painting), out_dir=str(folder), images="photos",
                                                      norm=norm, attention=attention, steps=2).to_dict())
    (folder / "metrics.csv").write_text("step,epoch,content,style,tv,total,lr,images_per_s,wall_time\n"
                                        "1,0,3,2,1,6,0.001,1,1\n2,0,2,1,1,4,0.001,1,2\n")
    torch.manual_seed(0)
    save_model(TransformerNet(norm=norm, attention=attention).eval(), folder / "model.safetensors",
               title="Tiny Waves", artist="Nobody", year=1901, licence="CC0-1.0", steps=2)
    return folder


def test_publish_a_pair_of_twins(tmp_path: Path, capsys) -> None:
    painting = tmp_path / "Waves.JPG"
    Image.new("RGB", (40, 30), "navy").save(painting, "JPEG")
    srm = fake_run(tmp_path / "runs" / "srm", painting, "batch", "srm")
    plain = fake_run(tmp_path / "runs" / "bn", painting, "batch", "none")
    styles = tmp_path / "styles"
    assert main(["publish", str(srm), "--name", "waves", "--twin", "waves_bn", "-o", str(styles), "--fp16"]) == 0
    assert main(["publish", str(plain), "--name", "waves_bn", "--twin", "waves", "-o", str(styles)]) == 0
    assert sorted(p.name for p in styles.iterdir()) == ["runs", "waves.jpg", "waves.safetensors",
                                                         "waves_bn.jpg", "waves_bn.safetensors"]
    assert (styles / "runs" / "waves" / "metrics.csv").read_text() == (srm / "metrics.csv").read_text()
    model = load_model(styles / "waves.safetensors")
    assert model.metadata["variant"] == "bn+srm" and model.metadata["twin"] == "waves_bn"
    assert model.metadata["style_image"] == "waves.jpg" and model.metadata["title"] == "Tiny Waves"
    assert (styles / "waves.safetensors").stat().st_size < 0.6 * (styles / "waves_bn.safetensors").stat().st_size
    assert main(["publish", str(plain), "--name", "waves_q", "-o", str(styles), "--int8"]) == 0
    assert (styles / "waves_q.safetensors").stat().st_size < 0.3 * (styles / "waves_bn.safetensors").stat().st_size
    (styles / "waves_q.safetensors").unlink(), (styles / "waves_q.jpg").unlink()
    shutil.rmtree(styles / "runs" / "waves_q")
    # A painting already in the style folder (a slim twin's full model's) is referred to, not copied.
    from styletransfer.apps.publish import publish_model
    path = publish_model(plain / "model.safetensors", styles, "waves_slim", painting=styles / "waves.jpg")
    assert load_model(path).metadata["style_image"] == "waves.jpg" and not (styles / "waves_slim.jpg").exists()
    path.unlink()
    catalogue = load_catalogue([styles])
    [(with_srm, without)] = catalogue.srm_pairs()
    assert (with_srm.name, without.name) == ("waves", "waves_bn")
    assert [style.name for style in catalogue.gallery()] == ["waves"]
    assert with_srm.run_dir == styles / "runs" / "waves"


def test_publishing_a_folder_that_is_no_run_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "run").mkdir()
    assert main(["publish", str(tmp_path / "run"), "--name", "x", "-o", str(tmp_path / "styles")]) == 2
    assert capsys.readouterr().err.strip().endswith("run: not a training run folder (no config.json)")
    assert not (tmp_path / "styles").exists()
    shutil.copy(fake_run(tmp_path / "finished", tmp_path / "p.jpg", "batch", "srm") / "config.json", tmp_path / "run")
    assert main(["publish", str(tmp_path / "run"), "--name", "x", "-o", str(tmp_path / "styles"), "--unfinished"]) == 2
    assert "run: nothing to publish: the run stopped before its first checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "styles").exists()


def test_a_stopped_run_is_published_only_when_asked_from_its_last_checkpoint(tmp_path: Path, capsys) -> None:
    """publish on a run stopped at step 2 of 3: refused in one line naming resume and
    --unfinished; with --unfinished, the checkpoint's network with completed false in its
    metadata, the painting and the run's logs, and nothing left in the run folder."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, colour in enumerate(["navy", "olive", "teal", "maroon"]):
        Image.new("RGB", (40, 40), colour).save(photos / f"{index}.png")
    painting = tmp_path / "waves.png"
    Image.new("RGB", (40, 30), "orange").save(painting)
    run = tmp_path / "run"
    stop = threading.Event()
    config = TrainingConfig(style=str(painting), out_dir=str(run), images=str(photos), batch_size=2, image_size=32,
                            precision="fp32", device="cpu", workers=0, val_images=0, val_every=0, preview_every=0,
                            style_layers=["relu1_1"], width=8, residual_blocks=1, steps=3, checkpoint_every=0)
    assert not train(config, progress=lambda update: stop.set(), stop_event=stop).completed
    before = sorted(path.name for path in run.iterdir())
    styles = tmp_path / "styles"
    assert main(["publish", str(run), "--name", "waves", "-o", str(styles)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not finished" in error
    assert f"styletransfer resume {run}" in error and "--unfinished" in error
    assert not (styles / "waves.safetensors").exists()
    assert main(["publish", str(run), "--name", "waves", "-o", str(styles), "--unfinished", "--fp16"]) == 0
    assert "completed: false" in capsys.readouterr().out
    model = load_model(styles / "waves.safetensors")
    assert (model.metadata["completed"], model.metadata["steps"], model.metadata["name"]) == (False, 2, "waves")
    assert model.metadata["style_image"] == "waves.png" and (styles / "waves.png").is_file()
    assert (styles / "runs" / "waves" / "metrics.csv").is_file()
    assert sorted(path.name for path in run.iterdir()) == before
    assert [style.name for style in load_catalogue([styles]).styles] == ["waves"]


def test_publish_records_the_images_a_fine_tune_has_seen_in_all(tmp_path: Path, monkeypatch) -> None:
    """A fine-tune trained before model files recorded images_seen gets it when published: its
    steps × batch size plus its init model's (found by name among the installed styles); a
    model from scratch gets its own steps × batch size; an init that cannot be found leaves it out."""
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))
    installed = tmp_path / "home" / "models"
    installed.mkdir(parents=True)
    painting = tmp_path / "waves.jpg"
    Image.new("RGB", (40, 30), "navy").save(painting, "JPEG")
    save_model(TransformerNet().eval(), installed / "waves_base.safetensors", steps=709, batch_size=8)
    run = fake_run(tmp_path / "runs" / "tuned", painting, "batch", "srm")
    net = load_model(run / "model.safetensors")
    save_model(net, run / "model.safetensors", steps=100, batch_size=4, init="waves_base")
    styles = tmp_path / "styles"
    assert main(["publish", str(run), "--name", "waves", "-o", str(styles)]) == 0
    assert load_model(styles / "waves.safetensors").metadata["images_seen"] == 709 * 8 + 100 * 4
    # The loss layers, which older model files leave out, come from the run's config.json.
    defaults = TrainingConfig(style="p", out_dir="o")
    assert load_model(styles / "waves.safetensors").metadata["style_layers"] == defaults.style_layers
    assert load_model(styles / "waves.safetensors").metadata["content_layers"] == defaults.content_layers
    save_model(net, run / "model.safetensors", steps=100, batch_size=4)
    assert main(["publish", str(run), "--name", "fresh", "-o", str(styles)]) == 0
    assert load_model(styles / "fresh.safetensors").metadata["images_seen"] == 400
    save_model(net, run / "model.safetensors", steps=100, batch_size=4, init="gone")
    assert main(["publish", str(run), "--name", "orphan", "-o", str(styles)]) == 0
    assert "images_seen" not in load_model(styles / "orphan.safetensors").metadata
