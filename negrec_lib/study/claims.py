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
PAPER_SKIP_GAINS = {"hr@1": 0.2026, "hr@5": 0.0593, "hr@10": 0.0490, "hr@20": 0.0377}
"""Claim 1 of the paper (book/paper.md section 5): relative HR@K gains of the skip loss."""


@dataclass(frozen=True)
class Claim:
    """One comparison and the metrics of its family."""

    key: str
    text: str
    variant: str
    baseline: str
    metrics: tuple[str, ...] = KS
    paper: tuple[str, ...] = ()  # the paper's numbers, for reference (never tested)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "1",
        "the skip loss improves HR@K, most at small K",
        "uni-skip-track",
        "uni-base",
        paper=tuple(f"{100 * PAPER_SKIP_GAINS[k]:+.2f}%" for k in KS),
    ),
    Claim("2", "unidirectional beats bidirectional at every K", "uni-base", "bi-base"),
    Claim(
        "3",
        "the track anchor beats the hidden anchor",
        "uni-skip-track",
        "uni-skip-hidden",
        paper=("slightly better",) * 4,
    ),
    Claim(
        "control: permuted labels",
        "skip labels moved at random within the session",
        "uni-control-permuted",
        "uni-base",
    ),
    Claim(
        "control: kept negatives",
        "negatives drawn from the session's kept tracks",
        "uni-control-kept-negatives",
        "uni-base",
    ),
    Claim(
        "control: reference pairing",
        "negatives from another session (pitfall 1)",
        "uni-skip-reference",
        "uni-base",
    ),
    Claim(
        "labels: true vs permuted",
        "the session's own skip labels against permuted ones",
        "uni-skip-track",
        "uni-control-permuted",
    ),
    Claim(
        "labels: true vs kept negatives",
        "skipped tracks as negatives against kept ones",
        "uni-skip-track",
        "uni-control-kept-negatives",
    ),
    Claim("bi: skip loss", "the skip loss in the bidirectional model", "bi-skip-track", "bi-base"),
    *(
        Claim(
            f"mechanism: {v}",
            "skip MRR (held-out tracks the listener skipped) and unskipped "
            "MRR against the same model without the skip loss",
            v,
            base,
            metrics=("skip_mrr", "unskipped_mrr"),
        )
        for v, base in (
            ("uni-skip-track", "uni-base"),
            ("uni-skip-hidden", "uni-base"),
            ("uni-skip-reference", "uni-base"),
            ("uni-control-permuted", "uni-base"),
            ("uni-control-kept-negatives", "uni-base"),
            ("bi-skip-track", "bi-base"),
        )
    ),
)

PROTOCOLS = {"test_": "full catalogue", "sampled_": "sampled (paper)"}


def variation_covered(runs: pd.DataFrame) -> str:
    """Which sources of variation the pairs of ``runs`` span, in words."""
    data = "data_seed" in runs.columns and runs["data_seed"].nunique() > 1
    return (
        "data, test sessions and training"
        if data
        else "training only (one dataset and one test set)"
    )


def claims_from_baselines(runs: pd.DataFrame, metrics: tuple[str, ...] = KS) -> tuple[Claim, ...]:
    """A claim for every (variant, baseline) pair a grid names in its ``baseline`` column (e.g.
    the skip loss at each level of a sweep), over ``metrics`` and the two MRR mechanism metrics.

    >>> runs = pd.DataFrame({"variant": ["s0-base", "s0-skip"], "baseline": ["", "s0-base"]})
    >>> [(c.key, c.variant, c.baseline) for c in claims_from_baselines(runs)]
    [('s0-skip', 's0-skip', 's0-base')]
    """
    pairs = dict.fromkeys((v, b) for v, b in zip(runs["variant"], runs["baseline"].fillna("")) if b)
    return tuple(
        Claim(v, f"{v} against {b}", v, b, metrics=(*metrics, "skip_mrr", "unskipped_mrr"))
        for v, b in pairs
    )


def verdicts(
    runs: pd.DataFrame, split: str, claims: tuple[Claim, ...] = CLAIMS, seed: int = 0
) -> pd.DataFrame:
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
            table["metric"] = [m[len(prefix) :] for m in table["metric"]]
            paper = dict(zip(claim.metrics, claim.paper))
            table["paper"] = [paper.get(m, "") for m in table["metric"]]
            rows.append(table)
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows, ignore_index=True)
    out["varies"] = variation_covered(runs)
    return out


