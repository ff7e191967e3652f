"""The position of a training run, as its checkpoint stores it (`_State`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done inside the current epoch
    step: int = 0  # optimiser steps in total
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0.0])  # epoch loss sums so far
    seconds: float = 0.0  # training seconds of the current epoch so far
    sessions: int = 0  # sessions seen in the current epoch so far
