"""Dataclass configurations, their YAML round trip, and the three hardware profiles.

One `ExperimentConfig` holds everything a training run needs: where the data comes from
(`DataConfig`), the encoder (`ModelConfig`), the losses (`LossConfig`) and the loop
(`TrainConfig`). Profiles (`ci`, `cpu`, `gpu`) size all of them at once; the environment
variable ``NEGREC_PROFILE`` picks one, otherwise the hardware decides.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError

PROFILES = ("ci", "cpu", "gpu")


@dataclass
class SimConfig:
    """Size and knobs of the simulated MSSD data a profile generates."""

    sessions: int = 20_000
    tracks: int = 5_000
    skip_signal: float = 0.8
    days: int = 8
    max_length: int = 20
    seed: int = 0


@dataclass
class DataConfig:
    """How raw MSSD logs become a prepared dataset (see `negrec_lib.data.prepare`)."""

    skip_strength: int = 2            # a track is "skipped" when its skip strength >= this (paper: skip_2)
    min_length: int = 6               # keep sessions with length >= min_length (paper: length > 5)
    require_skip: bool = True         # keep only sessions with at least one skip (paper)
    min_count: int = 1                # tracks seen fewer times in training become out-of-vocabulary
    oov: Literal["token", "drop_session"] = "token"
    split: Literal["paper", "by_day"] = "paper"
    valid_days: int = 1               # by_day: number of days before the test days used for validation
    test_days: int = 1                # by_day: last days used for testing
    eval_targets: Literal["last", "all"] = "last"   # by_day: score the last track, or every next track
    max_length: int = 20              # sessions longer than this keep their last max_length tracks
    max_sessions: int | None = None   # read at most this many sessions (the paper samples ~450 K)
    on_error: Literal["raise", "drop"] = "raise"     # malformed sessions: stop, or drop and count


@dataclass
class ModelConfig:
    """The self-attentive encoder; defaults are the paper's configuration."""

    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.2
    max_length: int = 20              # longest input; the bidirectional model adds one slot for [MASK]
    causal: bool = True               # True: unidirectional (SASRec); False: bidirectional cloze (BERT4Rec)
    pre_ln: bool = False              # the reference uses PyTorch's post-LN layer
    mask_prob: float = 0.15           # bidirectional: share of input positions replaced by [MASK]
    use_features: bool = False        # add projected track features (tf files) to track embeddings
    # Initialisation (see `SessionEncoder.reset_parameters`): "scaled" (default) draws track and
    # position embeddings from N(0, 1/d_model), so each starts at about unit norm, and layers from
    # N(0, 0.02); "gpt" draws everything from N(0, 0.02) (negrec before the fix: the model sits on
    # the popularity plateau for epochs); "torch" keeps PyTorch's module defaults (the reference).
    init: Literal["scaled", "gpt", "torch"] = "scaled"


@dataclass
class LossConfig:
    """Next-track loss and the skip contrastive loss (PAPER.md section 3)."""

    next_loss: Literal["sampled", "full"] = "sampled"
    sampler: Literal["uniform", "popularity"] = "uniform"
    n_negatives: int = 1000           # random candidates added to the batch's unique targets
    logq: bool = False                # subtract log Q(candidate) (recommended with the popularity sampler)
    skip_weight: float = 0.0          # lambda; 0 disables the contrastive loss (the baseline)
    skip_anchor: Literal["track", "hidden"] = "track"
    skip_temperature: float = 0.1
    skip_pairing: Literal["session", "reference"] = "session"   # "reference" reproduces pitfall 1


@dataclass
class TrainConfig:
    """The training loop."""

    epochs: int = 25
    batch_size: int = 128
    lr: float = 0.005
    weight_decay: float = 0.0
    grad_clip: float | None = 5.0
    warmup_steps: int = 0
    scheduler: Literal["constant", "cosine"] = "constant"
    seed: int = 1265
    device: str = "auto"              # "auto", "cpu", "cuda", "cuda:1", ...
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False
    sparse_embeddings: bool = False   # lazy Adam on the track table (only a batch's rows move); not the paper's Adam
    deterministic: bool = False
    patience: int | None = 5          # early stopping: epochs without improvement on validation
    select_metric: str = "ndcg@10"    # validation metric used for model selection
    eval_batch_size: int = 1024
    sampled_eval_batch_size: int = 128   # the paper's sampled protocol depends on it (pitfall 5)
    eval_every: int = 1               # epochs between validation passes
    tensorboard: bool = False
    progress: bool = True


@dataclass
class ExperimentConfig:
    """Everything a training run needs."""

    name: str = "run"
    data_dir: str = ""                # a prepared folder (negrec prepare), or empty to simulate
    out_dir: str = "runs/run"
    sim: SimConfig = field(default_factory=SimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ YAML round trip
    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (what `to_yaml` writes)."""
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Serialise to YAML; write it to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "ExperimentConfig":
        """Build from a nested dict; unknown keys and wrong types raise `ConfigError`."""
        return _build(cls, data, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ExperimentConfig":
        """Read a YAML file written by `to_yaml` (or by hand; missing keys keep their defaults)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        return cls.from_dict(data, source=str(path))

    def override(self, assignments: list[str]) -> "ExperimentConfig":
        """Apply ``section.key=value`` strings (values parsed as YAML), returning a new config."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected key=value, e.g. loss.skip_weight=1")
            key, raw = item.split("=", 1)
            parts = key.strip().split(".")
            node = data
            for p in parts[:-1]:
                if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                    raise ConfigError(f"--set {item!r}: no config section '{p}'")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(f"--set {item!r}: unknown field '{key}'; "
                                  f"known here: {', '.join(node)}")
            node[parts[-1]] = yaml.safe_load(raw)
        return ExperimentConfig.from_dict(data, source="--set")


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Validate (and lightly coerce) one field value against its type hint."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is not None and type(None) in args:          # Optional[X] / X | None
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(value, inner[0], where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], f"{where}: {f.name}")
        else:
            kwargs[f.name] = _check_value(data[f.name], hint, f"{where}: {f.name}")
    return cls(**kwargs)


# ---------------------------------------------------------------------- profiles
def detect_profile() -> str:
    """`NEGREC_PROFILE` if set, else ``gpu`` when CUDA is available, else ``cpu``."""
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
    """
    name = detect_profile() if name is None else name
    if name == "ci":
        return ExperimentConfig(
            name="ci",
            sim=SimConfig(sessions=3_000, tracks=800, skip_signal=0.8, days=4),
            model=ModelConfig(d_model=32, n_heads=4, n_layers=2, d_ff=32, dropout=0.1),
            loss=LossConfig(n_negatives=200),
            train=TrainConfig(epochs=6, batch_size=128, lr=0.005, patience=None,
                              eval_batch_size=512),
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
