"""`evaluate`: a model on a split, full-catalogue or sampled, into an `EvalResult`.

Scores are computed in float32 with the model in eval mode; the tracks of the input prefix can be
excluded from the ranking (``exclude_seen``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from ..tokens import PAD_ID
from .chunked import table_target_ranks
from .ranking import DEFAULT_KS, EvaluationError, target_ranks
from .result import EvalResult, RankAccumulator
from .sampled import SAMPLED_RANDOM, sampled_target_ranks


class Scorer(Protocol):
    """What `evaluate` needs from a model (see `negrec_lib.model`).

    Examples
    --------
    >>> from negrec_lib.config import ModelConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> scorer: Scorer = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8), 10)
    >>> scorer.score(torch.zeros(1, 8)).shape  # [B, V]
    torch.Size([1, 10])
    """

    training: bool
    # optional: ``dot_table() -> [V, D]`` where score(h) is h @ dot_table().T (the encoders);
    # the full protocol then ranks chunk by chunk (`table_target_ranks`) without [N, V] scores

    def next_track_hidden(self, tracks: Tensor, lengths: Tensor) -> Tensor: ...
    def score(self, hidden: Tensor, candidates: Tensor | None = None) -> Tensor: ...
    def eval(self) -> Any: ...
    def train(self, mode: bool = True) -> Any: ...


def _model_device(model: Any) -> torch.device:
    """The device of the model's first parameter or buffer (CPU when it has none)."""
    for tensor in (*getattr(model, "parameters", list)(), *getattr(model, "buffers", list)()):
        return tensor.device
    return torch.device("cpu")


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """A context that switches autocast off on `device`, so scores are computed in float32."""
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type without autocast
        return contextlib.nullcontext()


def _check_vocab(n_scored: int, vocab_size: int) -> None:
    if n_scored != vocab_size:
        raise EvaluationError(
            f"the model scores {n_scored} ids but the data has vocab_size {vocab_size}: "
            "was it trained on another dataset?"
        )


def _prefix_ids(tracks: Tensor, lengths: Tensor) -> Tensor:
    """[B, L] the tracks of each row's input prefix, PAD (a reserved id) beyond its length."""
    inside = torch.arange(tracks.shape[1], device=tracks.device)[None, :] < lengths[:, None]
    return torch.where(inside, tracks, torch.full_like(tracks, PAD_ID))


def _seen_mask(tracks: Tensor, lengths: Tensor, vocab_size: int) -> Tensor:
    """[B, V] bool: True where the track appears in the row's input prefix."""
    ids = _prefix_ids(tracks, lengths).clamp(0, vocab_size - 1)
    seen = torch.zeros(tracks.shape[0], vocab_size, dtype=torch.bool, device=tracks.device)
    return seen.scatter_(1, ids, True)  # column PAD is reserved anyway


def evaluate(
    model: Scorer,
    data: Any,
    split: str = "test",
    ks: Sequence[int] = DEFAULT_KS,
    protocol: str = "full",
    batch_size: int = 1024,
    exclude_seen: bool = False,
    n_random: int = SAMPLED_RANDOM,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> EvalResult:
    """Rank every target of `split` and summarise (full catalogue unless protocol="sampled").

    Runs under `torch.no_grad()` with the model in eval mode (its previous mode is restored),
    batch by batch on `device` (default: the model's). Hidden states follow any autocast the
    caller set; scores are computed with autocast off and compared in float32, since bf16
    scores would create ties that pessimistic ranking turns into misses. `exclude_seen` removes
    the tracks of the input prefix from the ranking (never the target). Full-protocol metrics
    do not depend on batch_size; sampled ones do (one generator seeded with `seed`, fresh
    draws per batch). For a model with ``dot_table()`` (the encoders) the full protocol ranks
    with `table_target_ranks`, a block of columns at a time (no [batch_size, V] matrix); for
    any other `Scorer` it holds about batch_size * V * 5 bytes at once.

    Examples
    --------
    >>> import tempfile
    >>> from negrec_lib.config import DataConfig, ModelConfig, SimConfig
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> from negrec_lib.data.sessions import SessionData
    >>> from negrec_lib.model import SessionEncoder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> sim = SimConfig(sessions=100, tracks=50, days=2)
    >>> data = SessionData.load(ensure_dataset(sim, DataConfig(), tmp.name, progress=False))
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8), data.vocab_size)
    >>> res = evaluate(model, data, "test")  # an untrained model: about chance
    >>> res.metrics["n"] == data.n_examples("test"), 0.0 <= res.metrics["hr@10"] <= 1.0
    (True, True)
    >>> tmp.cleanup()
    """
    if protocol not in ("full", "sampled"):
        raise EvaluationError(f"protocol must be 'full' or 'sampled', got {protocol!r}")
    dev = torch.device(device) if device is not None else _model_device(model)
    vocab_size = int(data.vocab_size)
    generator = torch.Generator().manual_seed(seed)
    acc = RankAccumulator(ks)
    batches: Iterable[Any] = data.eval_batches(split, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"evaluate {split} ({protocol})", leave=False)
    was_training, checked = model.training, False
    table = None  # [V, D]: the encoders' scores are dot products with it (fixed while evaluating)
    if protocol == "full" and hasattr(model, "dot_table"):
        with torch.no_grad():
            table = model.dot_table()
        _check_vocab(table.shape[0], vocab_size)
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                tracks, lengths = batch.tracks.to(dev), batch.lengths.to(dev)  # [B, L], [B]
                targets = batch.targets.to(dev)  # [B]
                # a baseline that skips the example's own session takes the rows too
                if getattr(model, "needs_rows", False):
                    with_rows: Any = model
                    hidden = with_rows.next_track_hidden(tracks, lengths, rows=batch.rows)  # [B, d]
                else:
                    hidden = model.next_track_hidden(tracks, lengths)  # [B, d]
                with _no_autocast(dev):
                    hidden = hidden.float()
                    if table is not None:
                        seen = _prefix_ids(tracks, lengths) if exclude_seen else None
                        ranks = table_target_ranks(hidden, table, targets, seen)  # [B]
                    else:
                        exclude = _seen_mask(tracks, lengths, vocab_size) if exclude_seen else None
                        if protocol == "full" or not checked:  # vocabulary check once
                            h = hidden if protocol == "full" else hidden[:1]
                            scores = model.score(h).float()  # [B, V]
                            _check_vocab(scores.shape[1], vocab_size)
                            checked = True
                        if protocol == "full":
                            ranks = target_ranks(scores, targets, exclude)  # [B]
                        else:

                            def score_candidates(c: Tensor, h: Tensor = hidden) -> Tensor:
                                return model.score(h, c).float()  # [B, C]

                            ranks = sampled_target_ranks(
                                score_candidates, targets, vocab_size, n_random, generator, exclude
                            )
                acc.add(
                    ranks,
                    getattr(batch, "context", None),
                    getattr(batch, "position", None),
                    getattr(batch, "target_skipped", None),
                    getattr(batch, "rows", None),
                )
    finally:
        model.train(was_training)
    return acc.result(protocol, split)
