"""styletransfer: real-time neural style transfer (Johnson et al. 2016) with SRM (Lee et al. 2019).

The public API::

    from styletransfer import TransformerNet, create_attention, PerceptualLoss
    from styletransfer import save_model, load_model, fold_attention, stylize
    from styletransfer import evaluate, Evaluation, StyleScore, PhotoScore, OutputFolder
    from styletransfer import list_models, get_model, load_catalogue, StyleTransferError
    from styletransfer import StyleMix, stylize_video
"""
__version__ = "0.1.0"

from .attention import SRM, FoldedSRM, SqueezeExcite, create_attention, fold_attention
from .catalogue import Style, get_model, get_style, list_models, load_catalogue
from .blend import StyleMix
from .device import pick_device, pick_precision
from .evaluate import Evaluation, EvaluationError, OutputFolder, PhotoScore, StyleScore, evaluate
from .errors import StyleTransferError
from .loss import LossTerms, PerceptualLoss, gram_matrix, total_variation
from .modelfile import ModelFileError, list_model_names, load_model, read_header, save_model
from .network import VARIANTS, NetworkConfig, TransformerNet, count_parameters
from .stylize import stylize
from .vgg import VGGFeatures
from .video import stylize_video

__all__ = [
    "SRM", "FoldedSRM", "SqueezeExcite", "create_attention", "fold_attention",
    "Style", "get_model", "get_style", "list_models", "load_catalogue",
    "pick_device", "pick_precision",
    "Evaluation", "EvaluationError", "OutputFolder", "PhotoScore", "StyleScore", "evaluate",
    "StyleTransferError",
    "LossTerms", "PerceptualLoss", "gram_matrix", "total_variation",
    "ModelFileError", "list_model_names", "load_model", "read_header", "save_model",
    "VARIANTS", "NetworkConfig", "TransformerNet", "count_parameters",
    "stylize", "StyleMix", "stylize_video",
    "VGGFeatures",
]
