"""Ranking metrics for next-track prediction: the full catalogue, and the paper's sampled protocol.

Every metric derives from one number per example, the 1-based rank of the held-out track.
`target_ranks` ranks it against the whole catalogue (the honest protocol, the paper's 2023
code), and `table_target_ranks` the same ranks chunk by chunk from a model's track table;
`sampled_target_ranks` ranks it against the batch's targets plus random tracks (the 2024 code,
book/paper.md pitfall 5). Ties are broken pessimistically and out-of-vocabulary targets
are misses, so no number here is ever better than what the model really does.

The package, one idea a module: full-catalogue ranks and the metrics from ranks (`ranking`),
the same ranks a block of columns at a time (`chunked`), the sampled protocol (`sampled`),
collecting ranks into an `EvalResult` (`result`), and `evaluate` (`evaluation`). Every public
name is importable from here.
"""

from __future__ import annotations

from .chunked import table_target_ranks
from .evaluation import Scorer, evaluate
from .ranking import (
    DEFAULT_KS,
    EvaluationError,
    bootstrap_ci,
    example_values,
    metrics_from_ranks,
    target_ranks,
)
from .result import GROUP_KEYS, EvalResult, RankAccumulator
from .sampled import SAMPLED_RANDOM, sample_candidates, sampled_target_ranks

__all__ = [
    "DEFAULT_KS",
    "GROUP_KEYS",
    "SAMPLED_RANDOM",
    "EvalResult",
    "EvaluationError",
    "RankAccumulator",
    "Scorer",
    "bootstrap_ci",
    "evaluate",
    "example_values",
    "metrics_from_ranks",
    "sample_candidates",
    "sampled_target_ranks",
    "table_target_ranks",
    "target_ranks",
]
