"""negrec_lib.study.stats: intervals against scipy and by coverage, Holm against its definition."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from negrec_lib.study.stats import compare_variants, fieller_ratio, holm, paired_comparison, verdict


def test_t_interval_and_p_agree_with_scipy():
    g = np.random.default_rng(0)
    b = g.normal(0.2, 0.01, 6)
    a = b + g.normal(0.005, 0.003, 6)
    res = paired_comparison(a, b, n_resamples=2000)
    test = stats.ttest_rel(a, b)
    ci = test.confidence_interval(0.95)
    assert res["diff_t_low"] == pytest.approx(ci.low) and res["diff_t_high"] == pytest.approx(
        ci.high
    )
    assert res["p"] == pytest.approx(test.pvalue)
    assert res["diff_boot_low"] < res["diff"] < res["diff_boot_high"]
    assert res["rel"] == pytest.approx(a.mean() / b.mean() - 1)
    assert res["rel_low"] < res["rel"] < res["rel_high"]


def test_fieller_covers_the_true_ratio_where_scaling_the_difference_does_not():
    """A precise additive gain over a noisy baseline: dividing the difference's interval by the
    baseline's sample mean ignores that mean's own error and under-covers; Fieller keeps 95%."""
    g = np.random.default_rng(1)
    gain, base = 0.1, 1.0  # true relative change 0.1
    hit_fieller = hit_scaled = 0
    reps, n = 2000, 5
    for _ in range(reps):
        b = g.normal(base, 0.3, n)
        a = b + gain + g.normal(0, 0.01, n)
        _, lo, hi = fieller_ratio(a, b)
        hit_fieller += lo - 1 <= gain / base <= hi - 1
        d = a - b
        half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)
        hit_scaled += (d.mean() - half) / b.mean() <= gain / base <= (d.mean() + half) / b.mean()
    assert 0.93 <= hit_fieller / reps <= 0.97
    assert hit_scaled / reps < 0.85


def test_fieller_is_unbounded_when_the_baseline_mean_could_be_zero():
    r, lo, hi = fieller_ratio([0.1, -0.2, 0.3], [0.01, -0.02, 0.02])
    assert (lo, hi) == (float("-inf"), float("inf"))


def test_holm_matches_its_definition():
    g = np.random.default_rng(2)
    for _ in range(50):
        p = g.uniform(0, 0.2, g.integers(1, 7))
        adj = holm(p)
        m = len(p)
        order = np.argsort(p, kind="stable")
        for rank, i in enumerate(order):
            want = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
            assert adj[i] == pytest.approx(want)
    assert np.isnan(holm([0.01, np.nan])[1]) and holm([0.01, np.nan])[0] == pytest.approx(0.01)


def test_compare_variants_pairs_on_data_and_seed_and_corrects_within_the_family():
    rows = []
    g = np.random.default_rng(3)
    for data_seed, seed in itertools.product([0, 1, 2], [0, 1]):
        base = 0.2 + 0.01 * data_seed + g.normal(0, 0.001)
        rows.append(
            {
                "variant": "base",
                "data_seed": data_seed,
                "seed": seed,
                "test_hr@1": base,
                "test_hr@10": base + 0.1,
            }
        )
        rows.append(
            {
                "variant": "skip",
                "data_seed": data_seed,
                "seed": seed,
                "test_hr@1": base + 0.01 + g.normal(0, 0.001),
                "test_hr@10": base + 0.1 + g.normal(0, 0.002),
            }
        )
    out = compare_variants(pd.DataFrame(rows), "skip", "base", ["test_hr@1", "test_hr@10"])
    assert list(out["n"]) == [6, 6] and set(out["paired_on"]) == {"data_seed+seed"}
    assert out.loc[0, "verdict"] == "higher"
    assert out.loc[1, "verdict"] == "no detectable difference"
    assert (out["p_holm"] >= out["p"]).all()


def test_verdict_states_direction_and_correction():
    assert verdict(-0.03, -0.01, 0.01) == "lower"
    assert verdict(-0.03, -0.01, 0.2) == "lower before correction only"
    assert verdict(float("nan"), 0.1, 0.5) == "not enough pairs"
