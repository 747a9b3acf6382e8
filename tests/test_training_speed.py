"""The training speed options (what a GPU needs to stay busy) change the speed, not the
result: the decoded-image cache, uint8 batches, channels-last, torch.compile and the
learning-rate rule for larger batches. Checked on the CPU at tiny sizes."""
from __future__ import annotations

import json

import pytest
import torch

from styletransfer.training import trainer as trainer_module
from styletransfer.training.data import ImageFolderDataset
from styletransfer.modelfiles.catalogue import load_model
from styletransfer.training.runfolder import read_csv
from styletransfer.training import TrainingConfig, TrainingError, default_lr, resolve_speed_options, train
from test_precision import photos, style, tiny  # noqa: F401 - fixtures
from test_training import assert_same_weights


def test_learning_rate_grows_with_the_square_root_of_the_batch():
    assert default_lr(4) == pytest.approx(1e-3)
    assert default_lr(16) == pytest.approx(2e-3)
    assert default_lr(64) == pytest.approx(4e-3)


def test_the_resolved_learning_rate_is_stored_and_an_explicit_one_wins(photos, style, tmp_path):  # noqa: F811
    train(tiny(style, photos, tmp_path / "auto", "fp32", steps=1, batch_size=4))
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["lr"] == pytest.approx(1e-3)
    train(tiny(style, photos, tmp_path / "given", "fp32", steps=1, lr=5e-4))
    assert {row["lr"] for row in read_csv(tmp_path / "given" / "metrics.csv")} == {5e-4}


def test_cached_crops_are_the_crops_read_from_disk(photos):  # noqa: F811
    lazy, cached = ImageFolderDataset(photos, 24), ImageFolderDataset(photos, 24)
    assert cached.cache_decoded(threads=2) == len(cached.files) * 3 * 30 * 24  # 40x32 photos, shorter side to 24
    for index in range(len(lazy)):
        torch.manual_seed(index)
        a = lazy.crop_pixels(index)
        torch.manual_seed(index)
        b = cached.crop_pixels(index)
        assert a.dtype == torch.uint8 and torch.equal(a, b)
    torch.manual_seed(0)
    as_float = lazy[0]
    torch.manual_seed(0)
    assert torch.equal(as_float, cached.crop_pixels(0).float() / 255)  # items are the same crops in 0..1


def test_cache_compile_and_channels_last_train_the_same_network(photos, style, tmp_path, monkeypatch):  # noqa: F811
    """torch.compile's "eager" backend runs the same kernels, so the weights must be identical;
    the real backend needs a compiler and minutes on a CPU (the GPU check covers it)."""
    monkeypatch.setitem(trainer_module.COMPILE_OPTIONS, "backend", "eager")
    train(tiny(style, photos, tmp_path / "plain", "fp32", compile=False, cache_images=False))
    train(tiny(style, photos, tmp_path / "fast", "fp32", compile=True, cache_images=True))
    assert_same_weights(tmp_path / "plain", tmp_path / "fast")
    summary = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert summary["compiled"] is True and summary["first_step_seconds"] > 0
    config = json.loads((tmp_path / "fast" / "config.json").read_text())
    assert config["compile"] is True and config["cache_images"] is True and config["channels_last"] is False
    load_model(tmp_path / "fast" / "model.safetensors")  # no torch.compile prefixes in the weights

    train(tiny(style, photos, tmp_path / "channels_last", "fp32", channels_last=True))
    plain = read_csv(tmp_path / "plain" / "metrics.csv")
    channels_last = read_csv(tmp_path / "channels_last" / "metrics.csv")
    assert channels_last[0]["total"] == pytest.approx(plain[0]["total"], rel=1e-5)  # same weights, same batch
    for a, b in zip(plain, channels_last):  # later steps: Adam amplifies the rounding differences a little
        assert b["total"] == pytest.approx(a["total"], rel=2e-2)


def test_speed_options_default_by_device_and_sync_batchnorm_needs_cuda():
    config = TrainingConfig(style="s.jpg", out_dir="out", images="photos")
    resolve_speed_options(config, torch.device("cpu"), world_size=1)
    assert (config.channels_last, config.compile) == (False, False)
    config = TrainingConfig(style="s.jpg", out_dir="out", images="photos")
    resolve_speed_options(config, torch.device("cuda"), world_size=1)
    assert (config.channels_last, config.compile) == (True, True)
    config = TrainingConfig(style="s.jpg", out_dir="out", images="photos", sync_batchnorm=True)
    resolve_speed_options(config, torch.device("cpu"), world_size=1)  # one process: nothing to synchronise
    with pytest.raises(TrainingError, match="sync_batchnorm needs CUDA"):
        resolve_speed_options(config, torch.device("cpu"), world_size=2)
