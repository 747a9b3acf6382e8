"""Training learns in every precision (fp32, bf16 and fp16 autocast, checked with CPU autocast
so CI needs no GPU), and a run that stops learning stops with a clear error in each of them.

The loss is computed where it cannot overflow (Gram matrices and squared errors in float32,
outside autocast), fp16 uses a GradScaler whose state is part of the checkpoint, and the
divergence guard covers every precision."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from PIL import Image

from styletransfer.training import trainer as trainer_module
from styletransfer.training.checkpoint import load_checkpoint
from styletransfer.losses.perceptual import PerceptualLoss, gram_matrix
from styletransfer.models.transformer import TransformerNet
from styletransfer.training.runfolder import read_csv
from styletransfer.training.trainer import TrainingDivergedError, make_grad_scaler, training_step
from styletransfer.training import TrainingConfig, resume_training, train
from test_training import EXAMPLES, assert_same_weights, weights

PRECISIONS = ["fp32", "bf16", "fp16"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for i, path in enumerate(sorted(EXAMPLES.glob("*.jpg"))):
        Image.open(path).convert("RGB").resize((40, 32)).save(root / f"a{i}.png")
    return root


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    path = tmp_path_factory.mktemp("style") / "painting.png"
    Image.open(EXAMPLES / "red_panda.jpg").convert("RGB").resize((40, 32)).save(path)
    return path


def tiny(style, photos, out, precision: str, **options) -> TrainingConfig:
    """4 photos, batch 2, 24 px crops, a shallow VGG: a few seconds a step even in CPU fp16."""
    settings = dict(style=str(style), out_dir=str(out), images=str(photos), batch_size=2, image_size=24,
                    precision=precision, device="cpu", workers=0, val_images=0,
                    style_layers=["relu1_1", "relu2_1"], content_layers=["relu2_1"],
                    checkpoint_every=2, val_every=0, preview_every=0, steps=4)
    settings.update(options)
    return TrainingConfig(**settings)


def test_gram_matrix_of_caffe_range_features_is_finite_under_fp16_autocast():
    features = torch.full((1, 64, 16, 16), 300.0)  # relu activations of 0-255 inputs reach hundreds
    with torch.autocast("cpu", dtype=torch.float16):
        gram = gram_matrix(features.half())
    assert gram.dtype == torch.float32 and torch.isfinite(gram).all()
    assert torch.allclose(gram, torch.full_like(gram, 300.0**2 / 64), rtol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_loss_under_autocast_is_float32_and_close_to_fp32(dtype):
    torch.manual_seed(0)
    loss = PerceptualLoss(torch.rand(1, 3, 32, 32), content_weight=10, style_weight=1, tv_weight=5e5)
    output, photo = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    reference = loss(output, photo).as_floats()
    with torch.autocast("cpu", dtype=dtype):
        terms = loss(output, photo)
    assert terms.total.dtype == torch.float32
    for key, value in terms.as_floats().items():
        assert math.isfinite(value) and value == pytest.approx(reference[key], rel=0.05), key


@pytest.mark.parametrize("precision", PRECISIONS)
def test_training_changes_the_weights_with_finite_losses(precision, photos, style, tmp_path):
    torch.manual_seed(0)
    initial = TransformerNet("batch", "srm").state_dict()
    result = train(tiny(style, photos, tmp_path / "run", precision))
    assert result.completed
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 4
    assert all(math.isfinite(row[key]) for row in rows for key in ("content", "style", "tv", "color", "total"))
    trained = weights(tmp_path / "run")
    changed = [key for key in trained if key.endswith("weight") and not torch.equal(trained[key], initial[key])]
    assert len(changed) > 10, changed


@pytest.mark.parametrize("precision", PRECISIONS)
def test_divergence_stops_with_a_clear_error_and_no_model(precision, photos, style, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=f"training diverged at step \\d \\({precision};"):
        train(tiny(style, photos, out, precision, lr=1e12, steps=6))
    assert not (out / "model.safetensors").exists()
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert all(value.isfinite().all() for value in checkpoint["model"].values() if value.is_floating_point())


def test_fp16_gradients_that_keep_overflowing_stop_the_run(photos, style, tmp_path, monkeypatch):
    """A loss scale that never fits fp16 (2^60, halved on every skipped step) skips every step:
    finite losses, unchanged weights, a run that does not learn."""
    monkeypatch.setattr(trainer_module, "FP16_INITIAL_LOSS_SCALE", 2.0**60)
    monkeypatch.setattr(trainer_module, "MAX_SKIPPED_STEPS_IN_A_ROW", 2)
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match="skipped the last 3 steps"):
        train(tiny(style, photos, out, "fp16", steps=6, checkpoint_every=1))
    assert not (out / "model.safetensors").exists()


def test_fp16_resume_equals_one_long_run(photos, style, tmp_path):
    """The GradScaler's scale and growth tracker are in the checkpoint."""
    assert train(tiny(style, photos, tmp_path / "long", "fp16")).completed
    assert train(tiny(style, photos, tmp_path / "short", "fp16", steps=2)).completed
    scaler = load_checkpoint(tmp_path / "short" / "checkpoint.pt")["grad_scaler"]
    assert scaler["scale"] == trainer_module.FP16_INITIAL_LOSS_SCALE and scaler["_growth_tracker"] == 2
    assert resume_training(tmp_path / "short", steps=4).completed
    assert_same_weights(tmp_path / "long", tmp_path / "short")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_channels_last_step_gives_the_same_losses_and_gradients(precision):
    torch.manual_seed(0)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    images = torch.rand(2, 3, 32, 32)
    loss = PerceptualLoss(torch.rand(1, 3, 32, 32), content_weight=10, style_weight=1, tv_weight=5e5,
                          style_layers=["relu1_1", "relu2_1"], content_layers=["relu2_1"])
    results = []
    for channels_last in (False, True):
        torch.manual_seed(1)
        net = TransformerNet("batch", "srm")
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        losses = training_step(net, copy.deepcopy(loss), optimizer, make_grad_scaler(torch.device("cpu"), dtype),
                               images, device=torch.device("cpu"), dtype=dtype, channels_last=channels_last)
        results.append((losses, {name: p.grad.clone() for name, p in net.named_parameters()}))
    (contiguous, grads_a), (channels_last, grads_b) = results
    assert torch.allclose(contiguous, channels_last, rtol=1e-4 if precision == "fp32" else 2e-2)
    # The gradients the step applied, as one vector: the same direction up to rounding (bf16
    # keeps 8 significant bits, so its rounding differs with the summation order of a layout).
    a = torch.cat([grad.flatten() for grad in grads_a.values()])
    b = torch.cat([grad.flatten() for grad in grads_b.values()])
    similarity = torch.nn.functional.cosine_similarity(a, b, dim=0)
    assert similarity > (1 - 1e-6 if precision == "fp32" else 0.99), similarity
