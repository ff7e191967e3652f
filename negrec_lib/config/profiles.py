"""The three hardware profiles (``ci``, ``cpu``, ``gpu``), each sizing a whole configuration.

The environment variable ``NEGREC_PROFILE`` picks one, otherwise the hardware decides.
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from .experiment import ExperimentConfig
from .sections import LossConfig, ModelConfig, SimConfig, TrainConfig

PROFILES = ("ci", "cpu", "gpu")


def detect_profile() -> str:
    """`NEGREC_PROFILE` if set, else ``gpu`` when CUDA is available, else ``cpu``.

    Examples
    --------
    >>> detect_profile() in PROFILES
    True
    """
    name = os.environ.get("NEGREC_PROFILE", "").strip().lower()
    if name:
        if name not in PROFILES:
            raise ConfigError(f"NEGREC_PROFILE={name!r}: expected one of {list(PROFILES)}")
        return name
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


def profile_config(name: str | None = None) -> ExperimentConfig:
    """The experiment configuration of a profile (``ci``, ``cpu`` or ``gpu``).

    ``ci`` finishes a chapter in well under a minute on two CPU cores; ``cpu`` is what a reader
    without a GPU runs (minutes); ``gpu`` is Colab/H100 scale with the paper's model.

    Examples
    --------
    >>> cfg = profile_config("ci")
    >>> cfg.name, cfg.sim.sessions, cfg.model.d_model
    ('ci', 6000, 32)
    """
    name = detect_profile() if name is None else name
    if name == "ci":
        return ExperimentConfig(
            name="ci",
            # 6,000 sessions in batches of 32: about 185 steps an epoch, enough for both
            # directions to leave the popularity plateau in the first epoch
            # (tests/test_learning.py).
            sim=SimConfig(sessions=6_000, tracks=800, skip_signal=0.8, days=4),
            model=ModelConfig(d_model=32, n_heads=4, n_layers=2, d_ff=32, dropout=0.1),
            loss=LossConfig(n_negatives=200),
            train=TrainConfig(
                epochs=4, batch_size=32, lr=0.005, patience=None, eval_batch_size=512
            ),
        )
    if name == "cpu":
        return ExperimentConfig(
            name="cpu",
            sim=SimConfig(sessions=40_000, tracks=8_000, skip_signal=0.8, days=8),
            model=ModelConfig(d_model=64, n_heads=4, n_layers=2, d_ff=64, dropout=0.2),
            loss=LossConfig(n_negatives=1000),
            # Five epochs: chapter 4 trains eight fresh runs, and six epochs put a fresh `make book`
            # on two cores at 31 minutes, past its 30-minute budget.
            train=TrainConfig(epochs=5, batch_size=256, lr=0.003, patience=3),
        )
    if name == "gpu":
        return ExperimentConfig(
            name="gpu",
            # Sized so that a chapter's runs fit about ten minutes on Colab's free T4 (by estimate:
            # ~800 steps an epoch; not yet timed on one), at the paper's model size.
            sim=SimConfig(sessions=200_000, tracks=30_000, skip_signal=0.8, days=10),
            model=ModelConfig(),
            loss=LossConfig(n_negatives=1000),
            train=TrainConfig(epochs=6, batch_size=256, lr=0.002, patience=3),
        )
    raise ConfigError(f"unknown profile {name!r}; expected one of {list(PROFILES)}")


EXAMPLE_SETS = (
    "sim.sessions=100",
    "sim.tracks=50",
    "sim.days=2",
    "model.d_model=8",
    "model.d_ff=8",
    "model.n_heads=2",
    "loss.n_negatives=10",
    "train.epochs=1",
    "train.batch_size=32",
    "train.progress=false",
)
"""The ci profile shrunk until a run takes about a second: what the docstring examples train."""


def example_config() -> ExperimentConfig:
    """The configuration the library's runnable examples train (`EXAMPLE_SETS` over ci).

    Examples
    --------
    >>> cfg = example_config()
    >>> cfg.sim.sessions, cfg.model.d_model, cfg.train.epochs
    (100, 8, 1)
    """
    return profile_config("ci").override(list(EXAMPLE_SETS))
