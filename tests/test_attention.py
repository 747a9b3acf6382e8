"""The attention blocks: what every registered block guarantees (parametrised over the
registry), and what each block is (its paper's definition)."""
import pytest
import torch
import torch.nn as nn
import torchvision

from styletransfer import SRM, FoldedSRM, SqueezeExcite, count_parameters, create_attention, fold_attention
from styletransfer.models.layers import attention
from styletransfer.models.layers.attention import (AttentionBlock, EfficientChannelAttention, GatherExcite, SRMAvg, SRMMax,
                                     SRMWithMLP, attention_class, attention_names, eca_kernel_size,
                                     needs_batch_statistics, register_attention, style_pooling)

BLOCKS = [name for name in attention_names() if name != "none"]

PARAMETERS_AT_128 = {"se": 2184, "srm": 512, "srm-avg": 384, "srm-max": 512, "srm-mlp": 3208, "eca": 5, "ge": 0}
"""The parameter counts at C = 128 (the residual blocks' width), as docs/comparison.md's block table gives them."""


def _random_weights(name: str, channels: int = 16) -> AttentionBlock:
    """A block in training mode with random weights (SRM's CFC starts at zero, which would
    hide the pooling)."""
    torch.manual_seed(0)
    block = create_attention(name, channels)
    with torch.no_grad():
        for parameter in block.parameters():
            parameter.normal_(0, 0.5)
    return block.train()


def _randomized(name: str, channels: int = 16) -> AttentionBlock:
    """A block in eval mode with random weights and, if it has a BatchNorm, running statistics
    moved away from (0, 1) by a few training steps."""
    block = _random_weights(name, channels)
    for _ in range(20):
        block(torch.randn(4, channels, 8, 8) * 2 + 0.7)
    return block.eval()


def test_the_registry_holds_se_srm_its_ablations_eca_and_ge():
    assert attention_names() == ("none", "se", "srm", "srm-avg", "srm-max", "srm-mlp", "eca", "ge")
    classes = {"se": SqueezeExcite, "srm": SRM, "srm-avg": SRMAvg, "srm-max": SRMMax, "srm-mlp": SRMWithMLP,
               "eca": EfficientChannelAttention, "ge": GatherExcite}
    for name, cls in classes.items():
        assert attention_class(name) is cls and cls.name == name
        assert isinstance(create_attention(name, 8), cls)
    assert create_attention("none", 8) is None and create_attention(None, 8) is None
    with pytest.raises(ValueError, match="unknown attention 'cbam'; expected one of none, se, srm"):
        create_attention("cbam", 8)
    assert not needs_batch_statistics("none") and not needs_batch_statistics(None)


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_keeps_shape_and_dtype_and_gates_each_channel(name):
    block = _randomized(name)
    x = torch.randn(3, 16, 7, 5)
    y = block(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    ratio = y / x  # a gate in (0, 1), one per image and channel
    assert torch.all((ratio > 0) & (ratio < 1))
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_passes_gradients_to_its_input_and_parameters(name):
    block = _random_weights(name, 64)  # 4 hidden units in the MLPs
    x = torch.randn(4, 64, 6, 6, requires_grad=True)
    block(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for parameter_name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{name}.{parameter_name}"


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_folds_to_the_same_output_in_eval_mode(name):
    block = _randomized(name)
    folded = fold_attention(block)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert block.needs_batch_statistics == isinstance(folded, FoldedSRM)  # what folds is BN
    for _ in range(3):
        x = torch.randn(3, 16, 13, 10) * 4 - 1
        with torch.no_grad():
            assert (folded(x) - block(x)).abs().max().item() < 1e-5


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_every_folded_block_runs_with_its_weights_cast_to_half_precision(name, dtype):
    # As stylize runs it: folded, weights and input in the inference dtype, no autocast.
    block = _randomized(name)
    folded = fold_attention(block).to(dtype)
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        y = folded(x.to(dtype))
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), block(x), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("name", BLOCKS)
def test_training_on_one_image_is_a_clear_error_exactly_when_the_block_needs_batch_statistics(name):
    block = create_attention(name, 8).train()
    one = torch.randn(1, 8, 4, 4)
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in block.modules())
    assert needs_batch_statistics(name) == type(block).needs_batch_statistics == has_batchnorm
    if needs_batch_statistics(name):
        with pytest.raises(ValueError, match=f"{name} attention .* batch size of at least 2"):
            block(one)
    else:
        assert block(one).shape == one.shape
    block.eval()(one)  # inference on one image is always fine


