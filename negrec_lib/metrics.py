"""Ranking metrics for next-track prediction: the full catalogue, and the paper's sampled protocol.

Every metric derives from one number per example, the 1-based rank of the held-out track.
`target_ranks` ranks it against the whole catalogue (the honest protocol, the paper's 2023
code); `sampled_target_ranks` ranks it against the batch's targets plus random tracks (the
2024 code, book/paper.md pitfall 5). Ties are broken pessimistically and out-of-vocabulary targets
are misses, so no number here is ever better than what the model really does.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .data.schema import CONTEXT_TYPES
from .errors import NegrecError
from .tokens import N_RESERVED

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)
GROUP_KEYS: tuple[str, ...] = ("context", "position", "target_skipped")


class EvaluationError(NegrecError, ValueError):
    """The model and the evaluation data do not fit together (vocabulary, protocol, labels).

    Examples
    --------
    >>> issubclass(EvaluationError, NegrecError), issubclass(EvaluationError, ValueError)
    (True, True)
    """


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

    def next_track_hidden(self, tracks: Tensor, lengths: Tensor) -> Tensor: ...
    def score(self, hidden: Tensor, candidates: Tensor | None = None) -> Tensor: ...
    def eval(self) -> Any: ...
    def train(self, mode: bool = True) -> Any: ...


# --------------------------------------------------------------------------- ranks
SAMPLED_RANDOM = 1000
"""Random tracks the sampled protocol adds to the evaluation batch's targets (the paper's rerun)."""


def _rank_in_columns(
    scores: Tensor,
    target_col: Tensor,
    valid: Tensor,
    blocked: Tensor | None,
    miss_rank: int,
    n_leading_blocked: int = 0,
) -> Tensor:
    """Pessimistic 1-based rank of column `target_col` per row, ignoring blocked cells."""
    rows = torch.arange(scores.shape[0], device=scores.device)
    col = torch.where(valid, target_col, torch.zeros_like(target_col))
    t = scores[rows, col]  # [N] the target's score
    # not (s < t) is s >= t, and also true when s or t is NaN: a NaN competitor counts as above.
    above = (scores < t[:, None]).logical_not_()  # [N, C], in place: one [N, C] buffer
    above[:, :n_leading_blocked] = False  # reserved ids are never ranked
    if blocked is not None:
        above.masked_fill_(blocked, False)
    above[rows, col] = False  # the target never competes with itself
    ranks = 1 + above.sum(dim=1)  # [N]
    miss = ~valid | torch.isnan(t)
    return torch.where(miss, torch.full_like(ranks, miss_rank), ranks)


def _check_targets(targets: Tensor, n_rows: int, vocab_size: int) -> Tensor:
    """Validate targets and return the mask of rankable ones (non-reserved ids)."""
    if targets.dim() != 1 or targets.shape[0] != n_rows:
        raise ValueError(f"targets must have shape [{n_rows}], got {tuple(targets.shape)}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= vocab_size):
        raise ValueError(
            f"target ids must lie in [0, {vocab_size}); got "
            f"[{int(targets.min())}, {int(targets.max())}]"
        )
    return targets >= N_RESERVED


def target_ranks(scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
    """1-based rank of each target among all non-reserved tracks (full-catalogue protocol).

    Parameters
    ----------
    scores : [N, V] scores over the whole vocabulary, reserved ids included.
    targets : [N] long, the held-out track ids.
    exclude : optional [N, V] bool, items removed from the ranking (e.g. tracks already in the
        session). The target itself is never excluded.

    Returns
    -------
    [N] long. rank = 1 + #other ranked items scoring >= the target. Ties are broken
    pessimistically: an item tied with the target is counted above it, so a model that gives
    every item the same score ranks last instead of first, and no tie can overstate a metric.
    Reserved ids (< N_RESERVED) are never ranked. A target that is itself reserved (OOV_ID,
    PAD) or has a NaN score gets rank V + 1, a miss at every K: the model cannot recommend a
    track outside its vocabulary. Other NaN scores count as above the target. Costs O(N V),
    one comparison per item, with no sort.

    Examples
    --------
    >>> scores = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.9, 0.1]])  # ids 0-2 reserved
    >>> target_ranks(scores, torch.tensor([3])).tolist()  # track 4 scores higher
    [2]
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape [N, V], got {tuple(scores.shape)}")
    n, v = scores.shape
    valid = _check_targets(targets, n, v)
    blocked = None
    if exclude is not None:
        if exclude.shape != scores.shape:
            raise ValueError(
                f"exclude must have shape {tuple(scores.shape)}, got {tuple(exclude.shape)}"
            )
        blocked = exclude.to(device=scores.device, dtype=torch.bool)  # [N, V]
    return _rank_in_columns(
        scores,
        targets.to(scores.device),
        valid.to(scores.device),
        blocked,
        miss_rank=v + 1,
        n_leading_blocked=N_RESERVED,
    )


