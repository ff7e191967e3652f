"""Comparisons of variants on a grid's runs: paired changes, protocols, single-seed spreads, sweeps.

Every comparison pairs the runs of two variants that share their dataset and training seed
(``data_seed`` and ``seed``), and reports it with `negrec_lib.study.stats.paired_comparison`: the
mean paired difference with t and bootstrap intervals, and the relative change mean(variant) /
mean(baseline) - 1 with Fieller's interval, which carries the baseline's own uncertainty. The
columns ``rel``, ``rel_low`` and ``rel_high`` are fractions; ``change [95% CI]`` is the printed
form (`format_change`).

>>> import pandas as pd
>>> runs = pd.DataFrame({"variant": ["b"] * 3 + ["a"] * 3, "seed": [0, 1, 2] * 2,
...                      "data_seed": [7, 8, 9] * 2,
...                      "test_hr@1": [0.10, 0.11, 0.12, 0.12, 0.12, 0.14]})
>>> comparisons(runs, [("a", "b")], ["hr@1"])[["n", "change [95% CI]"]].to_dict("records")
[{'n': 3, 'change [95% CI]': '+15.2% [+2.1, +29.8]'}]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from .stats import paired_comparison

__all__ = [
    "KS",
    "PROTOCOLS",
    "column",
    "metric_label",
    "format_change",
    "comparisons",
    "labelled_comparisons",
    "protocol_table",
    "rank_agreement",
    "seed_pairings",
    "override_values",
    "sweep_table",
]

KS = (1, 5, 10, 20)
PROTOCOLS = {"full": "test_", "sampled": "sampled_"}
"""Evaluation protocol -> column prefix: the full catalogue, or the batch targets + 1000 random."""
PAIR_ON = ("data_seed", "seed")


def column(metric: str, protocol: str = "full") -> str:
    """The results column of a metric under a protocol.

    >>> column("hr@10", "sampled")
    'sampled_hr@10'
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    return PROTOCOLS[protocol] + metric


def metric_label(metric: str) -> str:
    """A metric's printed name (tables and axis labels use this one function).

    >>> metric_label("ndcg@10"), metric_label("skip_mrr")
    ('NDCG@10', 'skip MRR')
    """
    m = metric.removeprefix("test_").removeprefix("sampled_").removeprefix("valid_")
    names = {
        "mrr": "MRR",
        "skip_mrr": "skip MRR",
        "unskipped_mrr": "unskipped MRR",
        "loss": "training loss",
    }
    if m in names:
        return names[m]
    name, _, k = m.partition("@")
    return f"{name.upper()}@{k}" if k else name


