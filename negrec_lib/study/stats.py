"""Statistics for paired comparisons of runs: intervals, relative changes, Holm, verdicts.

Runs of two variants are paired when they share their data and their training seed
(``data_seed`` and ``seed`` columns), so that each pair differs only in the variant. For a
metric, `paired_comparison` gives the mean paired difference with a Student-t interval and a
bootstrap interval (`scipy.stats.bootstrap`, BCa), the relative change against the baseline's
mean with Fieller's interval (which carries the uncertainty of the baseline mean, unlike dividing
the difference's interval by it) and a paired bootstrap of the ratio, and the paired t-test's p.
`holm` adjusts a family of p-values (the K values of one claim), and `verdict` turns an interval
and an adjusted p into words that state the direction.

Every interval says what varies across the pairs: if each replicate draws fresh data and a fresh
seed, it covers data, test-set and training variation; if all share one dataset, training only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

ALPHA = 0.05
Values = Sequence[float] | npt.ArrayLike
"""Numbers of one sample: a list, a numpy array or a pandas Series."""


def t_interval(values: Values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t interval of the mean (NaN values ignored).

    >>> [round(x, 3) for x in t_interval([1.0, 2.0, 3.0])]
    [2.0, -0.484, 4.484]
    """
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    m = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return m, float(m - half), float(m + half)


def fieller_ratio(a: Values, b: Values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Ratio of means mean(a) / mean(b) of paired samples, with Fieller's interval.

    Solves ``(mean_a - r mean_b)^2 <= t^2 var(mean_a - r mean_b)`` for r, with the sample
    variances and covariance of the pairs and t on n - 1 degrees of freedom. When the baseline's
    mean is not clearly non-zero the set is unbounded, and the bounds are -inf and inf.

    >>> a, b = [1.1, 1.2, 1.3, 1.2], [1.0, 1.0, 1.0, 1.0]   # b exact: a's t-interval over 1.0
    >>> r, lo, hi = fieller_ratio(a, b)
    >>> [round(float(x), 3) for x in (r, lo, hi)]
    [1.2, 1.07, 1.33]
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    n = len(x)
    if n != len(y) or n < 2:
        raise ValueError(f"need two paired samples of one size >= 2, got {len(x)} and {len(y)}")
    ma, mb = x.mean(), y.mean()
    cov = np.cov(x, y, ddof=1) / n  # of the means
    vaa, vbb, vab = cov[0, 0], cov[1, 1], cov[0, 1]
    t2 = stats.t.ppf(0.5 + confidence / 2, n - 1) ** 2
    qa = mb * mb - t2 * vbb
    qb = -2 * (ma * mb - t2 * vab)
    qc = ma * ma - t2 * vaa
    ratio = ma / mb if mb else float("nan")
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:
        return ratio, float("-inf"), float("inf")
    root = np.sqrt(disc)
    return ratio, (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


def paired_comparison(
    a: Values, b: Values, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> dict[str, float]:
    """``a`` (variant) against ``b`` (baseline), pair by pair.

    Returns n, the mean difference ``diff`` with its t interval (``diff_t_low``/``high``) and BCa
    bootstrap interval (``diff_boot_low``/``high``), the relative change ``rel`` = mean(a) /
    mean(b) - 1 with Fieller's interval (``rel_low``/``high``) and a paired bootstrap interval
    (``rel_boot_low``/``high``), and the two-sided paired t-test's ``p``.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    d = x - y
    n = len(d)
    out: dict[str, float] = {"n": n, "diff": float(d.mean()) if n else float("nan")}
    nan = float("nan")
    if n < 2:
        out.update(
            diff_t_low=nan,
            diff_t_high=nan,
            diff_boot_low=nan,
            diff_boot_high=nan,
            rel=nan,
            rel_low=nan,
            rel_high=nan,
            rel_boot_low=nan,
            rel_boot_high=nan,
            p=nan,
        )
        return out
    sem = d.std(ddof=1) / np.sqrt(n)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sem
    out.update(diff_t_low=out["diff"] - half, diff_t_high=out["diff"] + half)
    rng = np.random.default_rng(seed)
    if np.ptp(d) == 0:  # every pair the same: no resampling spread
        out.update(diff_boot_low=out["diff"], diff_boot_high=out["diff"])
        out["p"] = 1.0 if out["diff"] == 0 else 0.0
    else:
        boot = stats.bootstrap(
            (d,),
            np.mean,
            confidence_level=confidence,
            method="BCa",
            n_resamples=n_resamples,
            random_state=rng,
        )
        out.update(
            diff_boot_low=float(boot.confidence_interval.low),
            diff_boot_high=float(boot.confidence_interval.high),
        )
        out["p"] = float(stats.ttest_rel(x, y).pvalue)
    ratio, lo, hi = fieller_ratio(x, y, confidence)
    out.update(rel=ratio - 1, rel_low=lo - 1, rel_high=hi - 1)
    if np.ptp(x / np.where(y == 0, np.nan, y)) == 0:
        out.update(rel_boot_low=ratio - 1, rel_boot_high=ratio - 1)
    else:
        boot = stats.bootstrap(
            (x, y),
            lambda u, v, axis=-1: u.mean(axis) / v.mean(axis) - 1,
            paired=True,
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            n_resamples=n_resamples,
            random_state=rng,
        )
        out.update(
            rel_boot_low=float(boot.confidence_interval.low),
            rel_boot_high=float(boot.confidence_interval.high),
        )
    return out


def holm(pvalues: Values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, others in [0, 1]).

    >>> holm([0.01, 0.04, 0.03, 0.2]).round(3).tolist()
    [0.04, 0.09, 0.09, 0.2]
    """
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def verdict(low: float, high: float, p_adjusted: float, alpha: float = ALPHA) -> str:
    """Words for a paired difference's interval [low, high] and its family-adjusted p.

    >>> verdict(0.01, 0.03, 0.004)
    'higher'
    >>> verdict(0.001, 0.03, 0.09)
    'higher before correction only'
    >>> verdict(-0.01, 0.02, 0.5)
    'no detectable difference'
    """
    if np.isnan(low) or np.isnan(high):
        return "not enough pairs"
    direction = "higher" if low > 0 else "lower" if high < 0 else None
    if direction is None:
        return "no detectable difference"
    if not p_adjusted < alpha:
        return f"{direction} before correction only"
    return direction


def compare_variants(
    runs: pd.DataFrame,
    variant: str,
    baseline: str,
    metrics: Sequence[str],
    pair_on: Sequence[str] = ("data_seed", "seed"),
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per metric: `paired_comparison` of ``variant`` against ``baseline``, Holm over
    ``metrics`` (one claim's family), and the verdict. Pairs join on ``pair_on`` columns that
    exist in ``runs`` (``seed`` alone for tables without ``data_seed``)."""
    keys = [k for k in pair_on if k in runs.columns]
    a = runs[runs["variant"] == variant]
    b = runs[runs["variant"] == baseline]
    pairs = a.merge(b, on=keys, suffixes=("", "_base"))
    rows = []
    for metric in metrics:
        res = paired_comparison(pairs[metric], pairs[f"{metric}_base"], confidence, seed=seed)
        rows.append(
            {
                "variant": variant,
                "baseline": baseline,
                "metric": metric,
                "paired_on": "+".join(keys),
                **res,
            }
        )
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    out["verdict"] = [
        verdict(lo, hi, ph)
        for lo, hi, ph in zip(out["diff_t_low"], out["diff_t_high"], out["p_holm"])
    ]
    return out
