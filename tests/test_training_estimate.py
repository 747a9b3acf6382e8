"""How long a training budget takes, said before it starts (styletransfer.training.estimate) and
the app's training manager that measures, observes and keeps those rates."""
from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from styletransfer.apps import jobs
from styletransfer.apps.jobs import OBSERVED_RATE_AFTER, TRAIN_BATCH_SIZE, TrainingManager, TrainingRequest
from styletransfer.training import TrainingError
from styletransfer.training.estimate import (METHOD_BUDGET_IMAGES, TrainingRate, describe_training_time,
                                             format_duration, measure_training_rate)
from fixtures_images import gradient

REPO = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def test_measure_training_rate_times_real_steps_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    rate = measure_training_rate(CPU, image_size=32, batch_size=2, steps=1)
    assert torch.equal(torch.rand(3), expected)
    assert rate.image_size == 32 and rate.batch_size == 2 and rate.measured == "measured"
    assert 0 < rate.seconds_per_step < 60
    assert rate.images_per_second == pytest.approx(2 / rate.seconds_per_step)
    assert rate.seconds(10) == pytest.approx(10 * rate.seconds_per_step)
    bn = measure_training_rate(CPU, image_size=48, batch_size=2, norm="batch", attention="none", steps=1)
    assert bn.image_size == 48 and bn.seconds_per_step > 0


@pytest.mark.parametrize("bad", [dict(image_size=0, batch_size=2), dict(image_size=32, batch_size=0),
                                 dict(image_size=32, batch_size=2, steps=0)])
def test_measure_training_rate_refuses_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        measure_training_rate(CPU, **bad)


@pytest.mark.parametrize("seconds, text", [(0, "1 s"), (0.4, "1 s"), (40, "40 s"), (89, "89 s"), (90, "2 min"),
                                           (12 * 60, "12 min"), (89 * 60, "89 min"), (90 * 60, "1.5 h"),
                                           (9.94 * 3600, "9.9 h"), (30 * 3600, "30 h"), (48 * 3600, "2.0 days"),
                                           (17 * 86400, "17 days")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_format_duration_refuses_nonsense(bad: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        format_duration(bad)


def test_describe_training_time_adds_the_networks_and_names_the_full_budget() -> None:
    srm = TrainingRate(192, 2, 0.5, "measured")  # 4 images/s
    bn = TrainingRate(192, 2, 0.25, "observed")  # 8 images/s
    text = describe_training_time(600, {"BN + SRM": srm, "BN": bn}, CPU)
    # 600 steps: 300 s + 150 s = 7.5 min -> "8 min"; the full budget 160,000/4 + 160,000/8 s = 60,000 s
    assert text.startswith("**About 8 min** on this CPU: 600 steps × 2 photos = 1,200 images at 192 px, "
                           "2 networks one after the other")
    assert "BN + SRM 4 images/s, BN 8 images/s, measured here and by the last job" in text
    assert f"~{METHOD_BUDGET_IMAGES:,} images per style, would take ~17 h here" in text
    one = describe_training_time(100, {"BN + SRM": srm}, torch.device("cuda"))
    assert one.startswith("**About 50 s** on this GPU: 100 steps × 2 photos = 200 images at 192 px (")
    assert "networks" not in one and "measured here;" in one
    with pytest.raises(ValueError, match="no training rate"):
        describe_training_time(100, {}, CPU)


def test_the_manager_measures_once_per_size_and_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def measure(device: torch.device, *, image_size: int, batch_size: int, norm: str, attention: str,
                **_: object) -> TrainingRate:
        calls.append((image_size, batch_size, norm, attention))
        return TrainingRate(image_size, batch_size, 1.0, "measured")

    monkeypatch.setattr(jobs, "measure_training_rate", measure)
    manager = TrainingManager(REPO / "examples", models_dir=tmp_path / "models")
    first = manager.training_rate(128, "bn+srm", CPU)
    assert manager.training_rate(128, "bn+srm", CPU) is first
    manager.training_rate(128, "bn", CPU)
    manager.training_rate(256, "bn+srm", CPU)
    assert calls == [(128, TRAIN_BATCH_SIZE, "batch", "srm"), (128, TRAIN_BATCH_SIZE, "batch", "none"),
                     (256, TRAIN_BATCH_SIZE, "batch", "srm")]
    with pytest.raises(TrainingError, match="unknown variant 'in'"):
        manager.training_rate(128, "in", CPU)


def test_the_manager_does_not_measure_while_a_job_runs_and_keeps_what_the_job_observed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLETRANSFER_HOME", str(tmp_path / "home"))

    def no_measuring(*args: object, **kwargs: object) -> TrainingRate:
        raise AssertionError("measured while a job ran, or although the job had observed its rate")

    running, release = threading.Event(), threading.Event()

    def train(config, *, progress, stop_event):  # a job that reports steps 1..4 at 2.5 images/s
        for step in range(1, 5):
            progress(SimpleNamespace(step=step, total_steps=4, losses={}, images_per_second=2.5))
        running.set()
        release.wait(30)
        return SimpleNamespace(completed=False, step=4, total_steps=config.steps, checkpoint_path="checkpoint.pt")

    monkeypatch.setattr(jobs, "measure_training_rate", no_measuring)
    monkeypatch.setattr(jobs, "train", train)
    painting = tmp_path / "painting.png"
    gradient((64, 64)).save(painting)
    manager = TrainingManager(REPO / "examples", models_dir=tmp_path / "models")
    manager.start(TrainingRequest(painting, "Busy", steps=4, image_size=64, variants=("bn",)))
    try:
        assert running.wait(30)
        assert manager.training_rate(128, "bn+srm", CPU) is None  # nothing known, and no measuring now
        observed = manager.training_rate(64, "bn", CPU)  # the job's own figure, from step OBSERVED_RATE_AFTER
        assert OBSERVED_RATE_AFTER <= 4
        assert observed == TrainingRate(64, TRAIN_BATCH_SIZE, TRAIN_BATCH_SIZE / 2.5, "observed")
    finally:
        release.set()
        assert manager.wait(timeout=30)
    assert manager.training_rate(64, "bn", CPU) == observed  # kept after the job


def test_the_app_says_so_in_one_line_when_it_cannot_measure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from styletransfer.apps.web.app import WebApp

    def broken(*args: object, **kwargs: object) -> TrainingRate:
        raise RuntimeError("CUDA error: no device attached")

    monkeypatch.setattr(jobs, "measure_training_rate", broken)
    app = WebApp(train_images=REPO / "examples", device=CPU)
    assert app.training_estimate(100, 128, ["bn+srm"]) == (
        "How long training takes could not be measured here: CUDA error: no device attached")
    assert app.training_estimate(100, 128, []).startswith("Choose at least one variant")