def _on_claim(verdict: str) -> str:
    """What a verdict means for a claim that the variant is better than its baseline."""
    if verdict == "higher":
        return "holds"
    if verdict == "lower":
        return "contradicted"
    return "not detected"


def claims_table(
    verdicts: pd.DataFrame, claims: tuple[str, ...] = ("1", "2", "3"), metrics: tuple[str, ...] = KS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The claims under every (split, protocol) of ``verdicts`` (rows of ``verdicts.csv``):
    two tables with a row per (claim, metric) and a column per setting, the printed relative
    change with its Fieller interval, and the verdict with its Holm-adjusted p; the paper's
    number stands beside them for reference. Every claim says its variant beats its baseline,
    so a verdict "higher" reads "holds", "lower" reads "contradicted", anything else "not
    detected"."""
    from .compare import format_change, metric_label

    t = verdicts[verdicts["claim"].astype(str).isin(claims) & verdicts["metric"].isin(metrics)]
    t = t.assign(
        setting=[
            f"{s}, {'sampled' if p.startswith('sampled') else 'full'}"
            for s, p in zip(t["split"], t["protocol"])
        ],
        K=[metric_label(m) for m in t["metric"]],
        change=[
            format_change(r, lo, hi) for r, lo, hi in zip(t["rel"], t["rel_low"], t["rel_high"])
        ],
        said=[f"{_on_claim(v)}: {v} (p_Holm {p:.3f})" for v, p in zip(t["verdict"], t["p_holm"])],
    )
    order = {m: i for i, m in enumerate(metrics)}
    t = t.sort_values(["claim", "metric"], key=lambda c: c.map(order) if c.name == "metric" else c)
    changes = t.pivot_table(
        index=["claim", "K"], columns="setting", values="change", aggfunc="first", sort=False
    )
    paper = t.drop_duplicates(["claim", "K"]).set_index(["claim", "K"])["paper"].fillna("")
    changes.insert(0, "paper", paper.reindex(changes.index))
    said = t.pivot_table(
        index=["claim", "K"], columns="setting", values="said", aggfunc="first", sort=False
    )
    return changes, said


# ---------------------------------------------------------------- the comparisons the chapters draw
CLAIM_NAMES = {"1": "1: skip loss", "2": "2: uni vs bi", "3": "3: track vs hidden anchor"}
"""Short names of the paper's claims for figure labels."""
SKIP_PAIRS: tuple[tuple[str, str], ...] = (
    *(
        (v, "uni-base")
        for v in (
            "uni-skip-track",
            "uni-skip-hidden",
            "uni-skip-reference",
            "uni-control-permuted",
            "uni-control-kept-negatives",
        )
    ),
    ("bi-skip-track", "bi-base"),
)
"""Every variant with a skip loss against the model of its direction without one."""
SEED_PAIRS: dict[str, tuple[str, str]] = {
    "claim 1: skip loss, uni": ("uni-skip-track", "uni-base"),
    "skip loss, bi": ("bi-skip-track", "bi-base"),
    "claim 2: uni vs bi": ("uni-base", "bi-base"),
    "claim 3: track vs hidden anchor": ("uni-skip-track", "uni-skip-hidden"),
}
"""The comparisons whose single-run spread chapter 6 shows."""
CONTROL_PAIRS: dict[str, tuple[str, str]] = {
    "skip loss (true labels)": ("uni-skip-track", "uni-base"),
    "permuted labels": ("uni-control-permuted", "uni-base"),
    "kept tracks as negatives": ("uni-control-kept-negatives", "uni-base"),
    "reference pairing": ("uni-skip-reference", "uni-base"),
    "true vs permuted labels": ("uni-skip-track", "uni-control-permuted"),
    "true vs kept negatives": ("uni-skip-track", "uni-control-kept-negatives"),
}
"""The controls of chapter 7: each against no skip loss, and the true loss against each."""
MECHANISM_PAIRS: dict[str, tuple[str, str]] = {
    **{k: v for k, v in CONTROL_PAIRS.items() if v[1] == "uni-base"},
    "skip loss, bidirectional": ("bi-skip-track", "bi-base"),
}
"""Every skip-loss variant against its model without the loss (skip and unskipped MRR)."""