def sample_candidates(
    targets: Tensor,
    vocab_size: int,
    n_random: int = SAMPLED_RANDOM,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The sampled protocol's candidates: unique valid targets + `n_random` uniform draws.

    The draws are `torch.randint(N_RESERVED, vocab_size, (n_random,), generator=generator)` on
    the CPU (so a seed gives the same candidates on every device), with replacement; the result
    is sorted, unique, on the device of `targets`, and never holds a reserved id.

    Examples
    --------
    >>> c = sample_candidates(torch.tensor([3, 5, 5]), vocab_size=50, n_random=4,
    ...                       generator=torch.Generator().manual_seed(0))
    >>> c[:2].tolist(), len(c)  # the unique targets first, then the random tracks
    ([3, 5], 6)
    """
    if vocab_size <= N_RESERVED:
        raise ValueError(f"vocab_size must exceed {N_RESERVED}, got {vocab_size}")
    draws = torch.randint(N_RESERVED, vocab_size, (n_random,), generator=generator)  # [n_random]
    kept = targets[targets >= N_RESERVED]
    return torch.unique(torch.cat([kept, draws.to(targets.device)]), sorted=True)  # [C]


def sampled_target_ranks(
    scores: Tensor | Callable[[Tensor], Tensor],
    targets: Tensor,
    vocab_size: int | None = None,
    n_random: int = SAMPLED_RANDOM,
    generator: torch.Generator | None = None,
    exclude: Tensor | None = None,
    candidates: Tensor | None = None,
) -> Tensor:
    """1-based rank of each target among the batch's targets plus random tracks (sampled protocol).

    The paper's 2024 evaluation (book/paper.md pitfall 5): the candidates are the unique targets of
    the evaluation batch plus `n_random` tracks drawn uniformly from the non-reserved ids
    (`sample_candidates`); each row ranks its own target against every other candidate, with
    pessimistic ties as in `target_ranks`. Numbers from this protocol are inflated (about
    n_random + batch_size candidates instead of the whole catalogue) and depend on the batch
    size and on which sessions share a batch, because the other rows' targets, often popular
    tracks, are the hardest negatives. A rank here is never worse than the full-catalogue rank.
    Report it only beside `target_ranks`, for comparison with the paper.

    Parameters
    ----------
    scores : either [N, V] full scores (columns are then selected), or a callable mapping
        candidates [C] to scores [N, C] (e.g. `lambda c: model.score(hidden, c)`).
    targets : [N] long; reserved targets (OOV) get rank V + 1, a miss, as in `target_ranks`
        (not C + 1, which a small candidate set could turn into a hit at large K).
    vocab_size : V; required when `scores` is a callable.
    exclude : optional [N, V] bool, items removed from the ranking; never the target.
    candidates : optional [C] sorted unique ids to use instead of drawing them; must hold every
        valid target.

    Examples
    --------
    >>> scores = torch.arange(10.0).repeat(2, 1)  # [B=2, V=10]: a higher id scores higher
    >>> candidates = torch.tensor([4, 8, 5])  # the batch's targets 4 and 8, one random track 5
    >>> sampled_target_ranks(scores, torch.tensor([4, 8]), candidates=candidates).tolist()
    [3, 1]
    """
    if isinstance(scores, Tensor):
        vocab_size = scores.shape[1] if vocab_size is None else vocab_size
        if scores.dim() != 2 or scores.shape[1] != vocab_size:
            raise ValueError(f"scores must have shape [N, {vocab_size}], got {tuple(scores.shape)}")
    elif vocab_size is None:
        raise ValueError("vocab_size is required when scores is a callable")
    valid = _check_targets(targets, targets.shape[0], vocab_size)
    if candidates is None:
        candidates = sample_candidates(targets, vocab_size, n_random, generator)
    if isinstance(scores, Tensor):
        cand_scores = scores[:, candidates.to(scores.device)]  # [N, C]
    else:
        cand_scores = scores(candidates)  # [N, C]
    dev = cand_scores.device
    candidates, targets, valid = candidates.to(dev), targets.to(dev), valid.to(dev)
    if candidates.numel() == 0:  # only possible with n_random=0
        if bool(valid.any()):
            raise ValueError("candidates must contain every non-reserved target")
        return torch.full_like(targets, vocab_size + 1)
    col = torch.searchsorted(candidates, targets).clamp(max=candidates.numel() - 1)  # [N]
    if bool((valid & (candidates[col] != targets)).any()):
        raise ValueError("candidates must contain every non-reserved target")
    blocked = None
    if exclude is not None:
        blocked = exclude.to(device=dev, dtype=torch.bool)[:, candidates]  # [N, C]
    return _rank_in_columns(cand_scores, col, valid, blocked, miss_rank=vocab_size + 1)


# --------------------------------------------------------------------------- metrics
def example_values(ranks: Tensor | np.ndarray, metric: str) -> np.ndarray:
    """Per-example value of `metric` ("hr@k", "ndcg@k", "mrr@k" or "mrr") from 1-based ranks.

    Examples
    --------
    >>> example_values(np.array([1, 3, 20]), "hr@10").tolist()
    [1.0, 1.0, 0.0]
    >>> example_values(np.array([1, 4]), "mrr").tolist()
    [1.0, 0.25]
    """
    r = np.asarray(ranks.cpu() if isinstance(ranks, Tensor) else ranks, dtype=np.float64)
    name, _, k_text = metric.partition("@")
    k = math.inf if not k_text else int(k_text)
    hit = r <= k
    if name == "hr" and k_text:
        return hit.astype(np.float64)
    if name == "ndcg" and k_text:
        return np.where(hit, 1.0 / np.log2(r + 1.0), 0.0)
    if name == "mrr":
        return np.where(hit, 1.0 / r, 0.0)
    raise ValueError(f"unknown metric {metric!r}; use hr@k, ndcg@k, mrr@k or mrr")


def metrics_from_ranks(
    ranks: Tensor | np.ndarray, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k for each k, full MRR and n, from 1-based ranks (NaN when n = 0).

    Examples
    --------
    >>> m = metrics_from_ranks(np.array([1, 2, 20]), ks=(1, 10))
    >>> round(m["hr@1"], 4), round(m["hr@10"], 4), m["n"]
    (0.3333, 0.6667, 3)
    """
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {tuple(ks)}")
    r = np.asarray(ranks.cpu() if isinstance(ranks, Tensor) else ranks, dtype=np.float64)
    out: dict[str, float] = {"n": int(r.size)}
    names = [f"{m}@{k}" for m in ("hr", "ndcg", "mrr") for k in ks] + ["mrr"]
    for name in names:
        out[name] = float(example_values(r, name).mean()) if r.size else float("nan")
    return out


def bootstrap_ci(
    values: Tensor | np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval for the mean of per-example `values`.

    Examples
    --------
    >>> bootstrap_ci(np.ones(50))  # no spread, no width
    (1.0, 1.0)
    >>> lo, hi = bootstrap_ci(np.r_[np.zeros(50), np.ones(50)])
    >>> lo < 0.5 < hi
    True
    """
    v = np.asarray(values.cpu() if isinstance(values, Tensor) else values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for b in range(n_boot):  # one resample at a time: O(n) memory
        means[b] = v[rng.integers(0, v.size, v.size)].mean()
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


# --------------------------------------------------------------------------- accumulation
def _as_numpy(
    x: Tensor | np.ndarray | Sequence[Any] | None, n: int | None = None, fill: int = -1
) -> np.ndarray:
    """Labels as a flat int64 array of length n; `fill` marks a missing label."""
    if x is None:
        return np.full(n or 0, fill, dtype=np.int64)
    a = np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x).astype(np.int64).reshape(-1)
    if n is not None and a.size != n:
        raise ValueError(f"expected {n} labels, got {a.size}")
    return a


class RankAccumulator:
    """Collects ranks batch by batch, with group labels, and turns them into metrics and tables.

    Labels per example: `context` (index into schema.CONTEXT_TYPES), `position` (1-based session
    position of the target), `target_skipped` (the listener skipped the held-out track) and
    `rows` (an id to pair examples across models). A label not given is stored as -1.

    Examples
    --------
    >>> acc = RankAccumulator(ks=(1, 10))
    >>> acc.add(torch.tensor([1, 5]), context=torch.tensor([0, 1]))
    >>> acc.add(torch.tensor([30]), context=torch.tensor([1]))
    >>> round(acc.metrics()["hr@10"], 4), len(acc.examples())
    (0.6667, 3)
    """

    def __init__(self, ks: Sequence[int] = DEFAULT_KS) -> None:
        self.ks = tuple(int(k) for k in ks)
        self._parts: list[dict[str, np.ndarray]] = []

    def add(
        self,
        ranks: Tensor | np.ndarray,
        context: Any = None,
        position: Any = None,
        target_skipped: Any = None,
        rows: Any = None,
    ) -> None:
        """Append one batch of ranks [B] and their labels [B]."""
        r = _as_numpy(ranks)
        self._parts.append(
            {
                "rank": r,
                "context": _as_numpy(context, r.size),
                "position": _as_numpy(position, r.size),
                "target_skipped": _as_numpy(target_skipped, r.size),
                "row": _as_numpy(rows, r.size),
            }
        )

    def examples(self) -> pd.DataFrame:
        """One row per example: rank, context, position, target_skipped (-1 = unknown), row."""
        cols = ("row", "rank", "context", "position", "target_skipped")
        if not self._parts:
            return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in cols})
        return pd.DataFrame({c: np.concatenate([p[c] for p in self._parts]) for c in cols})

    @property
    def ranks(self) -> np.ndarray:
        """All ranks collected so far, in order of arrival."""
        if not self._parts:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([p["rank"] for p in self._parts])

    def _summary(self, ex: pd.DataFrame) -> dict[str, float]:
        """Overall metrics of a set of examples, with skip MRR and unskipped MRR."""
        out = metrics_from_ranks(ex["rank"].to_numpy(), self.ks)
        skipped = ex["rank"][ex["target_skipped"] == 1].to_numpy()
        played = ex["rank"][ex["target_skipped"] == 0].to_numpy()
        out["n_skipped"] = int(skipped.size)
        out["skip_mrr"] = metrics_from_ranks(skipped, ks=())["mrr"]
        out["unskipped_mrr"] = metrics_from_ranks(played, ks=())["mrr"]
        return out

    def metrics(self) -> dict[str, float]:
        """Overall metrics, plus `skip_mrr` (MRR of skipped targets) and `unskipped_mrr`.

        `skip_mrr` is the paper's skip MRR: how high the model ranks the held-out tracks the
        listener went on to skip; lower is better. Read it beside `unskipped_mrr`: a model
        that predicts the next track better raises both, so the gap between them, not
        `skip_mrr` alone, shows whether the model has learnt to avoid what listeners skip.
        """
        return self._summary(self.examples())

    def by_group(self, key: str) -> pd.DataFrame:
        """Metrics per group ("context", "position" or "target_skipped"), with n per group."""
        if key not in GROUP_KEYS:
            raise ValueError(f"key must be one of {GROUP_KEYS}, got {key!r}")
        ex = self.examples()
        ex = ex[ex[key] >= 0]
        rows = {int(g): self._summary(part) for g, part in ex.groupby(key, sort=True)}
        table = pd.DataFrame.from_dict(rows, orient="index")
        if key == "context":
            table.index = [
                CONTEXT_TYPES[g] if g < len(CONTEXT_TYPES) else f"code_{g}" for g in table.index
            ]
        table.index.name = key
        return table

    def result(
        self, protocol: str = "full", split: str = "test", extra: dict[str, float] | None = None
    ) -> EvalResult:
        """Everything collected, as the `EvalResult` every evaluation returns.

        Parameters
        ----------
        protocol : str
            ``"full"`` (ranked against the whole catalogue) or ``"sampled"``.
        split : str
            The evaluated split (``"valid"`` or ``"test"``).
        extra : dict, optional
            Metrics appended to the overall ones (e.g. the oracle's ``oracle_approx``).

        Returns
        -------
        EvalResult
            Overall metrics, the tables by context and by position, ranks and examples.

        Examples
        --------
        >>> acc = RankAccumulator(ks=(1,))
        >>> acc.add(np.array([1, 3]), context=np.array([0, 0]))
        >>> res = acc.result(split="valid")
        >>> res.metrics["hr@1"], res.metrics["mrr"], res.split
        (0.5, 0.6666666666666666, 'valid')
        """
        return EvalResult(
            metrics={**self.metrics(), **(extra or {})},
            by_context=self.by_group("context"),
            by_position=self.by_group("position"),
            ranks=self.ranks,
            examples=self.examples(),
            protocol=protocol,
            split=split,
        )


# --------------------------------------------------------------------------- evaluate
@dataclass
class EvalResult:
    """The outcome of `evaluate`: overall metrics, breakdown tables and per-example ranks.

    Examples
    --------
    >>> acc = RankAccumulator(ks=(10,))
    >>> acc.add(torch.tensor([1, 2, 50, 3]))
    >>> res = acc.result("full", "test")
    >>> res.metrics["hr@10"], res.to_dict()["protocol"]
    (0.75, 'full')
    >>> lo, hi = res.ci("hr@10")
    >>> lo <= 0.75 <= hi
    True
    """

    metrics: dict[str, float]
    by_context: pd.DataFrame
    by_position: pd.DataFrame
    ranks: np.ndarray
    examples: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    protocol: str = "full"
    split: str = "test"

    def ci(
        self, metric: str = "hr@10", n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
    ) -> tuple[float, float]:
        """Bootstrap confidence interval of one overall metric over the evaluated examples."""
        return bootstrap_ci(example_values(self.ranks, metric), n_boot, alpha, seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: protocol, split, metrics and both breakdown tables (no ranks)."""

        def table(df: pd.DataFrame) -> list[dict[str, Any]]:
            return _json_safe(df.reset_index().to_dict(orient="records"))

        return {
            "protocol": self.protocol,
            "split": self.split,
            "metrics": _json_safe(self.metrics),
            "by_context": table(self.by_context),
            "by_position": table(self.by_position),
        }


def _json_safe(x: Any) -> Any:
    """Numpy scalars to Python numbers and NaN to None, recursively."""
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


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


def _seen_mask(tracks: Tensor, lengths: Tensor, vocab_size: int) -> Tensor:
    """[B, V] bool: True where the track appears in the row's input prefix."""
    b, length = tracks.shape
    inside = torch.arange(length, device=tracks.device)[None, :] < lengths[:, None]  # [B, L]
    ids = torch.where(inside, tracks, torch.zeros_like(tracks)).clamp(0, vocab_size - 1)
    seen = torch.zeros(b, vocab_size, dtype=torch.bool, device=tracks.device)
    return seen.scatter_(1, ids, True)  # column 0 (PAD) is reserved anyway


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
    draws per batch). The full protocol holds about batch_size * V * 5 bytes at once.

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
                exclude = _seen_mask(tracks, lengths, vocab_size) if exclude_seen else None
                with _no_autocast(dev):
                    hidden = hidden.float()
                    if protocol == "full" or not checked:  # vocabulary check once
                        scores = model.score(hidden if protocol == "full" else hidden[:1]).float()
                        if scores.shape[1] != vocab_size:
                            raise EvaluationError(
                                f"the model scores {scores.shape[1]} ids but the data has "
                                f"vocab_size {vocab_size}: was it trained on another dataset?"
                            )
                        checked = True
                    if protocol == "full":
                        ranks = target_ranks(scores, targets, exclude)  # [B]
                    else:

                        def score_candidates(c: Tensor, h: Tensor = hidden) -> Tensor:
                            return model.score(h, c).float()  # [B, C]

                        ranks = sampled_target_ranks(
                            score_candidates,
                            targets,
                            vocab_size,
                            n_random,
                            generator,
                            exclude,
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
