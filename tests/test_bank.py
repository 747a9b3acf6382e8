"""A bank of networks trained in one process (issue 22): each network ends as it would alone,
resumes exactly, diverges alone, trains in every precision, and the CLI and compare use banks.
Tiny everything: 32 px crops, batch 2, a shallow VGG, a few steps on the CPU in fp32."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from styletransfer.apps.cli import main
from styletransfer.losses.perceptual import PerceptualLoss
from styletransfer.modelfiles.catalogue import load_model
from styletransfer.modelfiles.format import training_stage
from styletransfer.models.transformer import TransformerNet
from styletransfer.evaluation.variants import compare
from styletransfer.training import BankOptions, TrainingConfig, TrainingError, resume_bank, train, train_bank
from styletransfer.training.bank_data import DeviceCrops, PhotoStream
from styletransfer.training.bank_loss import BankLoss
from styletransfer.training import trainer as trainer_module
from styletransfer.training.checkpoint import load_checkpoint
from styletransfer.training.data import ImageFolderDataset, SeededCrops, _collate
from styletransfer.training.runfolder import read_csv
from test_training import EXAMPLES, assert_same_weights, weights

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """8 small photos of two shapes."""
    root = tmp_path_factory.mktemp("photos")
    for i, path in enumerate(sorted(EXAMPLES.glob("*.jpg"))):
        image = Image.open(path).convert("RGB")
        image.resize((56, 40)).save(root / f"a{i}.jpg")
        image.resize((40, 52)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / f"b{i}.png")
    return root


@pytest.fixture(scope="module")
def paintings(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("paintings")
    paths = []
    for name, source in (("waves", "red_panda.jpg"), ("night", sorted(EXAMPLES.glob("*.jpg"))[0].name)):
        path = folder / f"{name}.png"
        Image.open(EXAMPLES / source).convert("RGB").resize((48, 40)).save(path)
        paths.append(path)
    return paths


def tiny(style: Path, out: Path, photos: Path, **options) -> TrainingConfig:
    settings = dict(style=str(style), out_dir=str(out), images=str(photos), batch_size=2, image_size=32,
                    precision="fp32", device="cpu", workers=0, val_images=2, style_layers=["relu1_1", "relu2_1"],
                    checkpoint_every=3, val_every=3, preview_every=0, steps=6)
    settings.update(options)
    return TrainingConfig(**settings)


def pair(paintings, photos, folder: Path, **options) -> list[TrainingConfig]:
    """Two networks that differ in painting, seed, loss weights and learning rate."""
    return [tiny(paintings[0], folder / "waves", photos, **options),
            tiny(paintings[1], folder / "night", photos, seed=3, style_weight=30.0, color_weight=0.0, lr=2e-3,
                 **options)]


@pytest.fixture(scope="module")
def reference_bank(paintings, photos, tmp_path_factory):
    """An uninterrupted bank of two networks, 6 steps (checkpoints at 3 and 6)."""
    folder = tmp_path_factory.mktemp("bank") / "bank"
    result = train_bank(pair(paintings, photos, folder), bank_dir=folder)
    return folder, result


def relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest ||a - b|| / ||b|| over the floating-point tensors."""
    return max(float((a[k] - b[k]).norm() / b[k].norm().clamp_min(1e-12)) for k in b if b[k].is_floating_point())


# ---------------------------------------------------------------------------------------------
# The shared loss and data
# ---------------------------------------------------------------------------------------------

def test_the_bank_loss_gives_each_network_its_own_perceptual_loss_and_gradients():
    """Different paintings, weights and layers: each network's terms and gradients are those of
    its own PerceptualLoss on its own output."""
    torch.manual_seed(0)
    styles = [torch.rand(1, 3, 40, 48), torch.rand(1, 3, 36, 30)]
    configs = [TrainingConfig(style="a", out_dir="a", images="p", style_layers=["relu1_1", "relu2_1"],
                              style_layer_weights=[1.0, 0.25]),
               TrainingConfig(style="b", out_dir="b", images="p", style_layers=["relu2_1"],
                              content_layers=["relu1_2"], style_weight=3.0, tv_weight=0.0, color_weight=1e6)]
    bank = BankLoss(styles, configs)
    photos = torch.rand(2, 3, 32, 32)
    nets = [TransformerNet(width=8, residual_blocks=1), TransformerNet("instance", "none", width=8, residual_blocks=1)]
    alone = [copy.deepcopy(net) for net in nets]
    terms = bank([0, 1], photos, [net(photos) for net in nets], [None, None])
    terms.sum().backward()
    for index, (style, config, net) in enumerate(zip(styles, configs, alone)):
        loss = PerceptualLoss(style, content_weight=config.content_weight, style_weight=config.style_weight,
                              tv_weight=config.tv_weight, color_weight=config.color_weight,
                              content_layers=config.content_layers, style_layers=config.style_layers,
                              style_layer_weights=config.style_layer_weights, vgg=bank.vgg)
        own = loss(net(photos), photos)
        expected = torch.stack([own.content, own.style, own.tv, own.color, own.distill])
        assert torch.equal(terms[index].detach(), expected.detach()), (terms[index], expected)
        own.total.backward()
        for (name, a), b in zip(net.named_parameters(), nets[index].parameters()):
            assert torch.equal(a.grad, b.grad), name
    # One network alone in a step (the others finished): its own row.
    single = bank([1], photos, [nets[1](photos)], [None])
    assert single.shape == (1, 5) and torch.allclose(single[0], terms[1].detach())


