"""negrec_lib: sequential music recommendation that learns from skipped tracks.

Companion library of the negrec book (Seshadri & Knees, 2023, reimplemented and examined).

The names a reader needs are here, from data to verdicts; everything else is reached by its
module (``negrec_lib.metrics.target_ranks``, ``negrec_lib.viz.training``, ...). They are
imported on first use, so ``import negrec_lib`` stays light (no torch until one is needed).

=======================  =====================================================================
`ExperimentConfig`       every setting of a run; `profile_config` ("ci", "cpu", "gpu") sizes one
`simulate`               MSSD-format sessions with a known ground truth (`negrec_lib.sim`)
`ensure_dataset`         simulate and prepare a profile's data once, cached (`data.cache`)
`SessionData`            a prepared folder as tensors, batches by index (`data.sessions`)
`SessionEncoder`         the self-attentive encoder, causal or bidirectional (`model`)
`compute_losses`         a step's next-track and skip losses; `skip_infonce_loss` (`losses`)
`evaluate`               full-catalogue or sampled ranking metrics (`metrics`)
`Trainer`                the training loop (`train`); `run_cached` trains once per config (`runs`)
`run_experiment`         a grid of configurations x seeds into a results table (`study.grids`)
`load_results`           a committed results table (`study.results`)
`comparisons`            paired changes with Fieller intervals (`study.compare`)
`verdicts`               the paper's claims, tested with Holm's correction (`study.claims`)
=======================  =====================================================================

>>> import negrec_lib
>>> cfg = negrec_lib.profile_config("ci").override(["loss.skip_weight=1"])
>>> cfg.name, cfg.loss.skip_weight
('ci', 1.0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The repository the book's Colab buttons and install cells point at. A fork changes this
# line and `repository.url` in _config.yml (see README, "Forking").
REPOSITORY_URL = "https://github.com/negrec/negrec"

# The release every chapter's first cell installs on Colab (``negrec[viz] @ git+<URL>@<RELEASE>``):
# a tag of REPOSITORY_URL, created when the book is published (``git tag v0.1.0 && git push
# --tags``). book/apply_chapter_conventions.py writes it into the chapters and tests/
# test_conventions.py keeps them in step.
RELEASE = f"v{__version__}"

# name -> the module that defines it (imported on first access: see __getattr__)
_PUBLIC = {
    "ExperimentConfig": "config",
    "profile_config": "config",
    "simulate": "sim",
    "ensure_dataset": "data.cache",
    "SessionData": "data.sessions",
    "SessionEncoder": "model",
    "compute_losses": "losses",
    "skip_infonce_loss": "losses",
    "evaluate": "metrics",
    "Trainer": "train",
    "run_cached": "runs",
    "run_experiment": "study.grids",
    "load_results": "study.results",
    "comparisons": "study.compare",
    "verdicts": "study.claims",
}

__all__ = [  # the same names as _PUBLIC (tests/test_packaging.py checks it), then the release
    "ExperimentConfig",
    "profile_config",
    "simulate",
    "ensure_dataset",
    "SessionData",
    "SessionEncoder",
    "compute_losses",
    "skip_infonce_loss",
    "evaluate",
    "Trainer",
    "run_cached",
    "run_experiment",
    "load_results",
    "comparisons",
    "verdicts",
    "REPOSITORY_URL",
    "RELEASE",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:  # what type checkers and editors see
    from .config import ExperimentConfig, profile_config
    from .data.cache import ensure_dataset
    from .data.sessions import SessionData
    from .losses import compute_losses, skip_infonce_loss
    from .metrics import evaluate
    from .model import SessionEncoder
    from .runs import run_cached
    from .sim import simulate
    from .study.claims import verdicts
    from .study.compare import comparisons
    from .study.grids import run_experiment
    from .study.results import load_results
    from .train import Trainer
