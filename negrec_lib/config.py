"""Dataclass configurations, their YAML round trip, and the three hardware profiles.

One `ExperimentConfig` holds everything a training run needs: where the data comes from
(`DataConfig`), the encoder (`ModelConfig`), the losses (`LossConfig`) and the loop
(`TrainConfig`). Profiles (`ci`, `cpu`, `gpu`) size all of them at once; the environment
variable ``NEGREC_PROFILE`` picks one, otherwise the hardware decides.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError, display_path

PROFILES = ("ci", "cpu", "gpu")


@dataclass
class SimConfig:
    """Size and knobs of the simulated MSSD data a profile generates.

    Examples
    --------
    >>> SimConfig(sessions=1_000, tracks=200).days  # the rest at their defaults
    8
    """

    sessions: int = 20_000
    tracks: int = 5_000
    skip_signal: float = 0.8
    days: int = 8
    max_length: int = 20
    seed: int = 0


@dataclass
class DataConfig:
    """How raw MSSD logs become a prepared dataset (see `negrec_lib.data.prepare`).

    Examples
    --------
    >>> cfg = DataConfig(split="by_day", min_count=2)
    >>> cfg.split, cfg.skip_strength  # a track is skipped when its skip strength >= 2
    ('by_day', 2)
    """

    skip_strength: int = 2  # a track is "skipped" when its skip strength >= this (paper: skip_2)
    min_length: int = 6  # keep sessions with length >= min_length (paper: length > 5)
    require_skip: bool = True  # keep only sessions with at least one skip (paper)
    min_count: int = 1  # tracks seen fewer times in training become out-of-vocabulary
    oov: Literal["token", "drop_session"] = "token"
    split: Literal["paper", "by_day"] = "paper"
    valid_days: int = 1  # by_day: number of days before the test days used for validation
    test_days: int = 1  # by_day: last days used for testing
    # by_day: score the last track, or every next track
    eval_targets: Literal["last", "all"] = "last"
    max_length: int = 20  # sessions longer than this keep their last max_length tracks
    max_sessions: int | None = None  # read at most this many sessions (the paper samples ~450 K)
    on_error: Literal["raise", "drop"] = "raise"  # malformed sessions: stop, or drop and count
    # How the `date` column is spelled: "auto" reads YYYY-MM-DD (with or without a time),
    # dd/mm/yyyy, and dd-mm-yy or yy-mm-dd resolved by MSSD's date range (refused when the
    # range does not decide); or name one spelling.
    date_format: Literal["auto", "yyyy-mm-dd", "dd/mm/yyyy", "dd-mm-yy", "yy-mm-dd"] = "auto"
    # A session the file starts or ends inside (a sample cut mid-session): refuse it ("error"),
    # drop and count it, or keep the rows the file has.
    partial_sessions: Literal["error", "drop", "keep"] = "error"


@dataclass
class ModelConfig:
    """The self-attentive encoder; defaults are the paper's configuration.

    Examples
    --------
    >>> m = ModelConfig()  # the paper's encoder
    >>> m.d_model, m.n_heads, m.n_layers, m.causal
    (128, 8, 2, True)
    """

    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.2
    max_length: int = 20  # longest input; the bidirectional model adds one slot for [MASK]
    causal: bool = True  # True: unidirectional (SASRec); False: bidirectional cloze (BERT4Rec)
    pre_ln: bool = False  # the reference uses PyTorch's post-LN layer
    mask_prob: float = 0.15  # bidirectional: share of input positions replaced by [MASK]
    use_features: bool = False  # add projected track features (tf files) to track embeddings
    # Initialisation (see `SessionEncoder.reset_parameters`): "scaled" (default) draws track and
    # position embeddings from N(0, 1/d_model), so each starts at about unit norm, and layers from
    # N(0, 0.02); "gpt" draws everything from N(0, 0.02) (negrec before the fix: the model sits on
    # the popularity plateau for epochs); "torch" keeps PyTorch's module defaults (the reference).
    init: Literal["scaled", "gpt", "torch"] = "scaled"


@dataclass
class LossConfig:
    """Next-track loss and the skip contrastive loss (book/paper.md section 3).

    Examples
    --------
    >>> LossConfig(skip_weight=1.0).next_loss  # the paper's loss with the skip term switched on
    'sampled'
    """

    next_loss: Literal["sampled", "full"] = "sampled"
    sampler: Literal["uniform", "popularity"] = "uniform"
    n_negatives: int = 1000  # random candidates added to the batch's unique targets
    logq: bool = False  # subtract log Q(candidate) (recommended with the popularity sampler)
    skip_weight: float = 0.0  # lambda; 0 disables the contrastive loss (the baseline)
    skip_anchor: Literal["track", "hidden"] = "track"
    skip_temperature: float = 0.1
    skip_pairing: Literal["session", "reference"] = "session"  # "reference" reproduces pitfall 1
    # Controls for the study (what the gain is due to): "permuted" moves each session's skip
    # labels to random positions of the same session (as many skips, no information in where);
    # "kept_negatives" keeps anchors and positives but takes the negatives at random from the
    # session's kept tracks (as many as it has skips), so no skipped track enters the loss.
    skip_control: Literal["none", "permuted", "kept_negatives"] = "none"


@dataclass
class TrainConfig:
    """The training loop.

    Examples
    --------
    >>> TrainConfig().select_metric, TrainConfig(epochs=3).epochs
    ('ndcg@10', 3)
    """

    epochs: int = 25
    batch_size: int = 128
    lr: float = 0.005
    weight_decay: float = 0.0
    grad_clip: float | None = 5.0
    warmup_steps: int = 0
    scheduler: Literal["constant", "cosine"] = "constant"
    seed: int = 1265
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = False
    # lazy Adam on the track table (only a batch's rows move); not the paper's Adam
    sparse_embeddings: bool = False
    deterministic: bool = False
    patience: int | None = 5  # early stopping: epochs without improvement on validation
    select_metric: str = "ndcg@10"  # validation metric used for model selection
    eval_batch_size: int = 1024
    sampled_eval_batch_size: int = 128  # the paper's sampled protocol depends on it (pitfall 5)
    eval_every: int = 1  # epochs between validation passes
    tensorboard: bool = False
    progress: bool = True


@dataclass
class ExperimentConfig:
    """Everything a training run needs.

    Examples
    --------
    >>> cfg = ExperimentConfig().override(["loss.skip_weight=1", "model.causal=false"])
    >>> cfg.loss.skip_weight, cfg.model.causal
    (1.0, False)
    >>> ExperimentConfig.from_dict(cfg.to_dict()) == cfg  # the YAML form round-trips
    True
    """

    name: str = "run"
    data_dir: str = ""  # a prepared folder (negrec prepare), or empty to simulate
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
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ExperimentConfig:
        """Build from a nested dict; unknown keys, wrong types and out-of-range values raise
        `ConfigError` naming the key."""
        cfg = _build(cls, data, source)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> ExperimentConfig:
        """Read a YAML file written by `to_yaml` (or by hand; missing keys keep their defaults)."""
        data = read_yaml(path, "config file")
        source = display_path(path)
        try:
            return cls.from_dict(data, source=source)
        except ConfigError as exc:  # name the line of the offending key
            text = str(exc)
            text = text[len(source) + 2 :] if text.startswith(source + ": ") else text
            line = _line_of(path, text)
            if line is None:
                raise
            raise ConfigError(text, path, line) from None

    def validate(self, source: str = "config") -> ExperimentConfig:
        """Check every numeric and enumerated setting's range; `ConfigError` names the key.

        Called when a configuration is loaded (`from_dict`, `from_yaml`, `override`) and by the
        trainer and `prepare`, for configurations built directly in Python. Returns self.
        """
        problems = [f"{key}={value!r}: {why}" for key, value, why in _range_problems(self)]
        if problems:
            raise ConfigError(f"{source}: " + "; ".join(problems))
        return self

    def override(self, assignments: list[str]) -> ExperimentConfig:
        """Apply ``section.key=value`` strings (values parsed as YAML), returning a new config."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected key=value, e.g. loss.skip_weight=1")
            key, raw = item.split("=", 1)
            parts = key.strip().split(".")
            node = data
            for p in parts[:-1]:
                if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                    raise ConfigError(f"override {item!r}: no config section '{p}'")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(
                    f"override {item!r}: unknown field '{key}'; known here: {', '.join(node)}"
                )
            try:
                node[parts[-1]] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(
                    f"override {item!r}: the value is not valid YAML ({_first_line(exc)})"
                ) from None
        return ExperimentConfig.from_dict(data, source="override")


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Validate (and lightly coerce) one field value against its type hint."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is not None and type(None) in args:  # Optional[X] / X | None
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
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], f"{where}: {f.name}")
        else:
            kwargs[f.name] = _check_value(data[f.name], hint, f"{where}: {f.name}")
    return cls(**kwargs)


