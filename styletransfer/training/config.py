"""The options of a training run: :class:`TrainingConfig` (typed, round-trips through JSON as
a run folder's ``config.json``), its defaults, and the training errors.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from styletransfer.core.device import PRECISIONS
from styletransfer.errors import StyleTransferError
from styletransfer.losses.perceptual import DEFAULT_CONTENT_LAYERS, DEFAULT_DISTILL_FEATURE_LAYERS, DEFAULT_STYLE_LAYERS
from styletransfer.models.transformer import NetworkConfig
from styletransfer.models.vgg import layer_names


class TrainingError(StyleTransferError, ValueError):
    """Bad training input (options, style image, data set, run folder); one line naming it."""


class TrainingDivergedError(TrainingError):
    """The losses became non-finite, or fp16 gradients kept overflowing: the run stopped before
    a checkpoint or a model file could hold bad weights."""


# The recipe (issue 12), on VGG19 Caffe-range features (0–255 inputs) with content at relu2_2 and
# the Gram style loss over relu1_1..relu4_1:
# - style 10 / content 10: the style/content ratio of Johnson's and lengstrom's recipes once
#   converted to these units. The earlier style 1 kept the photo's colors; the impression that
#   high style weights wash the photo out came from runs of a few hundred steps.
# - a color-statistics term (styletransfer.losses.color): the Gram loss is ruled by a painting's
#   main colors and leaves out its minor ones.
# - TV on RGB 0–1 pixels: it damps the strided convolutions' checkerboard.
# docs/training.md ("The recipe", "Design notes") has the measurements behind each weight.
DEFAULT_CONTENT_WEIGHT = 10.0
DEFAULT_STYLE_WEIGHT = 10.0
DEFAULT_TV_WEIGHT = 5e5
DEFAULT_COLOR_WEIGHT = 3e7
DEFAULT_DISTILL_WEIGHT = 1e8
"""Weight of the pixel MSE to a teacher's output (RGB 0..1) when training with a teacher: about
as large as the whole perceptual loss at the start and under half of it once trained, so the
painting's own loss keeps shaping the student (docs/training.md, "Design notes")."""
DEFAULT_DISTILL_PALETTE_WEIGHT = 3e9
"""Weight of the color distance between a student's output and its teacher's
(styletransfer.losses.color.paired_color_distance, squared RGB 0..1 units), added to the distillation
term: a pixel MSE alone lets a small student average away its teacher's minor colours
(measurements: docs/slim.md and docs/training.md, "Design notes")."""
DEFAULT_EPOCHS = 2
"""Epochs trained when neither steps nor epochs is given."""
MAX_STYLE_SIZE = 512
"""Default style image size: the painting's own size, its longest side capped at this."""
BASE_LR = 1e-3
BASE_BATCH_SIZE = 4
"""The default learning rate is BASE_LR at this batch size, scaled by sqrt(batch / this)."""
CACHE_MEMORY_SHARE = 0.25
"""cache_images=None caches when the decoded images take at most this share of free memory."""
MAX_VAL_IMAGES = 8
"""Default held-out set: 10% of the images, at least 1, at most this many."""