def test_the_bank_loss_gives_the_distillation_feature_term_of_each_network_alone():
    """Networks with a teacher and the feature term (with and without the perceptual terms, on
    different layers) beside one without: each row and each gradient is its own
    PerceptualLoss's, and the feature term needs the VGG even when content and style are 0."""
    torch.manual_seed(1)
    styles = [torch.rand(1, 3, 40, 48), torch.rand(1, 3, 36, 30), torch.rand(1, 3, 32, 32)]
    common = dict(images="p", style_layers=["relu1_1", "relu2_1"], distill_palette_weight=0.0)
    configs = [TrainingConfig(style="a", out_dir="a", **common),
               TrainingConfig(style="b", out_dir="b", teacher="t", content_weight=0.0, style_weight=0.0,
                              distill_weight=2.0, distill_feature_weight=5.0, **common),
               TrainingConfig(style="c", out_dir="c", teacher="t", distill_feature_weight=0.5,
                              distill_feature_layers=["relu1_1", "relu2_2"], **common)]
    bank = BankLoss(styles, configs)
    assert {"relu1_1", "relu2_2"} <= set(bank.vgg.layer_index)
    photos = torch.rand(2, 3, 32, 32)
    teachers = [None, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)]
    nets = [TransformerNet(width=8, residual_blocks=1) for _ in configs]
    alone = [copy.deepcopy(net) for net in nets]
    terms = bank([0, 1, 2], photos, [net(photos) for net in nets], teachers)
    terms.sum().backward()
    assert terms[1, 0] == 0 and terms[1, 1] == 0 and terms[1, 4] > 0 and terms[0, 4] == 0
    for index, (style, config, net) in enumerate(zip(styles, configs, alone)):
        loss = PerceptualLoss(style, content_weight=config.content_weight, style_weight=config.style_weight,
                              tv_weight=config.tv_weight, color_weight=config.color_weight,
                              distill_weight=config.distill_weight, distill_palette_weight=0.0,
                              distill_feature_weight=config.distill_feature_weight,
                              distill_feature_layers=config.distill_feature_layers,
                              content_layers=config.content_layers, style_layers=config.style_layers, vgg=bank.vgg)
        own = loss(net(photos), photos, teachers[index])
        expected = torch.stack([own.content, own.style, own.tv, own.color, own.distill])
        assert torch.equal(terms[index].detach(), expected.detach()), (index, terms[index], expected)
        own.total.backward()
        for (name, a), b in zip(net.named_parameters(), nets[index].parameters()):
            assert torch.equal(a.grad, b.grad), (index, name)


def test_device_crops_are_the_crops_the_loader_reads(photos):
    """The photos cached on the device (here the CPU) give the loader's crops, pixel for pixel,
    already channels-last."""
    dataset = ImageFolderDataset(photos, 32)
    crops = DeviceCrops(dataset, torch.device("cpu"))
    keys = [(index, 1000 + index) for index in range(len(dataset))]
    expected = _collate([SeededCrops(dataset)[key] for key in keys])[0]
    cut = crops.crops(keys)
    assert cut.dtype == torch.uint8 and torch.equal(cut, expected)
    assert cut.is_contiguous(memory_format=torch.channels_last)
    stream = PhotoStream(dataset, batch_size=4, seed=0, workers=0, device=torch.device("cpu"), channels_last=False,
                         device_crops=crops)
    loader = PhotoStream(dataset, batch_size=4, seed=0, workers=0, device=torch.device("cpu"), channels_last=False)
    for (a, _), (b, _) in zip(stream.batches(1, 1), loader.batches(1, 1)):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# A bank of networks