# Settings added after datasets and runs were first cached: left out of the cache keys while
# they hold their defaults, so that existing caches stay valid.
_LATE_DEFAULTS = {"data": {"date_format": "auto", "partial_sessions": "error"}}


def cache_key_view(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` of a config section without the late-added settings at their defaults.

    Examples
    --------
    >>> cache_key_view("data", {"min_count": 5, "date_format": "auto"})  # auto is the default
    {'min_count': 5}
    """
    late = _LATE_DEFAULTS.get(section, {})
    return {k: v for k, v in values.items() if not (k in late and late[k] == v)}


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def read_yaml(path: str | Path, what: str = "YAML file") -> dict:
    """A YAML file's top-level mapping; any failure is a `ConfigError` naming the file (and the
    line, for a syntax error).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "grid.yaml").write_text("name: demo\\nseeds: [0, 1]\\n")
    ...     read_yaml(Path(d) / "grid.yaml")
    {'name': 'demo', 'seeds': [0, 1]}
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such {what}", path) from None
    except IsADirectoryError:
        raise ConfigError(f"is a folder, expected a {what}", path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} ({exc.strerror or exc})", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or _first_line(exc)
        raise ConfigError(f"not valid YAML ({problem})", path, line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", path)
    return data


def _line_of(path: str | Path, message: str) -> int | None:
    """The 1-based line of the first key of a YAML file that `message` names (as
    ``section.key`` or ``section: key``), or None."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                lines.setdefault(name, key.start_mark.line + 1)
                walk(value, name + ".")

    walk(root, "")
    spelled = message.replace(": ", ".")
    best = None
    for name, line in lines.items():  # the longest (most specific) key named wins
        if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", spelled) and (
            best is None or len(name) > len(best[0])
        ):
            best = (name, line)
    for token in re.findall(r"unknown field\(s\) \['(\w+)'", message):  # an unknown key
        section = message.split(":")[0] if ": unknown" in message else ""
        name = f"{section}.{token}" if section and not section.startswith("unknown") else token
        if name in lines:
            return lines[name]
    return None if best is None else best[1]


# ---------------------------------------------------------------------- ranges
_METRIC = re.compile(r"(hr|ndcg|mrr)@([1-9][0-9]*)\Z|mrr\Z")
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:[0-9]+)?)\Z")


def _range_problems(cfg: ExperimentConfig) -> list[tuple[str, Any, str]]:
    """(key, value, what is wrong) for every out-of-range setting of ``cfg``."""
    out: list[tuple[str, Any, str]] = []

    def need(ok: bool, key: str, value: Any, why: str) -> None:
        if not ok:
            out.append((key, value, why))

    def finite(x: float) -> bool:
        return isinstance(x, (int, float)) and math.isfinite(x)

    s, d, m, lo, t = cfg.sim, cfg.data, cfg.model, cfg.loss, cfg.train
    need(
        bool(cfg.name.strip()) and "/" not in cfg.name and cfg.name not in (".", ".."),
        "name",
        cfg.name,
        "expected a non-empty name without '/'",
    )
    need(s.sessions >= 1, "sim.sessions", s.sessions, "expected at least 1")
    need(s.tracks >= 2, "sim.tracks", s.tracks, "expected at least 2")
    need(
        finite(s.skip_signal) and 0 <= s.skip_signal <= 1,
        "sim.skip_signal",
        s.skip_signal,
        "expected a number from 0 to 1",
    )
    need(s.days >= 1, "sim.days", s.days, "expected at least 1")
    need(s.max_length >= 1, "sim.max_length", s.max_length, "expected at least 1")
    need(s.seed >= 0, "sim.seed", s.seed, "expected 0 or more")
    need(
        1 <= d.skip_strength <= 3,
        "data.skip_strength",
        d.skip_strength,
        "expected 1, 2 or 3 (skip_3, skip_2, skip_1)",
    )
    need(d.min_length >= 1, "data.min_length", d.min_length, "expected at least 1")
    need(d.min_count >= 1, "data.min_count", d.min_count, "expected at least 1")
    need(d.valid_days >= 1, "data.valid_days", d.valid_days, "expected at least 1")
    need(d.test_days >= 1, "data.test_days", d.test_days, "expected at least 1")
    need(d.max_length >= 1, "data.max_length", d.max_length, "expected at least 1")
    need(
        d.max_sessions is None or d.max_sessions >= 1,
        "data.max_sessions",
        d.max_sessions,
        "expected at least 1 (or null for all)",
    )
    if d.split == "paper":
        need(
            d.min_length >= 3,
            "data.min_length",
            d.min_length,
            "the paper split needs sessions of at least 3 tracks (training input, "
            "validation and test targets)",
        )
        need(
            d.max_length >= 3,
            "data.max_length",
            d.max_length,
            "the paper split needs sessions of at least 3 tracks",
        )
    else:
        need(
            d.min_length >= 2,
            "data.min_length",
            d.min_length,
            "the by_day split needs sessions of at least 2 tracks (a prefix and a target)",
        )
    need(m.d_model >= 1, "model.d_model", m.d_model, "expected at least 1")
    need(m.n_heads >= 1, "model.n_heads", m.n_heads, "expected at least 1")
    if m.d_model >= 1 and m.n_heads >= 1:
        need(
            m.d_model % m.n_heads == 0,
            "model.n_heads",
            m.n_heads,
            f"must divide model.d_model={m.d_model}",
        )
    need(m.n_layers >= 1, "model.n_layers", m.n_layers, "expected at least 1")
    need(m.d_ff >= 1, "model.d_ff", m.d_ff, "expected at least 1")
    need(
        finite(m.dropout) and 0 <= m.dropout < 1,
        "model.dropout",
        m.dropout,
        "expected a number in [0, 1)",
    )
    need(m.max_length >= 2, "model.max_length", m.max_length, "expected at least 2")
    need(
        finite(m.mask_prob) and 0 < m.mask_prob < 1,
        "model.mask_prob",
        m.mask_prob,
        "expected a number in (0, 1)",
    )
    need(lo.n_negatives >= 1, "loss.n_negatives", lo.n_negatives, "expected at least 1")
    need(
        finite(lo.skip_weight) and lo.skip_weight >= 0,
        "loss.skip_weight",
        lo.skip_weight,
        "expected a number >= 0 (0 disables the skip loss)",
    )
    need(
        finite(lo.skip_temperature) and lo.skip_temperature > 0,
        "loss.skip_temperature",
        lo.skip_temperature,
        "expected a number > 0",
    )
    need(t.epochs >= 1, "train.epochs", t.epochs, "expected at least 1")
    need(t.batch_size >= 1, "train.batch_size", t.batch_size, "expected at least 1")
    need(
        finite(t.lr) and t.lr >= 0, "train.lr", t.lr, "expected a number >= 0 (0 freezes the model)"
    )
    need(
        finite(t.weight_decay) and t.weight_decay >= 0,
        "train.weight_decay",
        t.weight_decay,
        "expected a number >= 0",
    )
    need(
        t.grad_clip is None or (finite(t.grad_clip) and t.grad_clip > 0),
        "train.grad_clip",
        t.grad_clip,
        "expected a number > 0, or null for no clipping",
    )
    need(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, "expected 0 or more")
    need(t.seed >= 0, "train.seed", t.seed, "expected 0 or more")
    need(
        bool(_DEVICE.match(t.device)),
        "train.device",
        t.device,
        "expected auto, cpu, mps, cuda or cuda:<index>",
    )
    need(
        t.patience is None or t.patience >= 1,
        "train.patience",
        t.patience,
        "expected at least 1, or null for no early stopping",
    )
    metric = _METRIC.match(t.select_metric)
    need(
        metric is not None and (metric.group(2) is None or int(metric.group(2)) in _KS),
        "train.select_metric",
        t.select_metric,
        f"expected hr@K, ndcg@K or mrr@K with K in {list(_KS)}, or mrr",
    )
    need(t.eval_batch_size >= 1, "train.eval_batch_size", t.eval_batch_size, "expected at least 1")
    need(
        t.sampled_eval_batch_size >= 1,
        "train.sampled_eval_batch_size",
        t.sampled_eval_batch_size,
        "expected at least 1",
    )
    need(t.eval_every >= 1, "train.eval_every", t.eval_every, "expected at least 1")
    return out


_KS = (1, 5, 10, 20)  # the cut-offs `metrics.evaluate` reports (metrics.DEFAULT_KS)


# ---------------------------------------------------------------------- profiles
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
