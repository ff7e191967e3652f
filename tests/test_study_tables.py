"""Tests of the study's tables (`negrec_lib.study.compare`, `ceilings`, `curves`, `results`).

Each statistic is recomputed independently (numpy and scipy, no library code) on small synthetic
results tables shaped like ``results/<grid>.csv``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from negrec_lib.study import ceilings, compare, curves, results
from negrec_lib.study.claims import claims_table, verdicts

KS = (1, 5, 10, 20)


def make_runs(
    effects: dict[str, tuple[str, float]], replicates=(0, 1, 2, 3, 4), seed=0
) -> pd.DataFrame:
    """variant -> (baseline, multiplicative effect). Replicate r: its own dataset (data_seed
    7 + r, folder d<r>) and training seed r, with a shared offset so that pairing helps."""
    rng = np.random.default_rng(seed)
    shared = {r: rng.normal(0, 0.03) for r in replicates}
    rows = []
    for variant, (baseline, effect) in effects.items():
        for r in replicates:
            row = {
                "variant": variant,
                "seed": r,
                "data_seed": 7 + r,
                "data": f"d{r}",
                "baseline": baseline,
                "overrides": json.dumps({"x.level": effect}),
            }
            for k in KS:
                level = 0.05 * k**0.5 * effect * (1 + shared[r] + rng.normal(0, 0.01))
                row[f"test_hr@{k}"] = level
                row[f"sampled_hr@{k}"] = min(1.0, 1.5 * level)
            row["ctx_radio_hr@10"], row["ctx_radio_n"] = row["test_hr@10"] * 1.1, 300
            curve = [row["test_hr@10"] * (1 - 0.5**e) for e in range(1, 4 + r)]
            row["valid_hr@10_by_epoch"] = json.dumps(curve)
            row.update(best_epoch=len(curve), epochs_run=len(curve), max_epochs=10)
            rows.append(row)
    return pd.DataFrame(rows)


def fieller_by_scan(a, b, conf=0.95):
    """Fieller's set {r: t-test of a - r b does not reject}, found by root finding."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    tcrit = stats.t.ppf(0.5 + conf / 2, n - 1)

    def excess(r):
        d = a - r * b
        return abs(d.mean()) / (d.std(ddof=1) / np.sqrt(n)) - tcrit

    r0 = a.mean() / b.mean()
    return (optimize.brentq(excess, r0 - 5, r0), optimize.brentq(excess, r0, r0 + 5))


