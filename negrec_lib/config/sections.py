"""The configuration sections: the simulated data, preparation, encoder, losses and loop.

Each is a dataclass whose defaults are the paper's setting; a field's comment is its help on the
command line (`negrec_lib.cli.config_flags`). `ExperimentConfig` (`config.experiment`) holds
one of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
