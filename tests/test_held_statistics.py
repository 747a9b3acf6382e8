"""Per-image statistics held across frames (SRM, InstanceNorm, SE) and blending with the
previous output where nothing moved."""
from __future__ import annotations

import pytest
import torch

from styletransfer import TransformerNet
from styletransfer.models.layers.attention import FoldedSRM, style_pooling
from styletransfer.models.layers.held_norm import (HeldInstanceNorm, HeldSRM, HeldSqueezeExcite, hold_statistics,
                                           reset_statistics, set_momentum, statistics_blocks)
from styletransfer.inference.prepare import prepare_model
from styletransfer.inference.video.temporal import PreviousOutputBlend
from test_stylize import lively, one_thread  # noqa: F401  (one_thread: autouse fixture)

CPU = torch.device("cpu")
NETWORKS = {"bn+srm": ("batch", "srm"), "in": ("instance", "none"), "bn+se": ("batch", "se")}
BLOCKS = {"bn+srm": HeldSRM, "in": HeldInstanceNorm, "bn+se": HeldSqueezeExcite}


def network(variant: str) -> TransformerNet:
    torch.manual_seed(0)
    norm, attention = NETWORKS[variant]
    net = lively(TransformerNet(norm, attention, residual_blocks=2))
    with torch.no_grad():  # SRM's folded gate starts at sigmoid(0) for every image: make it depend on the image
        for module in net.modules():
            if hasattr(module, "cfc"):
                module.cfc.normal_(0, 1)
    return net


def frames(count: int = 4) -> torch.Tensor:
    """(count, 3, 32, 40) frames of one scene growing brighter: per-image statistics change."""
    torch.manual_seed(1)
    scene = torch.rand(1, 3, 32, 40) * 0.6
    return torch.cat([scene + 0.1 * index for index in range(count)]).clamp(0, 1)


@pytest.mark.parametrize("variant", NETWORKS)
def test_momentum_one_is_the_plain_network(variant):
    plain = prepare_model(network(variant), CPU)
    held = hold_statistics(plain, momentum=1.0)
    assert [type(block) for block in statistics_blocks(held)] == [BLOCKS[variant]] * len(statistics_blocks(held))
    assert statistics_blocks(held)
    with torch.inference_mode():
        assert torch.allclose(held(frames()), plain(frames()), atol=1e-5)


@pytest.mark.parametrize("variant", NETWORKS)
def test_batches_give_what_frames_one_by_one_give(variant):
    held = hold_statistics(prepare_model(network(variant), CPU), momentum=0.3)
    with torch.inference_mode():
        whole = held(frames())
        reset_statistics(held)
        one_by_one = torch.cat([held(frame[None]) for frame in frames()])
    assert torch.allclose(whole, one_by_one, atol=1e-5)


@pytest.mark.parametrize("variant", NETWORKS)
def test_held_statistics_differ_from_per_frame_statistics(variant):
    plain = prepare_model(network(variant), CPU)
    with torch.inference_mode():
        frozen = hold_statistics(plain, momentum=0.0)(frames())
        fresh = plain(frames())
    assert torch.allclose(frozen[0], fresh[0], atol=1e-5)  # the first frame sets the statistics
    assert (frozen[3] - fresh[3]).abs().mean() > 1e-3


def test_momentum_zero_gates_every_frame_by_the_first_frames_statistics():
    block = FoldedSRM(4)
    with torch.no_grad():
        block.weight.normal_()
        block.bias.normal_()
    held = HeldSRM(block, momentum=0.0)
    first, later = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6) * 3
    with torch.no_grad():
        first_gate = held(first) / first
        later_gate = held(later) / later
        own_gate = block(later) / later
    assert torch.allclose(later_gate, first_gate, atol=1e-5)
    assert not torch.allclose(later_gate, own_gate, atol=1e-3)


def test_the_running_statistics_are_an_exponential_moving_average():
    block = FoldedSRM(2)
    held = HeldSRM(block, momentum=0.25)
    a, b, c = (torch.rand(1, 2, 5, 5) * scale for scale in (1, 2, 3))
    with torch.no_grad():
        for frame in (a, b, c):
            held(frame)
    stats = [torch.stack(style_pooling(frame), dim=2)[0] for frame in (a, b, c)]
    expected = (stats[0] * 0.75 + stats[1] * 0.25) * 0.75 + stats[2] * 0.25
    assert torch.allclose(held.held, expected, atol=1e-6)
    reset_statistics(held)
    assert held.held is None


def test_set_momentum_freezes_what_is_held():
    held = hold_statistics(prepare_model(network("bn+srm"), CPU), momentum=0.5)
    with torch.inference_mode():
        held(frames()[:1])
        set_momentum(held, 0.0)
        before = [block.held.clone() for block in statistics_blocks(held)]
        held(frames()[1:])
    assert all(torch.equal(old, block.held) for old, block in zip(before, statistics_blocks(held)))
    with pytest.raises(ValueError, match="momentum must be between 0 and 1"):
        hold_statistics(network("bn+srm"), momentum=1.5)


def test_an_unfolded_network_is_folded_and_left_alone():
    net = network("bn+srm")
    before = {key: value.clone() for key, value in net.state_dict().items()}
    held = hold_statistics(net.eval(), momentum=1.0)
    with torch.inference_mode():
        assert torch.allclose(held(frames()), net(frames()), atol=1e-5)
    assert all(torch.equal(value, net.state_dict()[key]) for key, value in before.items())


def test_previous_output_blend_mixes_still_pixels_and_keeps_moving_ones_fresh():
    blend = PreviousOutputBlend(weight=0.6, threshold=0.04)
    inputs = torch.full((2, 3, 20, 20), 0.5)
    inputs[1, :, :, 10:] = 0.9  # the right half moves, the left half stays still
    outputs = torch.stack([torch.full((3, 20, 20), 0.2), torch.full((3, 20, 20), 0.8)])
    result = blend(inputs, outputs)
    assert torch.equal(result[0], outputs[0])  # nothing before the first frame
    assert torch.allclose(result[1, :, :, :7], torch.full((3, 20, 7), 0.6 * 0.2 + 0.4 * 0.8))
    assert torch.equal(result[1, :, :, 8:], outputs[1, :, :, 8:])  # the 5×5 motion window reaches 2 px out
    # State carries across calls; weight 0 turns it off.
    assert torch.allclose(blend(inputs[1:], outputs[:1])[0, :, :, :7], torch.full((3, 20, 7), 0.6 * 0.44 + 0.4 * 0.2))
    assert torch.equal(PreviousOutputBlend(weight=0.0)(inputs, outputs), outputs)
