"""Ranks against the full catalogue, and the metrics computed from ranks.

Every metric derives from one number per example, the 1-based rank of the held-out track.
`target_ranks` ranks it against the whole catalogue (the honest protocol, the paper's 2023
code); ties are broken pessimistically and out-of-vocabulary targets are misses.
`example_values`, `metrics_from_ranks` and `bootstrap_ci` turn ranks into HR, NDCG and MRR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import NegrecError
from ..tokens import N_RESERVED

DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 20)


class EvaluationError(NegrecError, ValueError):
    """The model and the evaluation data do not fit together (vocabulary, protocol, labels).

    Examples
    --------
    >>> issubclass(EvaluationError, NegrecError), issubclass(EvaluationError, ValueError)
    (True, True)
    """


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
