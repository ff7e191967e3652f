"""The paper's claims as families of paired comparisons, and the verdicts table.

A claim is a comparison (variant against baseline) over a family of metrics, e.g. claim 1 is the
track-anchor skip loss against the same model without it at HR@1, 5, 10 and 20. `verdicts`
evaluates every claim of `CLAIMS` (and the study's controls) on a results table under both
protocols (``test_``: full catalogue; ``sampled_``: the paper's sampled protocol) with
`negrec_lib.study.stats.compare_variants`, Holm-adjusting within each (claim, protocol) family,
and says for every row which sources of variation its interval covers.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .stats import compare_variants

KS = ("hr@1", "hr@5", "hr@10", "hr@20")


@dataclass(frozen=True)
class Claim:
    """One comparison and the metrics of its family."""

    key: str
    text: str
    variant: str
    baseline: str
    metrics: tuple[str, ...] = KS
    paper: tuple[str, ...] = ()          # the paper's numbers, for reference (never tested)


CLAIMS: tuple[Claim, ...] = (
    Claim("1", "the skip loss improves HR@K, most at small K", "uni-skip-track", "uni-base",
          paper=("+20.26%", "+5.93%", "+4.90%", "+3.77%")),
    Claim("2", "unidirectional beats bidirectional at every K", "uni-base", "bi-base"),
    Claim("3", "the track anchor beats the hidden anchor", "uni-skip-track", "uni-skip-hidden",
          paper=("slightly better",) * 4),
    Claim("control: permuted labels", "skip labels moved at random within the session",
          "uni-control-permuted", "uni-base"),
    Claim("control: kept negatives", "negatives drawn from the session's kept tracks",
          "uni-control-kept-negatives", "uni-base"),
    Claim("control: reference pairing", "negatives from another session (pitfall 1)",
          "uni-skip-reference", "uni-base"),
    Claim("mechanism", "skip MRR and unskipped MRR under the skip loss", "uni-skip-track",
          "uni-base", metrics=("skip_mrr", "unskipped_mrr")),
)

PROTOCOLS = {"test_": "full catalogue", "sampled_": "sampled (paper)"}


def variation_covered(runs: pd.DataFrame) -> str:
    """Which sources of variation the pairs of ``runs`` span, in words."""
    data = "data_seed" in runs.columns and runs["data_seed"].nunique() > 1
    return ("data, test sessions and training" if data
            else "training only (one dataset and one test set)")


def verdicts(runs: pd.DataFrame, split: str, claims: tuple[Claim, ...] = CLAIMS,
             seed: int = 0) -> pd.DataFrame:
    """One row per (claim, protocol, metric) that ``runs`` can answer (both variants present).

    Columns: claim, statement, split, protocol, metric, variant, baseline, n (pairs), diff with
    t and bootstrap intervals, rel (relative change) with Fieller and bootstrap intervals, p,
    p_holm (within the claim's family under one protocol), verdict, paper (for reference) and
    varies (what the interval covers).
    """
    have = set(runs["variant"])
    rows = []
    for claim in claims:
        if claim.variant not in have or claim.baseline not in have:
            continue
        for prefix, protocol in PROTOCOLS.items():
            metrics = [prefix + m for m in claim.metrics if prefix + m in runs.columns]
            if not metrics:
                continue
            table = compare_variants(runs, claim.variant, claim.baseline, metrics, seed=seed)
            table.insert(0, "claim", claim.key)
            table.insert(1, "statement", claim.text)
            table.insert(2, "split", split)
            table.insert(3, "protocol", protocol)
            table["metric"] = [m[len(prefix):] for m in table["metric"]]
            paper = dict(zip(claim.metrics, claim.paper))
            table["paper"] = [paper.get(m, "") for m in table["metric"]]
            rows.append(table)
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows, ignore_index=True)
    out["varies"] = variation_covered(runs)
    return out
