"""What only a CUDA GPU can check of a bank of networks (issue 22): no step waits for the GPU
(the losses are read every few steps), the photos cached on the device give the loader's crops,
and every precision learns there, a diverging network leaving the others alone. Skipped without
CUDA; on a lent GPU: ``python3 -m pytest tests/test_bank_cuda.py`` (with the carried wheels on
PYTHONPATH, as benchmarks/gpu_check.py installs them)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from styletransfer.training import BankOptions, train_bank
from styletransfer.training import bank as bank_module
from styletransfer.training.bank_data import DeviceCrops
from styletransfer.training.data import ImageFolderDataset, SeededCrops, _collate
from styletransfer.training.runfolder import read_csv
from test_bank import pair, paintings, photos  # noqa: F401,F811 - fixtures

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def strict(function):
    """``function`` run with CUDA's synchronisation debug mode at "error": any call that makes
    the host wait for the GPU raises."""
    def wrapped(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return function(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return wrapped


def test_a_cuda_bank_step_never_waits_for_the_gpu(paintings, photos, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(bank_module.BankTrainer, "_step", strict(bank_module.BankTrainer._step))
    monkeypatch.setattr(DeviceCrops, "crops", strict(DeviceCrops.crops))
    configs = pair(paintings, photos, tmp_path / "bank", device="cuda", precision="bf16", compile=False,
                   channels_last=True, steps=4, checkpoint_every=0)
    result = train_bank(configs, options=BankOptions(device_cache=True, read_losses_every=2))
    assert result.completed
    for name in ("waves", "night"):
        rows = read_csv(tmp_path / "bank" / name / "metrics.csv")
        assert [row["step"] for row in rows] == [1, 2, 3, 4] and all(math.isfinite(r["total"]) for r in rows)


def test_cuda_device_crops_are_the_loaders(photos):  # noqa: F811
    dataset = ImageFolderDataset(photos, 32)
    keys = [(index, 77 + index) for index in range(len(dataset))]
    crops = DeviceCrops(dataset, torch.device("cuda")).crops(keys)
    assert crops.is_cuda and torch.equal(crops.cpu(), _collate([SeededCrops(dataset)[key] for key in keys])[0])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_cuda_bank_learns_and_one_diverging_network_leaves_the_others(precision, paintings, photos,  # noqa: F811
                                                                         tmp_path):
    good, bad = pair(paintings, photos, tmp_path / "bank", device="cuda", precision=precision, steps=20,
                     val_images=0, checkpoint_every=0)
    result = train_bank([good, dataclasses.replace(bad, lr=1e12)])
    assert list(result.diverged) == ["night"] and result.runs["waves"].completed
    totals = [row["total"] for row in read_csv(tmp_path / "bank" / "waves" / "metrics.csv")]
    assert len(totals) == 20 and all(math.isfinite(t) for t in totals) and sum(totals[-5:]) < sum(totals[:5])
