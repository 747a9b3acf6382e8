import pytest
import torch
import torch.nn as nn
import torchvision

from styletransfer import SRM, FoldedSRM, SqueezeExcite, count_parameters, create_attention, fold_attention
from styletransfer.attention import style_pooling


def test_factory_builds_blocks_by_name():
    assert isinstance(create_attention("srm", 8), SRM)
    assert isinstance(create_attention("se", 32), SqueezeExcite)
    assert create_attention("none", 8) is None
    assert create_attention(None, 8) is None
    with pytest.raises(ValueError, match="unknown attention 'cbam'"):
        create_attention("cbam", 8)


def test_srm_has_four_parameters_per_channel_and_starts_as_half_gate():
    srm = SRM(64)
    assert count_parameters(srm) == 4 * 64
    assert torch.count_nonzero(srm.cfc) == 0  # zero-initialised, as the official code
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


def _trained_srm(channels: int = 16) -> SRM:
    torch.manual_seed(0)
    srm = SRM(channels)
    with torch.no_grad():
        srm.cfc.normal_(0, 0.5)
        srm.bn.weight.uniform_(0.5, 1.5)
        srm.bn.bias.normal_(0, 0.3)
    srm.train()
    for _ in range(20):  # move the running statistics away from (0, 1)
        srm(torch.randn(4, channels, 8, 8) * 2 + 0.7)
    assert not torch.allclose(srm.bn.running_mean, torch.zeros(channels))
    assert not torch.allclose(srm.bn.running_var, torch.ones(channels))
    return srm.eval()


def test_folded_srm_matches_unfolded_in_eval_mode():
    srm = _trained_srm()
    folded = srm.fold()
    assert isinstance(folded, FoldedSRM)
    for _ in range(5):
        x = torch.randn(3, 16, 13, 10) * 4 - 1
        assert (folded(x) - srm(x)).abs().max().item() < 1e-5


def test_fold_attention_replaces_every_srm_and_keeps_the_original():
    net = nn.Sequential(nn.Conv2d(3, 16, 3), _trained_srm(), nn.Sequential(_trained_srm()))
    net.train()
    folded = fold_attention(net)
    assert not any(isinstance(m, SRM) for m in folded.modules())
    assert sum(isinstance(m, FoldedSRM) for m in folded.modules()) == 2
    assert net.training and any(isinstance(m, SRM) for m in net.modules())
    x = torch.randn(2, 3, 12, 12)
    net.eval()
    assert (folded(x) - net(x)).abs().max().item() < 1e-5


def test_srm_refuses_to_train_on_one_image_with_a_clear_message():
    srm = SRM(8).train()
    with pytest.raises(ValueError, match="batch size of at least 2"):
        srm(torch.randn(1, 8, 4, 4))
    srm.eval()(torch.randn(1, 8, 4, 4))  # inference on one image is fine


def test_squeeze_excite_uses_reduction_16():
    se = SqueezeExcite(128)
    assert se.fc1.out_channels == 8
    x = torch.randn(2, 128, 6, 6)
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x
    assert torch.all((ratio > 0) & (ratio < 1))