def test_comparisons_pair_by_dataset_and_seed_with_fieller_intervals():
    runs = make_runs({"base": ("", 1.0), "skip": ("base", 1.08)})
    runs = runs.sample(frac=1, random_state=1)  # row order must not matter
    comp = compare.comparisons(runs, [("skip", "base")], ["hr@1", "hr@10"])
    for _, r in comp.iterrows():
        col = f"test_{r['metric']}"
        a = runs[runs.variant == "skip"].sort_values("data_seed")[col].to_numpy()
        b = runs[runs.variant == "base"].sort_values("data_seed")[col].to_numpy()
        d = a - b
        half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
        assert r["n"] == 5
        assert r["diff"] == pytest.approx(d.mean())
        assert (r["diff_t_low"], r["diff_t_high"]) == pytest.approx(
            (d.mean() - half, d.mean() + half)
        )
        lo, hi = fieller_by_scan(a, b)
        assert (r["rel_low"], r["rel_high"]) == pytest.approx((lo - 1, hi - 1), abs=1e-6)
        assert r["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
        assert r["change [95% CI]"] == compare.format_change(r["rel"], r["rel_low"], r["rel_high"])


def test_comparisons_leave_out_unmatched_replicates():
    runs = make_runs({"base": ("", 1.0), "skip": ("base", 1.1)})
    runs = runs[~((runs.variant == "skip") & (runs.data_seed == 9))]
    assert compare.comparisons(runs, [("skip", "base")], ["hr@1"]).iloc[0]["n"] == 4


def test_seed_pairings_cover_every_pair_of_replicates():
    runs = make_runs({"base": ("", 1.0), "skip": ("base", 1.1)})
    sp = compare.seed_pairings(runs, "skip", "base", "hr@1")
    assert len(sp) == 25 and sp["paired"].sum() == 5
    a = runs[(runs.variant == "skip") & (runs.data_seed == 8)]["test_hr@1"].item()
    b = runs[(runs.variant == "base") & (runs.data_seed == 10)]["test_hr@1"].item()
    row = sp[(sp.variant_replicate == 8) & (sp.baseline_replicate == 10)].iloc[0]
    assert row["rel_change"] == pytest.approx((a - b) / b)


def test_protocol_table_and_rank_agreement():
    runs = make_runs({"base": ("", 1.0), "skip": ("base", 1.1), "bad": ("base", 0.7)})
    pt = compare.protocol_table(runs, ["hr@10"])
    g = runs[runs.variant == "bad"]
    assert pt.loc[("HR@10", "bad"), "sampled / full"] == pytest.approx(
        g["sampled_hr@10"].mean() / g["test_hr@10"].mean()
    )
    ra = compare.rank_agreement(runs, ["hr@10"])
    assert ra.loc["HR@10", "Kendall tau"] == pytest.approx(1.0)
    assert ra.loc["HR@10", "best (full)"] == "skip"


def test_sweep_table_reads_values_and_oracle_share():
    runs = pd.concat(
        [
            make_runs({f"s{v}-base": ("", 1.0), f"s{v}-skip": (f"s{v}-base", 1 + v)}, seed=i)
            for i, v in enumerate((0.0, 0.1))
        ]
    )
    runs["overrides"] = [
        json.dumps({"sim.skip_signal": float(v.split("-")[0][1:])}) for v in runs["variant"]
    ]
    oracle = pd.DataFrame(
        {"method": "oracle", "data": [f"d{r}" for r in range(5)], "test_hr@1": 0.2}
    )
    sw = compare.sweep_table(runs, "sim.skip_signal", ["hr@1"], ceilings=oracle)
    assert sw["value"].tolist() == [0.0, 0.1]
    r = sw.iloc[1]
    assert r["oracle gap closed"] == pytest.approx(
        (r["variant_mean"] - r["baseline_mean"]) / (0.2 - r["baseline_mean"])
    )


def test_reference_table_joins_baselines_on_the_runs_datasets():
    runs = make_runs({"base": ("", 1.0)})
    base = pd.DataFrame(
        [
            {"method": m, "data": f"d{r}", **{f"test_hr@{k}": lvl * (1 + r / 10) for k in KS}}
            for m, lvl in (
                ("popularity", 0.01),
                ("markov", 0.05),
                ("sknn", 0.04),
                ("vsknn", 0.045),
                ("oracle", 0.5),
            )
            for r in range(6)
        ]
    )  # d5: a dataset the runs lack
    t = ceilings.reference_table(runs, base, ["base"])
    assert t.loc[1, "markov"] == pytest.approx(np.mean([0.05 * (1 + r / 10) for r in range(5)]))
    m, lo, hi = t.loc[10, ["base", "base low", "base high"]]
    v = runs["test_hr@10"].to_numpy()
    assert m == pytest.approx(v.mean()) and lo < m < hi
    assert t.loc[10, "base / oracle"] == pytest.approx(m / t.loc[10, "oracle"])
    with pytest.raises(KeyError, match="negrec baselines"):
        ceilings.reference_table(runs, base[base.method != "sknn"], ["base"])


def test_context_table_pairs_within_the_context():
    runs = make_runs({"base": ("", 1.0), "skip": ("base", 1.05)})
    base = pd.DataFrame(
        [
            {"method": m, "data": f"d{r}", "ctx_radio_hr@10": x}
            for m, x in (("popularity", 0.02), ("markov", 0.1), ("oracle", 0.6))
            for r in range(5)
        ]
    )
    t = ceilings.context_table(runs, base, "skip", "base")
    a = runs[runs.variant == "skip"].sort_values("data_seed")["ctx_radio_hr@10"].to_numpy()
    b = runs[runs.variant == "base"].sort_values("data_seed")["ctx_radio_hr@10"].to_numpy()
    assert list(t.index) == ["radio"] and t.loc["radio", "examples"] == 300
    assert t.loc["radio", "rel"] == pytest.approx(a.mean() / b.mean() - 1)
    assert t.loc["radio", "oracle"] == pytest.approx(0.6)


def test_curves_hold_the_last_value_and_equal_budget_matches_epochs():
    runs = make_runs({"uni": ("", 1.0), "bi": ("", 0.9)})
    long = curves.curves(runs)
    assert len(long) == sum(len(json.loads(c)) for c in runs["valid_hr@10_by_epoch"])
    summary = curves.curve_summary(long)
    last = summary[(summary.variant == "uni")].iloc[-1]
    finals = [json.loads(c)[-1] for c in runs[runs.variant == "uni"]["valid_hr@10_by_epoch"]]
    assert last["mean"] == pytest.approx(np.mean(finals)) and last["running"] == 1
    eb = curves.equal_budget(long, "bi", "uni", ratio=2.0, epochs=[4])
    row = eb.iloc[0]
    assert row["uni epoch"] == 2
    bi4 = [
        json.loads(c)[min(3, len(json.loads(c)) - 1)]
        for c in runs[runs.variant == "bi"]["valid_hr@10_by_epoch"]
    ]
    assert row["bi"] == pytest.approx(np.mean(bi4))


def test_convergence_table_counts_runs_at_their_cap():
    runs = make_runs({"a": ("", 1.0)})
    runs.loc[runs.data_seed == 11, "epochs_run"] = 10  # reached max_epochs
    t = results.convergence_table(runs)
    assert t.loc["a", "at cap"] == 1 and t.loc["a", "runs"] == 5
    with pytest.raises(ValueError, match="predates"):
        results.convergence_table(runs.drop(columns=["best_epoch"]))


def test_claims_table_reads_verdicts_per_split_and_protocol():
    runs = make_runs(
        {
            "uni-base": ("", 1.0),
            "uni-skip-track": ("uni-base", 1.1),
            "uni-skip-hidden": ("uni-base", 1.05),
            "bi-base": ("", 0.8),
        }
    )
    v = pd.concat(
        [
            verdicts(runs, "paper"),
            verdicts(runs.assign(**{"test_hr@1": runs["test_hr@1"] * 0.9}), "by_day"),
        ]
    )
    changes, said = claims_table(v)
    assert set(changes.columns) == {
        "paper",
        "paper, full",
        "paper, sampled",
        "by_day, full",
        "by_day, sampled",
    }
    assert changes.loc[("1", "HR@1"), "paper"] == "+20.26%"
    r = v[
        (v.claim == "2")
        & (v.metric == "hr@10")
        & (v.split == "paper")
        & (v.protocol == "full catalogue")
    ].iloc[0]
    assert changes.loc[("2", "HR@10"), "paper, full"] == compare.format_change(
        r["rel"], r["rel_low"], r["rel_high"]
    )
    assert r["verdict"] in said.loc[("2", "HR@10"), "paper, full"]
