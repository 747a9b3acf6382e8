"""What only a CUDA GPU can check: training learns in bf16 and fp16 there, the divergence
guard fires, compiled training runs, and stylize()'s CUDA-graph path gives the eager result.
Skipped without CUDA (CI has none); benchmarks/gpu_check.py runs these on a GPU machine."""
from __future__ import annotations

import math

import pytest
import torch

from styletransfer.inference import acceleration
from styletransfer import TransformerNet
from styletransfer.training.runfolder import read_csv
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.stylize import stylize
from styletransfer.training.trainer import TrainingDivergedError
from styletransfer.training import train
from fixtures_images import gradient
from test_precision import photos, style, tiny  # noqa: F401 - fixtures
from test_stylize import lively, max_pixel_difference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_training_learns_with_finite_losses(precision, photos, style, tmp_path):  # noqa: F811
    result = train(tiny(style, photos, tmp_path / "run", precision, device="cuda", steps=20, image_size=32))
    assert result.completed
    totals = [row["total"] for row in read_csv(tmp_path / "run" / "metrics.csv")]
    assert all(math.isfinite(total) for total in totals)
    assert sum(totals[-5:]) < sum(totals[:5])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_divergence_stops_the_run(precision, photos, style, tmp_path):  # noqa: F811
    with pytest.raises(TrainingDivergedError):
        train(tiny(style, photos, tmp_path / "run", precision, device="cuda", lr=1e12, steps=6))
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_cuda_default_training_is_bf16_compiled_and_channels_last(photos, style, tmp_path):  # noqa: F811
    import json
    train(tiny(style, photos, tmp_path / "run", "auto", device="cuda", steps=3))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["precision"] == "bf16" and config["compile"] and config["channels_last"]


def test_cuda_graph_stylize_matches_eager_and_is_cached():
    torch.manual_seed(0)
    net = lively(TransformerNet("batch", "srm"))
    image = gradient((320, 240))
    eager = stylize(net, image, device="cuda", acceleration="off")
    graphed = stylize(net, image, device="cuda", acceleration="graph")
    assert max_pixel_difference(eager, graphed) <= 1
    prepared = prepare_model(net, torch.device("cuda"), torch.float16)
    runners = acceleration.accelerated("graph")
    x = torch.rand(1, 3, 64, 64, device="cuda", dtype=torch.float16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        first = runners(prepared, x)
        second = runners(prepared, x)
    assert len(runners.cached_shapes(prepared)) == 1 and torch.equal(first, second)


def test_cuda_tiles_are_assembled_on_the_gpu_like_the_cpu_result():
    torch.manual_seed(0)
    net = lively(TransformerNet("batch", "none"))
    image = gradient((700, 500))
    cpu = stylize(net, image, device="cpu", precision="fp32", tile_pixels=300 * 300)
    cuda = stylize(net, image, device="cuda", precision="fp32", tile_pixels=300 * 300)
    assert max_pixel_difference(cpu, cuda) <= 2
