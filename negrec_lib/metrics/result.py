"""Collecting ranks with their labels (`RankAccumulator`) into an `EvalResult`.

An `EvalResult` holds the overall metrics, the tables by context and by position, and the ranks
of every example; every evaluation (the encoder's, the baselines', the oracle's) returns one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from ..data.schema import CONTEXT_TYPES
from .ranking import DEFAULT_KS, bootstrap_ci, example_values, metrics_from_ranks

GROUP_KEYS: tuple[str, ...] = ("context", "position", "target_skipped")


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
    >>> import torch
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


@dataclass
class EvalResult:
    """The outcome of `evaluate`: overall metrics, breakdown tables and per-example ranks.

    Examples
    --------
    >>> import torch
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