def format_change(rel: float, lo: float, hi: float) -> str:
    """A relative change and its interval in percent (an unbounded Fieller set says so).

    >>> format_change(0.205, 0.142, 0.267)
    '+20.5% [+14.2, +26.7]'
    >>> format_change(0.3, float("-inf"), float("inf"))
    '+30.0% [unbounded]'
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return (
            f"{100 * rel:+.1f}% [unbounded]"
            if not (np.isnan(lo) or np.isnan(hi))
            else f"{100 * rel:+.1f}%"
        )
    return f"{100 * rel:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _pairs(df: pd.DataFrame, variant: str, baseline: str, col: str) -> pd.DataFrame:
    keys = [k for k in PAIR_ON if k in df.columns]
    a = df.loc[df["variant"] == variant, keys + [col]]
    b = df.loc[df["variant"] == baseline, keys + [col]]
    return a.merge(b, on=keys, suffixes=("", "_base"))


def comparisons(
    df: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS),
    protocol: str = "full",
) -> pd.DataFrame:
    """Each (variant, baseline) pair on each metric, runs paired by dataset and seed.

    Long format: variant, baseline, metric, protocol, n, variant_mean, baseline_mean, then the
    columns of `paired_comparison` (diff, diff_t_low/high, diff_boot_low/high, rel, rel_low/high,
    rel_boot_low/high, p) and ``change [95% CI]``. p-values here are per comparison, unadjusted;
    the claims' Holm-adjusted verdicts are in ``results/verdicts.csv``.
    """
    rows = []
    for variant, baseline in pairs:
        for m in metrics:
            col = column(m, protocol)
            pair = _pairs(df, variant, baseline, col)
            res = paired_comparison(pair[col], pair[f"{col}_base"])
            rows.append(
                {
                    "variant": variant,
                    "baseline": baseline,
                    "metric": m,
                    "protocol": protocol,
                    "variant_mean": float(pair[col].mean()),
                    "baseline_mean": float(pair[f"{col}_base"].mean()),
                    **res,
                    "change [95% CI]": format_change(res["rel"], res["rel_low"], res["rel_high"]),
                }
            )
    return pd.DataFrame(rows)


def labelled_comparisons(
    df: pd.DataFrame,
    pairs: Mapping[str, tuple[str, str]],
    metrics: Sequence[str],
    protocol: str = "full",
) -> pd.DataFrame:
    """`comparisons` of named pairs, with ``label`` (the name) and ``series`` (the metric)."""
    comp = comparisons(df, list(pairs.values()), metrics, protocol)
    names = {pair: name for name, pair in pairs.items()}
    comp.insert(0, "label", [names[(v, b)] for v, b in zip(comp["variant"], comp["baseline"])])
    comp["series"] = comp["metric"].map(metric_label)
    return comp


def protocol_table(
    df: pd.DataFrame, metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS)
) -> pd.DataFrame:
    """Per variant: the mean of each metric under both protocols, and sampled / full."""
    rows = []
    for variant, g in df.groupby("variant", sort=False):
        for m in metrics:
            full, sampled = g[column(m, "full")].mean(), g[column(m, "sampled")].mean()
            rows.append(
                {
                    "variant": variant,
                    "metric": metric_label(m),
                    "full": full,
                    "sampled": sampled,
                    "sampled / full": sampled / full,
                }
            )
    return pd.DataFrame(rows).set_index(["metric", "variant"])


def rank_agreement(
    df: pd.DataFrame, metrics: Sequence[str] = tuple(f"hr@{k}" for k in KS)
) -> pd.DataFrame:
    """Do the two protocols order the variants alike? Kendall's tau and Spearman's rho per metric,
    on the variants' means; ``same best`` says whether both put the same variant first."""
    rows = []
    for m in metrics:
        means = df.groupby("variant")[[column(m, "full"), column(m, "sampled")]].mean()
        f, s = means.iloc[:, 0], means.iloc[:, 1]
        rows.append(
            {
                "metric": metric_label(m),
                "variants": len(means),
                "Kendall tau": sps.kendalltau(f, s).statistic,
                "Spearman rho": sps.spearmanr(f, s).statistic,
                "best (full)": f.idxmax(),
                "best (sampled)": s.idxmax(),
                "same best": f.idxmax() == s.idxmax(),
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def seed_pairings(
    df: pd.DataFrame, variant: str, baseline: str, metric: str, protocol: str = "full"
) -> pd.DataFrame:
    """Every single-run comparison: replicate i of the variant against replicate j of the baseline.

    ``paired`` marks i == j (same dataset and training seed). ``rel_change`` is
    (variant_i - baseline_j) / baseline_j: what one researcher with one run of each would report.
    """
    col = column(metric, protocol)
    key = "data_seed" if "data_seed" in df.columns else "seed"
    v = df.loc[df["variant"] == variant].set_index(key)[col]
    b = df.loc[df["variant"] == baseline].set_index(key)[col]
    rows = [
        {
            "variant_replicate": i,
            "baseline_replicate": j,
            "paired": i == j,
            "rel_change": (v[i] - b[j]) / b[j],
        }
        for i in v.index
        for j in b.index
    ]
    return pd.DataFrame(
        rows, columns=["variant_replicate", "baseline_replicate", "paired", "rel_change"]
    )


def override_values(df: pd.DataFrame, key: str) -> pd.Series:
    """The value each run's variant set for ``key`` (from the ``overrides`` JSON column)."""
    return df["overrides"].map(lambda s: json.loads(s).get(key))


def sweep_table(
    df: pd.DataFrame,
    key: str,
    metrics: Sequence[str] = ("hr@1", "hr@10"),
    protocol: str = "full",
    ceilings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each variant that has a baseline against it, indexed by the value of the swept ``key``.

    With ``ceilings`` (`negrec_lib.study.baselines_table` rows of method ``oracle``, one per
    dataset, with ``data`` and the metric columns), the gain is also given as a share of the gap
    between the baseline and the oracle on the same datasets: ``oracle gap closed``.
    """
    values = dict(zip(df["variant"], override_values(df, key)))
    pairs = list(dict.fromkeys((v, b) for v, b in zip(df["variant"], df["baseline"]) if b))
    comp = comparisons(df, pairs, metrics, protocol)
    comp.insert(0, "value", comp["variant"].map(values).astype(float))
    if ceilings is not None:
        shares = []
        for _, r in comp.iterrows():
            col = column(r["metric"], protocol)
            data = df.loc[df["variant"] == r["baseline"], "data"].unique()
            oracle = ceilings.drop_duplicates("data").set_index("data").reindex(data)[col].mean()
            shares.append((r["variant_mean"] - r["baseline_mean"]) / (oracle - r["baseline_mean"]))
        comp["oracle gap closed"] = shares
    return comp.sort_values(["metric", "value"], kind="stable").reset_index(drop=True)
