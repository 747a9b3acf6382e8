import pytest
import torch
import torch.nn as nn

from styletransfer import (SRM, FoldedSRM, SqueezeExcite, TransformerNet, VARIANTS, count_parameters, fold_attention,
                           load_model, save_model)
from styletransfer.models.layers.attention import attention_class, attention_names, create_attention
from styletransfer.models.folding import fold_batchnorm
from styletransfer.models.transformer import NetworkConfig, check_trainable_batch, variant_name

BLOCKS = [name for name in attention_names() if name != "none"]


def test_variants_are_bn_with_each_registered_block_and_in():
    assert list(VARIANTS) == ["bn", "bn+se", "bn+srm", "bn+srm-avg", "bn+srm-max", "bn+srm-mlp", "bn+eca", "bn+ge",
                              "in"]
    assert [VARIANTS[f"bn+{name}"] for name in BLOCKS] == [("batch", name) for name in BLOCKS]
    assert VARIANTS["bn"] == ("batch", "none") and VARIANTS["in"] == ("instance", "none")
    assert all(variant_name(*parts) == variant for variant, parts in VARIANTS.items())
    with pytest.raises(ValueError, match=r"unknown variant 'bn\+cbam'"):
        TransformerNet.variant("bn+cbam")
    with pytest.raises(ValueError, match="unknown attention 'cbam'"):
        NetworkConfig(attention="cbam")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_maps_rgb01_to_rgb01_of_the_same_size(variant):
    net = TransformerNet.variant(variant).eval()
    for size in [(64, 64), (37, 50), (1, 1)]:
        y = net(torch.rand(1, 3, *size))
        assert y.shape == (1, 3, *size)
        assert y.min() >= 0 and y.max() <= 1


def test_architecture_is_johnson_et_al():
    net = TransformerNet(norm="batch", attention="none")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    shapes = [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs]
    assert shapes[:3] == [(3, 32, 9, 1), (32, 64, 3, 2), (64, 128, 3, 2)]
    assert shapes[3:13] == [(128, 128, 3, 1)] * 10
    assert shapes[13:] == [(128, 64, 3, 1), (64, 32, 3, 1), (32, 3, 9, 1)]
    assert all(isinstance(m, nn.ReflectionPad2d) for m in net.modules() if "Pad" in type(m).__name__)
    assert sum(isinstance(m, nn.Upsample) for m in net.modules()) == 2


def test_named_sizes_set_width_and_depth_and_are_stored_in_the_model_file(tmp_path):
    from styletransfer import load_model, save_model
    from styletransfer.models.transformer import SIZES, NetworkConfig, size_name
    full, slim = TransformerNet(**SIZES["full"]), TransformerNet(**SIZES["slim"])
    assert count_parameters(full) == count_parameters(TransformerNet()) == 1_681_795
    assert count_parameters(slim) < 0.1 * count_parameters(full)
    assert [size_name(net.config) for net in (full, slim)] == ["full", "slim"]
    assert size_name(NetworkConfig(width=24)) == "custom"
    assert slim.down[0][0][-1].out_channels == 12 and len(slim.residual) == 3
    assert slim.residual[0].conv1[-1].in_channels == 48
    slim.eval()
    loaded = load_model(save_model(slim, tmp_path / "slim.safetensors"))
    assert loaded.config == slim.config
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), slim(x), rtol=0, atol=0)
    assert NetworkConfig(**{k: v for k, v in slim.config.as_dict().items() if k != "width"}).width == 32
    with pytest.raises(ValueError, match="width must be at least 4"):
        TransformerNet(width=2)


def test_attention_sits_on_the_residual_branch_only_by_default():
    net = TransformerNet(norm="batch", attention="srm")
    assert sum(isinstance(m, SRM) for m in net.modules()) == 5
    assert all(isinstance(block.attention, SRM) for block in net.residual)
    assert count_parameters(net) - count_parameters(TransformerNet(norm="batch", attention="none")) == 5 * 4 * 128
    wide = TransformerNet(norm="batch", attention="se", sampling_attention=True)
    assert sum(isinstance(m, SqueezeExcite) for m in wide.modules()) == 5 + 5


@pytest.mark.parametrize("name", BLOCKS)
def test_each_block_adds_five_times_its_parameter_count_at_128_channels(name):
    added = count_parameters(TransformerNet("batch", name)) - count_parameters(TransformerNet("batch", "none"))
    assert added == 5 * attention_class(name).parameter_count(128)


