"""Checkpoints: the file format, writing it atomically, reading it as data, resuming with it.

A checkpoint is a ``torch.save`` dict, read back with ``torch.load(weights_only=True)`` (data,
never code). Every checkpoint holds ``version`` (`CHECKPOINT_VERSION`), ``config`` (the
`ExperimentConfig` as a dict), ``vocab_size``, ``n_features`` and ``model`` (the encoder's
state dict); a run's ``last.pt`` adds the training state that `negrec_lib.train.Trainer`
resumes from (optimiser, scheduler, scaler, random generators, position in the epoch).

The package, one idea a module: the file format, atomic save, load as data and the model
rebuilt from it (`format`), and resuming a run (`resume`). Every public name is importable from
here.
"""

from __future__ import annotations

from .format import CHECKPOINT_VERSION, load_checkpoint, model_from_checkpoint, save_checkpoint
from .resume import (
    SAFE_ON_RESUME,
    reconcile_config,
    restore_training,
    resume_checkpoint,
    training_checkpoint,
)

__all__ = [
    "CHECKPOINT_VERSION",
    "SAFE_ON_RESUME",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "reconcile_config",
    "resume_checkpoint",
    "training_checkpoint",
    "restore_training",
]
