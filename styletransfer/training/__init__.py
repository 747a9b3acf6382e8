"""Training a style network (Johnson et al. 2016) for one painting, and comparing variants.

``train(config)`` runs one training into ``config.out_dir``; ``resume_training(run_dir)``
continues a stopped or killed one exactly; ``train_bank(configs)`` trains one network per config
in one process on one stream of photos (a bank; ``resume_bank(folder)`` continues one);
``compare(config, variants, seeds)`` trains several network variants on identical data over
several seeds (as banks) and plots and tabulates them.

Modules: :mod:`.config` (TrainingConfig, defaults, errors), :mod:`.data` (photo folders and
COCO, crops, data order), :mod:`.trainer` (the state and loop of one run), :mod:`.runfolder`
(the files of a run folder), :mod:`.checkpoint`, :mod:`.distributed` (torchrun/DDP),
:mod:`.runs` (train, resume), :mod:`.bank` (banks of networks; :mod:`.bank_loss`,
:mod:`.bank_data`), :mod:`.estimate` (how long a budget takes here, measured before it starts);
comparing variants is :mod:`styletransfer.evaluation.variants`.
"""
from styletransfer.training.bank import BankOptions, BankResult, BankUpdate, is_bank, resume_bank, train_bank
from styletransfer.training.config import (BASE_BATCH_SIZE, BASE_LR, DEFAULT_CONTENT_WEIGHT, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT,
                     DEFAULT_COLOR_WEIGHT,
                     TrainingConfig, TrainingDivergedError, TrainingError)
from styletransfer.training.runs import default_lr, export_checkpoint, read_run_config, resolve_speed_options, resume_training, train
from styletransfer.training.trainer import ProgressCallback, ProgressUpdate, RunResult

__all__ = ["BASE_BATCH_SIZE", "BASE_LR", "DEFAULT_CONTENT_WEIGHT", "DEFAULT_STYLE_WEIGHT",
           "DEFAULT_TV_WEIGHT", "DEFAULT_COLOR_WEIGHT", "BankOptions", "BankResult", "BankUpdate", "ProgressCallback", "ProgressUpdate", "RunResult",
           "TrainingConfig", "TrainingDivergedError", "TrainingError", "default_lr", "export_checkpoint", "read_run_config",
           "is_bank", "resolve_speed_options", "resume_bank", "resume_training", "train", "train_bank"]


_MOVED = {"compare": "styletransfer.evaluation.variants", "ComparisonResult": "styletransfer.evaluation.variants",
          "DEFAULT_SEEDS": "styletransfer.evaluation.variants"}


def __getattr__(name: str) -> object:
    if name in _MOVED:  # training sits below evaluation, so it cannot hand these on
        raise ImportError(f"styletransfer.training.{name} moved to {_MOVED[name]}: "
                          f"from {_MOVED[name]} import {name}")
    raise AttributeError(f"module 'styletransfer.training' has no attribute {name!r}")