def test_norm_choices():
    assert any(isinstance(m, nn.InstanceNorm2d) for m in TransformerNet(norm="instance", attention="none").modules())
    plain = TransformerNet(norm="none", attention="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in plain.modules())
    with pytest.raises(ValueError, match="unknown norm 'layer'"):
        TransformerNet(norm="layer")


def test_training_batchnorm_or_srm_on_one_image_is_a_clear_error():
    for norm, attention in [("batch", "none"), ("none", "srm"), ("batch", "srm")]:
        net = TransformerNet(norm=norm, attention=attention).train()
        with pytest.raises(ValueError, match="batch size of at least 2"):
            net(torch.rand(1, 3, 32, 32))
    TransformerNet(norm="instance", attention="none").train()(torch.rand(1, 3, 32, 32))


BLOCKS_WITH_BATCHNORM = {"srm", "srm-avg", "srm-max"}  # the SRM paper's blocks: a BN after the channel-wise FC


@pytest.mark.parametrize("name", BLOCKS)
def test_a_network_needs_batch_statistics_iff_its_norm_or_its_block_does(name):
    for norm in ("instance", "batch"):
        net = TransformerNet(norm=norm, attention=name, residual_blocks=1).train()
        assert net.needs_batch_statistics == (norm == "batch" or name in BLOCKS_WITH_BATCHNORM)
        if net.needs_batch_statistics:
            with pytest.raises(ValueError, match="batch size of at least 2"):
                net(torch.rand(1, 3, 16, 16))
        else:
            net(torch.rand(1, 3, 16, 16))


@pytest.mark.parametrize("name", BLOCKS)
def test_a_model_file_round_trip_rebuilds_every_block(tmp_path, name):
    torch.manual_seed(0)
    net = TransformerNet(norm="batch", attention=name).train()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    net(torch.rand(2, 3, 24, 24))  # move the BatchNorm statistics
    net.eval()
    loaded = load_model(save_model(net, tmp_path / f"{name}.safetensors"))
    assert loaded.config.attention == name
    assert all(isinstance(block.attention, attention_class(name)) for block in loaded.residual)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)


def test_folded_network_matches_the_trained_one():
    torch.manual_seed(0)
    net = TransformerNet(norm="batch", attention="srm", sampling_attention=True)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, SRM):
                module.cfc.normal_(0, 0.3)
    net.train()
    for _ in range(3):
        net(torch.rand(4, 3, 32, 32))
    net.eval()
    folded = fold_attention(net)
    assert sum(isinstance(m, FoldedSRM) for m in folded.modules()) == 10
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        assert (folded(x) - net(x)).abs().max().item() < 1e-5


@pytest.mark.parametrize("attention", attention_names())
def test_batchnorm_folds_into_the_convolutions(attention):
    torch.manual_seed(0)
    net = TransformerNet(norm="batch", attention=attention, sampling_attention=True).train()
    for _ in range(3):  # BN statistics away from (0, 1)
        net(torch.rand(4, 3, 32, 32) * 2)
    net.eval()
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    x = torch.rand(2, 3, 40, 36)
    with torch.no_grad():
        assert (folded(x) - net(x)).abs().max().item() < 1e-5


def test_folding_batchnorm_leaves_instance_norm_alone():
    net = TransformerNet(norm="instance", attention="none")
    folded = fold_batchnorm(net)
    assert not folded.training
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in folded.modules()) == 15


def test_one_check_says_when_a_batch_is_too_small_to_train():
    # Networks, their configurations and attention blocks share one check and one message.
    check_trainable_batch(NetworkConfig("instance", "none"), 1)
    check_trainable_batch(NetworkConfig("batch", "srm"), 2)
    with pytest.raises(ValueError, match=r"^cannot train a batch norm / srm attention network on 1 image per "
                                         r"process: BatchNorm and the srm attention block need at least 2 images "
                                         r"per process"):
        check_trainable_batch(NetworkConfig("batch", "srm"), 1, per="process")
    with pytest.raises(ValueError, match="BatchNorm needs at least 2 images per batch.*batch size of at least 2"):
        check_trainable_batch(TransformerNet("batch", "none"), 1)
    block = create_attention("srm", 8)
    with pytest.raises(ValueError, match="^cannot train the srm attention block on 0 images per batch"):
        check_trainable_batch(block, 0)