# ---------------------------------------------------------------------------------------------

def test_a_network_trained_in_a_bank_ends_with_the_weights_it_gets_alone(reference_bank, tmp_path):
    """Each network of the bank against train() of its stored config (the second network's seed
    differs from the bank's, so its config names the bank's data seed)."""
    folder, result = reference_bank
    assert result.completed and not result.diverged and set(result.runs) == {"waves", "night"}
    assert result.images_per_second > 0
    for name in ("waves", "night"):
        config = TrainingConfig.from_dict(json.loads((folder / name / "config.json").read_text()))
        assert config.data_seed == (None if name == "waves" else 0)
        alone = train(dataclasses.replace(config, out_dir=str(tmp_path / name)))
        assert alone.completed
        assert relative_difference(weights(folder / name), weights(tmp_path / name)) < 1e-3
        assert read_csv(folder / name / "metrics.csv")[0]["total"] == pytest.approx(
            read_csv(tmp_path / name / "metrics.csv")[0]["total"], rel=1e-6)


def test_every_network_gets_a_normal_run_folder(reference_bank):
    folder, result = reference_bank
    assert json.loads((folder / "bank.json").read_text())["networks"] == ["waves", "night"]
    for name in ("waves", "night"):
        run = folder / name
        assert [row["step"] for row in read_csv(run / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
        assert [row["step"] for row in read_csv(run / "val.csv")] == [3, 6]
        model = load_model(run / "model.safetensors")
        assert model.metadata["name"] == name and model.metadata["steps"] == 6
        assert model.metadata["style_image"] == f"{name}.png"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["completed"] and summary["bank"]["networks"] == 2
        assert load_checkpoint(run / "checkpoint.pt")["step"] == 6
        assert (run / "curves.png").is_file()
    night = json.loads((folder / "night" / "config.json").read_text())
    assert (night["seed"], night["style_weight"], night["lr"]) == (3, 30.0, 2e-3)


def test_a_network_fine_tuned_in_a_bank_records_its_init_model_s_run_and_its_own(reference_bank, paintings,
                                                                                  photos, tmp_path):
    """stages and images_seen, as a fine-tune trained alone records them (test_training); a
    network of the same bank started from scratch records no stages."""
    folder, _ = reference_bank
    base = folder / "waves" / "model.safetensors"
    result = train_bank([tiny(paintings[0], tmp_path / "more", photos, init=str(base), steps=2, style_weight=30.0),
                         tiny(paintings[1], tmp_path / "fresh", photos, steps=2)], bank_dir=tmp_path)
    assert result.completed
    more = load_model(tmp_path / "more" / "model.safetensors").metadata
    first, second = more["stages"]
    assert first == training_stage(load_model(base).metadata)
    assert (second["steps"], second["style_weight"], second["images_seen"], more["images_seen"]) == (2, 30.0, 16, 16)
    assert "stages" not in load_model(tmp_path / "fresh" / "model.safetensors").metadata


def test_a_stopped_bank_resumes_to_the_same_weights(reference_bank, paintings, photos, tmp_path):
    reference, _ = reference_bank
    folder = tmp_path / "bank"
    stop = threading.Event()
    result = train_bank(pair(paintings, photos, folder, checkpoint_every=0), bank_dir=folder,
                        progress=lambda update: update.step == 2 and stop.set(), stop_event=stop)
    # Set after step 2: step 3 runs, then every network stops with a checkpoint.
    assert not result.completed and {run.step for run in result.runs.values()} == {3}
    assert all(run.model_path is None for run in result.runs.values())
    assert load_checkpoint(folder / "night" / "checkpoint.pt")["step"] == 3
    resumed = resume_bank(folder)
    assert resumed.completed
    for name in ("waves", "night"):
        assert_same_weights(reference / name, folder / name)
        assert [row["step"] for row in read_csv(folder / name / "metrics.csv")] == [1, 2, 3, 4, 5, 6]


def test_a_killed_bank_resumes_to_the_same_weights_from_the_cli(reference_bank, paintings, photos, tmp_path):
    """kill -9 after step 4 (checkpoints at 3), then ``styletransfer resume BANK``."""
    reference, _ = reference_bank
    folder = tmp_path / "bank"
    configs = [config.to_dict() for config in pair(paintings, photos, folder)]
    script = (
        "import json, os, signal, sys\n"
        "from styletransfer.training import TrainingConfig, train_bank\n"
        "def kill_at_step_4(update):\n"
        "    if update.step == 4:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "train_bank([TrainingConfig(**c) for c in json.loads(sys.argv[1])], bank_dir=sys.argv[2],\n"
        "           progress=kill_at_step_4)\n"
    )
    killed = subprocess.run([sys.executable, "-W", "ignore", "-c", script, json.dumps(configs), str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [row["step"] for row in read_csv(folder / "waves" / "metrics.csv")] == [1, 2, 3, 4]
    assert main(["resume", str(folder)]) == 0
    for name in ("waves", "night"):
        assert_same_weights(reference / name, folder / name)
        assert [row["step"] for row in read_csv(folder / name / "metrics.csv")] == [1, 2, 3, 4, 5, 6]


def test_networks_of_other_lengths_leave_and_late_ones_catch_up(reference_bank, paintings, photos, tmp_path):
    """A network that reaches its steps finishes while the others go on; one found behind the
    others (here: extended later) trains alone until it reaches them."""
    reference, _ = reference_bank
    folder = tmp_path / "bank"
    short, long = pair(paintings, photos, folder)
    result = train_bank([dataclasses.replace(short, steps=3), long], bank_dir=folder)
    assert result.completed and result.runs["waves"].step == 3 and result.runs["night"].step == 6
    assert load_model(folder / "waves" / "model.safetensors").metadata["steps"] == 3
    assert relative_difference(weights(folder / "night"), weights(reference / "night")) < 1e-3  # its partner left
    resumed = resume_bank(folder, steps=8)  # waves: 3 → 8 (alone to 6), night: 6 → 8
    assert resumed.completed and {run.step for run in resumed.runs.values()} == {8}
    rows = read_csv(folder / "waves" / "metrics.csv")
    assert [row["step"] for row in rows] == list(range(1, 9))
    reference_rows = read_csv(reference / "waves" / "metrics.csv")
    for row, expected in zip(rows[3:6], reference_rows[3:6]):  # steps 4-6 alone: the same photos, a smaller batch
        assert row["total"] == pytest.approx(expected["total"], rel=1e-4)


def test_one_diverging_network_stops_and_is_reported_while_the_others_go_on(paintings, photos, tmp_path):
    good, bad = pair(paintings, photos, tmp_path / "bank", checkpoint_every=2)
    result = train_bank([good, dataclasses.replace(bad, style_weight=float("inf"))])
    assert not result.completed and list(result.diverged) == ["night"]
    assert "training diverged at step 1 (fp32;" in result.diverged["night"]
    assert result.runs["waves"].completed and result.runs["waves"].step == 6
    assert not result.runs["night"].completed and result.runs["night"].model_path is None
    checkpoint = load_checkpoint(tmp_path / "bank" / "night" / "checkpoint.pt")
    assert checkpoint["step"] == 0
    assert all(value.isfinite().all() for value in checkpoint["model"].values() if value.is_floating_point())
    summary = json.loads((tmp_path / "bank" / "night" / "summary.json").read_text())
    assert not summary["completed"] and "diverged at step 1" in summary["diverged"]
    # The healthy network is the one it would be alone.
    alone = train(dataclasses.replace(good, out_dir=str(tmp_path / "alone")))
    assert relative_difference(weights(tmp_path / "bank" / "waves"), weights(alone.run_dir)) < 1e-3


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_bank_trains_in_every_precision(precision, paintings, photos, tmp_path):
    """CPU autocast; fp16 with one GradScaler per network, in each checkpoint."""
    configs = pair(paintings, photos, tmp_path / "bank", precision=precision, steps=3, val_images=0,
                   checkpoint_every=0)
    result = train_bank(configs)
    assert result.completed
    for name in ("waves", "night"):
        rows = read_csv(tmp_path / "bank" / name / "metrics.csv")
        assert len(rows) == 3 and all(math.isfinite(row["total"]) for row in rows)
        scaler = load_checkpoint(tmp_path / "bank" / name / "checkpoint.pt")["grad_scaler"]
        assert bool(scaler) == (precision == "fp16")
    assert json.loads((tmp_path / "bank" / "waves" / "config.json").read_text())["precision"] == precision


def test_the_speed_options_train_the_same_networks(reference_bank, paintings, photos, tmp_path, monkeypatch):
    """Photos cut on the device, losses read every 4 steps and torch.compile (its "eager" backend
    runs the same kernels; the real one needs minutes of compiling on a CPU): the same weights,
    every step logged."""
    monkeypatch.setitem(trainer_module.COMPILE_OPTIONS, "backend", "eager")
    reference, _ = reference_bank
    folder = tmp_path / "bank"
    result = train_bank(pair(paintings, photos, folder, compile=True),
                        options=BankOptions(device_cache=True, read_losses_every=4), bank_dir=folder)
    assert result.completed
    for name in ("waves", "night"):
        assert_same_weights(reference / name, folder / name)
        assert [row["step"] for row in read_csv(folder / name / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
    assert json.loads((folder / "waves" / "summary.json").read_text())["compiled"] is True
    stored = json.loads((folder / "bank.json").read_text())
    assert BankOptions.from_dict(stored["options"]) == BankOptions(device_cache=True, read_losses_every=4)


def test_a_bank_refuses_what_it_cannot_share(paintings, photos, tmp_path):
    first, second = pair(paintings, photos, tmp_path / "bank")
    with pytest.raises(TrainingError, match="share one stream of photos.*differ in batch_size"):
        train_bank([first, dataclasses.replace(second, batch_size=4)])
    with pytest.raises(TrainingError, match="share one run folder"):
        train_bank([first, dataclasses.replace(second, out_dir=first.out_dir)])
    with pytest.raises(TrainingError, match="data_seed 5, the bank 0"):
        train_bank([first, dataclasses.replace(second, data_seed=5)])
    with pytest.raises(TrainingError, match="unknown bank option"):
        BankOptions.from_dict({"device_cach": True})
    with pytest.raises(TrainingError, match="read_losses_every must be at least 1"):
        train_bank([first], options=BankOptions(read_losses_every=0))
    assert not (tmp_path / "bank").exists()


# ---------------------------------------------------------------------------------------------
# The CLI and compare
# ---------------------------------------------------------------------------------------------

def test_several_styles_on_the_command_line_train_a_bank(paintings, photos, tmp_path, capsys):
    tiny_options = ["--images", str(photos), "--image-size", "32", "--batch-size", "2", "--precision", "fp32",
                    "--device", "cpu", "--workers", "0", "--val-images", "0", "--style-layers", "relu1_1,relu2_1",
                    "--steps", "2"]
    out = tmp_path / "bank"
    assert main(["train", "--style", str(paintings[0]), "--style", str(paintings[1]), "--out", str(out),
                 "--read-losses-every", "2", *tiny_options]) == 0
    printed = capsys.readouterr().out
    assert "waves: done, 2 steps" in printed and "night: done, 2 steps" in printed
    assert sorted(p.name for p in out.iterdir()) == ["bank.json", "night", "waves"]
    assert load_model(out / "night" / "model.safetensors").metadata["name"] == "night"
    assert main(["resume", str(out), "--steps", "3"]) == 0
    assert [row["step"] for row in read_csv(out / "waves" / "metrics.csv")] == [1, 2, 3]
    # One --style: today's layout, the run folder is --out itself.
    single = tmp_path / "single"
    assert main(["train", "--style", str(paintings[0]), "--out", str(single), *tiny_options]) == 0
    assert (single / "model.safetensors").is_file() and not (single / "bank.json").exists()
    capsys.readouterr()
    assert main(["train", "--style", str(paintings[0]), "--out", str(tmp_path / "x"), "--device-cache",
                 *tiny_options]) == 2
    assert "apply to a bank" in capsys.readouterr().err
    assert main(["train", "--style", str(paintings[0]), "--style", str(paintings[0]), "--out", str(tmp_path / "y"),
                 *tiny_options]) == 2
    assert "share the file name waves" in capsys.readouterr().err


def test_compare_trains_the_variants_of_each_seed_as_one_bank(paintings, photos, tmp_path):
    config = tiny(paintings[0], tmp_path / "cmp", photos, steps=2, val_every=1, checkpoint_every=0)
    result = compare(config, ["bn", "in"], seeds=[0, 1])
    assert result.completed
    for seed in (0, 1):
        summaries = [json.loads((tmp_path / "cmp" / v / f"seed{seed}" / "summary.json").read_text())
                     for v in ("bn", "in")]
        assert all(s["bank"]["names"] == [f"cmp-bn-seed{seed}", f"cmp-in-seed{seed}"] for s in summaries)
    alone = train(dataclasses.replace(config, norm="instance", attention="none", seed=1, out_dir=str(tmp_path / "in1"),
                                      name="cmp-in-seed1"))
    assert relative_difference(weights(tmp_path / "cmp" / "in" / "seed1"), weights(alone.run_dir)) < 1e-3