@dataclass
class TrainingConfig:
    """Every training option. ``train`` fills in the ``None`` ones it resolves (steps,
    style_size, workers, val_images, name) and the ``"auto"`` device and precision, and
    writes the result to ``config.json``. Paths are strings so the config is JSON-able."""

    style: str
    """The painting: an image file."""
    out_dir: str
    """The run folder."""
    images: str | None = None
    """A folder of training photos, searched recursively. Or one of the COCO options:"""
    coco_root: str | None = None
    """MS-COCO folder: train2014/ or train2017/ and annotations/instances_train*.json."""
    coco_annotations: str | None = None
    """A COCO instances annotation file (its images folder is found beside its folder)."""
    coco_categories: list[str] | None = None
    """Keep only COCO images showing one of these categories (e.g. ["person", "dog"])."""
    max_images: int | None = None
    """Use only the first N images (by path for a folder, by image id for COCO)."""
    norm: str = "batch"
    attention: str = "srm"
    width: int = 32
    """Channels of the network's first layer (styletransfer.models.transformer.SIZES: 32 full, 12 slim)."""
    residual_blocks: int = 5
    """Residual blocks of the network (5 full, 3 slim)."""
    teacher: str | None = None
    """A trained model (a model file, or the name of an installed style) whose stylized images
    this network learns to imitate besides the perceptual loss: distillation, e.g. of a slim
    network from the full model of the same painting."""
    distill_weight: float = DEFAULT_DISTILL_WEIGHT
    """Weight of the pixel MSE to the teacher's output (only with a teacher)."""
    distill_palette_weight: float = DEFAULT_DISTILL_PALETTE_WEIGHT
    """Weight of the color-distribution distance to the teacher's output (only with a teacher;
    0 leaves it out): it keeps the minor colors that a pixel MSE lets a small student average away."""
    distill_feature_weight: float = 0.0
    """Weight of the MSE between the VGG features of the output and of the teacher's output, at the
    distillation feature layers (only with a teacher; 0, the default, leaves it out): a pixel MSE lets
    a small student blur the edges it cannot place exactly, a feature term asks for them (the slim
    twins' structure, docs/slim.md)."""
    distill_feature_layers: list[str] = field(default_factory=lambda: list(DEFAULT_DISTILL_FEATURE_LAYERS))
    """VGG layers of the feature term (default relu2_2, the content layer)."""
    init: str | None = None
    """Start from the weights of a trained model (a model file, or the name of an installed
    style) instead of random ones: fine-tuning, e.g. training a shipped style further. Its network
    must be the one these options describe (norm, attention, width, residual blocks)."""
    steps: int | None = None
    """Optimizer steps in all; None: ``epochs`` (default 2) times the steps per epoch."""
    epochs: int | None = None
    batch_size: int = 4
    """Images per step over all processes (each of N processes trains on batch_size / N)."""
    lr: float | None = None
    """Adam's learning rate (constant); None: BASE_LR × sqrt(batch_size / BASE_BATCH_SIZE),
    1e-3 at batch 4 (the square-root rule for Adam: the gradient noise of a batch B falls as
    1/sqrt(B), so the step can grow as sqrt(B); Malladi et al., NeurIPS 2022)."""
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = DEFAULT_STYLE_WEIGHT
    tv_weight: float = DEFAULT_TV_WEIGHT
    color_weight: float = DEFAULT_COLOR_WEIGHT
    """Weight of the color-statistics term (styletransfer.losses.color; 0 leaves it out)."""
    content_layers: list[str] = field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    style_layer_weights: list[float] | None = None
    """One weight per style layer, in the order of ``style_layers`` (the style term is
    ``style_weight`` × Σ weight × Gram MSE); None: 1 each. A deep layer's Gram MSE can outweigh
    the shallower layers' together (relu4_1's, docs/ab/cpu-long-irises-deep), so this sets how much
    of the painting's larger shapes a network learns without giving up the rest."""
    style_size: int | None = None
    """Longest side of the painting for the style loss; None: its own size, at most 512 px."""
    image_size: int = 256
    """Training crops: shorter side resized to this, then a random square crop."""
    seed: int = 0
    data_seed: int | None = None
    """Seed of the data order and the crops; None: ``seed``. The networks of a bank
    (styletransfer.training.bank) share one stream of photos: a member whose seed differs from
    the bank's stores the bank's data seed here, so it resumes, and would train alone, exactly as
    in the bank."""
    device: str = "auto"
    precision: str = "auto"
    """"fp32", "bf16", "fp16" or "auto": bf16 on CUDA GPUs that have it (else fp16), see
    styletransfer.core.device.pick_precision(training=True)."""
    workers: int | None = None
    """Data loading processes; None: one less than the CPU count, at most 4 (at most 16 on CUDA)."""
    channels_last: bool | None = None
    """Channels-last memory format for the network, the loss network and the batches; None: on CUDA."""
    compile: bool | None = None
    """torch.compile the network and the loss network (the first step then takes tens of seconds
    longer: summary.json's first_step_seconds); None: on CUDA."""
    cache_images: bool | None = None
    """Decode and resize every training image once, before training, and keep them in memory as
    uint8; None: on CUDA when that takes at most a quarter of the free memory."""
    sync_batchnorm: bool = False
    """Under torchrun on CUDA: BatchNorm (and SRM's) statistics over the whole global batch
    instead of each process's share (SyncBatchNorm)."""
    val_images: int | None = None
    """Held-out images for validation and previews (never trained on); None: see MAX_VAL_IMAGES."""
    checkpoint_every: int = 1000
    val_every: int = 500
    preview_every: int = 500
    """Every this many steps (0: only at the end and when stopped)."""
    name: str | None = None
    """Model name; None: the run folder's name."""
    title: str | None = None
    artist: str | None = None
    year: str | None = None
    licence: str | None = None
    init_images_seen: int | None = None
    """Training images the init model had seen before this run; None: read from its metadata
    (its images_seen, else its steps × batch size). The model file's images_seen adds this
    run's steps × batch size to it."""
    init_stages: list[dict[str, Any]] | None = field(default=None, metadata={"option": False})
    """The training runs the init model's weights went through (its ``stages``, else its own
    recipe), filled in from it when the run starts; the model file's ``stages`` adds this run.
    Kept in the run's config so that a resumed run has them without reading the init model again;
    not an option (it comes from the init model)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a TrainingError. A distillation run
        stored before the palette term existed (no ``distill_palette_weight``) resumes without
        it, as it started."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown training option(s) {', '.join(unknown)}")
        if values.get("teacher") is not None and "distill_palette_weight" not in values:
            values = {**values, "distill_palette_weight": 0.0}
        try:
            return cls(**values)
        except TypeError as error:
            raise TrainingError(str(error)) from None

    def data_order_seed(self) -> int:
        """The seed of the data order and crops: ``data_seed``, else ``seed``."""
        return self.seed if self.data_seed is None else self.data_seed

    def network_config(self) -> NetworkConfig:
        """The network these options train (ValueError for an unknown norm or attention)."""
        return NetworkConfig(self.norm, self.attention, residual_blocks=self.residual_blocks, width=self.width)

    def check(self) -> None:
        """Raise TrainingError for the first option that cannot work."""
        coco = self.coco_root is not None or self.coco_annotations is not None
        if self.images is not None and coco:
            raise TrainingError("give either a folder of images or COCO, not both")
        if self.images is None and not coco:
            raise TrainingError("no training images: give a folder of images or a COCO folder")
        if self.coco_categories is not None and not coco:
            raise TrainingError("COCO categories only apply to COCO training data")
        try:
            self.network_config()
        except ValueError as error:
            raise TrainingError(str(error)) from None
        positive = {"batch_size": self.batch_size, "image_size": self.image_size, "steps": self.steps,
                    "epochs": self.epochs, "max_images": self.max_images, "style_size": self.style_size}
        at_least_zero = {"workers": self.workers, "val_images": self.val_images,
                         "checkpoint_every": self.checkpoint_every, "val_every": self.val_every,
                         "preview_every": self.preview_every, "content_weight": self.content_weight,
                         "style_weight": self.style_weight, "tv_weight": self.tv_weight,
                         "color_weight": self.color_weight, "distill_weight": self.distill_weight,
                         "distill_palette_weight": self.distill_palette_weight,
                         "distill_feature_weight": self.distill_feature_weight}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise TrainingError(f"{name} must be at least 1, not {value}")
        for name, value in at_least_zero.items():
            if value is not None and value < 0:
                raise TrainingError(f"{name} must not be negative, not {value}")
        if self.lr is not None and not self.lr > 0:
            raise TrainingError(f"the learning rate must be positive, not {self.lr}")
        if self.precision != "auto" and self.precision not in PRECISIONS:
            raise TrainingError(f"unknown precision {self.precision!r}; expected auto, {', '.join(PRECISIONS)}")
        known_layers = layer_names("vgg19")
        for name, layers in (("content", self.content_layers), ("style", self.style_layers),
                             ("distill feature", self.distill_feature_layers)):
            unknown = [layer for layer in layers if layer not in known_layers]
            if unknown:
                raise TrainingError(f"unknown VGG19 layer(s) {', '.join(unknown)} for the {name} loss; "
                                    f"expected names like relu2_2 or relu4_1")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise TrainingError(f"{len(self.style_layer_weights)} style layer weights for "
                                    f"{len(self.style_layers)} style layers ({', '.join(self.style_layers)})")
            if any(not weight >= 0 for weight in self.style_layer_weights):
                raise TrainingError(f"style layer weights must not be negative, not "
                                    f"{', '.join(f'{weight:g}' for weight in self.style_layer_weights)}")
        if self.distill_feature_weight and not self.distill_feature_layers:
            raise TrainingError("the distillation's feature term needs at least one VGG layer")
