"""The training loop: seeds, mixed precision, checkpoints and exact resume, early stopping.

``Trainer(cfg, data, out_dir).fit()`` trains, selects the best epoch on the validation split,
evaluates the test split once with that model, and leaves in ``out_dir``:

- ``config.yaml``: the full configuration;
- ``last.pt`` / ``best.pt``: checkpoints, written atomically, loaded with
  ``torch.load(weights_only=True)`` (a checkpoint is data, never code);
- ``history.json`` / ``history.csv``: loss, throughput and validation metrics per epoch;
- ``metrics.json``: test metrics of the selected model (full catalogue and the paper's
  sampled protocol), with the run's provenance.

A run interrupted at any point resumes with ``resume=True`` (``negrec train --resume``) and
ends with the same weights and metrics as an uninterrupted run: the checkpoint holds the
optimiser, scheduler, scaler, every random-number generator and the position in the epoch.

The package, one idea a module: the loop (`trainer`: `Trainer`), the run's position as its
checkpoint stores it (`state`), and its record (`history`: the history files, the tensorboard
log, the callbacks' hooks).
"""

from __future__ import annotations

from .trainer import Trainer

__all__ = ["Trainer"]