@pytest.mark.parametrize("name", BLOCKS)
def test_parameter_count_follows_the_documented_formula(name):
    cls = attention_class(name)
    for channels in (1, 8, 32, 64, 128, 256):
        assert count_parameters(create_attention(name, channels)) == cls.parameter_count(channels), channels
    assert cls.parameter_count(128) == PARAMETERS_AT_128[name]
    assert "Parameters: " in cls.__doc__ or "Parameter-free" in cls.__doc__  # the formula, in words


def test_a_new_block_is_one_class_and_one_registry_line(monkeypatch):
    monkeypatch.setattr(attention, "_REGISTRY", dict(attention._REGISTRY))  # undone after the test

    @register_attention("halve")
    class Halve(AttentionBlock):
        """x / 2: the simplest gate."""

        @staticmethod
        def parameter_count(channels: int) -> int:
            return 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 0.5

    from styletransfer.models.transformer import VARIANTS, NetworkConfig, TransformerNet
    assert "halve" in attention_names() and not needs_batch_statistics("halve")
    assert VARIANTS["bn+halve"] == ("batch", "halve")
    net = TransformerNet.variant("bn+halve")
    assert sum(isinstance(m, Halve) for m in net.modules()) == 5
    assert NetworkConfig(attention="halve").attention == "halve"
    assert fold_attention(net).residual[0].attention.__class__ is Halve
    with pytest.raises(ValueError, match="already registered"):
        register_attention("halve")(Halve)
    with pytest.raises(ValueError, match="lower case"):
        register_attention("Bad+Name")
    with pytest.raises(TypeError, match="not an AttentionBlock"):
        register_attention("plain")(nn.Identity)


# ---------------------------------------------------------------------------------------------
# Each block as its paper defines it
# ---------------------------------------------------------------------------------------------

def test_srm_has_four_parameters_per_channel_and_starts_as_half_gate():
    srm = SRM(64)
    assert count_parameters(srm) == 4 * 64
    assert torch.count_nonzero(srm.cfc) == 0  # zero-initialized, as the official code
    x = torch.randn(3, 64, 5, 7)
    # Zero CFC → z = 0 → BN(0) = 0 → sigmoid = 0.5 for every channel.
    torch.testing.assert_close(srm(x), x * 0.5)


def test_style_pooling_matches_torch_mean_and_std():
    x = torch.randn(2, 5, 9, 11) * 3 + 1
    mean, std = style_pooling(x)
    torch.testing.assert_close(mean, x.mean(dim=(2, 3)))
    torch.testing.assert_close(std, torch.sqrt(x.var(dim=(2, 3), unbiased=False) + 1e-5), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_style_pooling_of_half_precision_features_accumulates_in_float32(dtype):
    x = (torch.randn(2, 8, 64, 64) * 40 + 100).to(dtype).contiguous(memory_format=torch.channels_last)
    mean, std = style_pooling(x)
    assert mean.dtype == std.dtype == torch.float32
    exact = x.float()
    torch.testing.assert_close(mean, exact.mean(dim=(2, 3)))
    torch.testing.assert_close(std, torch.sqrt(exact.var(dim=(2, 3), unbiased=False) + 1e-5), rtol=1e-4, atol=1e-3)


def test_srm_ablations_pool_mean_only_and_mean_and_max():
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(SRMAvg.pool(x), x.mean(dim=(2, 3))[:, :, None])
    torch.testing.assert_close(SRMMax.pool(x), torch.stack((x.mean(dim=(2, 3)), x.amax(dim=(2, 3))), dim=2))
    assert SRMAvg(8).cfc.shape == (8, 1) and SRMMax(8).cfc.shape == (8, 2)
    # The gate sees only the pooled statistics: a permutation of the pixels changes nothing.
    for name in ("srm-avg", "srm-max"):
        block = _randomized(name, 4)
        permuted = x.flatten(2)[:, :, torch.randperm(36)].view_as(x)
        torch.testing.assert_close(block(permuted) / permuted, block(x) / x)


def test_srm_mlp_is_ses_mlp_on_mean_and_std_without_batchnorm():
    block = SRMWithMLP(128)
    assert (block.fc1.in_features, block.fc1.out_features, block.fc2.out_features) == (256, 8, 128)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in block.modules())
    x = torch.randn(2, 128, 5, 5)
    mean, std = style_pooling(x)
    statistics = torch.stack((mean, std), dim=2).flatten(1)
    expected = x * torch.sigmoid(block.fc2(torch.relu(block.fc1(statistics))))[:, :, None, None]
    torch.testing.assert_close(block(x), expected)


def test_srm_in_every_resnet50_bottleneck_adds_the_papers_60416_parameters():
    resnet = torchvision.models.resnet50(weights=None)
    before = count_parameters(resnet)
    for bottleneck in resnet.modules():
        if isinstance(bottleneck, torchvision.models.resnet.Bottleneck):
            channels = bottleneck.bn3.num_features
            bottleneck.bn3 = nn.Sequential(bottleneck.bn3, create_attention("srm", channels))
    assert count_parameters(resnet) - before == 60_416
    resnet.train()
    assert resnet(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_folded_srm_is_one_weight_per_statistic_and_one_bias_per_channel():
    for name, statistics in (("srm", 2), ("srm-avg", 1), ("srm-max", 2)):
        folded = _randomized(name).fold()
        assert isinstance(folded, FoldedSRM)
        assert folded.weight.shape == (16, statistics) and folded.bias.shape == (16,)
        assert count_parameters(folded) == 0  # inference only


def test_fold_attention_replaces_every_srm_and_keeps_the_original():
    net = nn.Sequential(nn.Conv2d(3, 16, 3), _randomized("srm"), nn.Sequential(_randomized("srm-avg")))
    net.train()
    folded = fold_attention(net)
    assert not any(isinstance(m, SRM) for m in folded.modules())
    assert sum(isinstance(m, FoldedSRM) for m in folded.modules()) == 2
    assert net.training and any(isinstance(m, SRM) for m in net.modules())
    x = torch.randn(2, 3, 12, 12)
    net.eval()
    with torch.no_grad():
        assert (folded(x) - net(x)).abs().max().item() < 1e-5


def test_squeeze_excite_uses_reduction_16():
    se = SqueezeExcite(128)
    assert se.fc1.out_channels == 8
    x = torch.randn(2, 128, 6, 6)
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x
    assert torch.all((ratio > 0) & (ratio < 1))


@pytest.mark.parametrize("channels, size", [(16, 3), (32, 3), (64, 3), (128, 5), (256, 5), (512, 5), (1024, 5)])
def test_eca_kernel_size_is_adaptive_and_odd(channels, size):
    # The ECA paper: k = |log2(C)/γ + b/γ|_odd with γ = 2, b = 1.
    assert eca_kernel_size(channels) == size
    assert EfficientChannelAttention(channels).conv.kernel_size == (size,)


def test_eca_is_a_1d_convolution_across_the_pooled_channels():
    block = EfficientChannelAttention(128)
    assert block.conv.bias is None and count_parameters(block) == 5
    x = torch.randn(2, 128, 4, 4)
    pooled = x.mean(dim=(2, 3))
    padded = nn.functional.pad(pooled, (2, 2))
    weight = block.conv.weight[0, 0]
    logits = torch.stack([(padded[:, c:c + 5] * weight).sum(dim=1) for c in range(128)], dim=1)
    torch.testing.assert_close(block(x), x * torch.sigmoid(logits)[:, :, None, None])


def test_gather_excite_minus_is_x_times_sigmoid_of_its_global_mean():
    block = GatherExcite(8)
    assert count_parameters(block) == 0
    x = torch.randn(2, 8, 5, 6)
    torch.testing.assert_close(block(x), x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True)))
