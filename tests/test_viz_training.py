"""Tests of the training chapters' helpers: `negrec_lib.viz.training` and `run_grid_cached`.

The popularity baseline and the skip-loss probes are checked against brute-force loops; the
statistics against hand-worked values; figures for labelled axes and a title; the grid runner on
a tiny configuration for its rows and its cache.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from negrec_lib.config import profile_config  # noqa: E402
from negrec_lib.data.tokens import N_RESERVED  # noqa: E402
from negrec_lib.errors import ConfigError  # noqa: E402
from negrec_lib.experiments import run_grid_cached, summarize  # noqa: E402
from negrec_lib.metrics import RankAccumulator, target_ranks  # noqa: E402
from negrec_lib.viz import training as vt  # noqa: E402
from figure_checks import assert_labelled  # noqa: E402  (tests/figure_checks.py)

TINY = ["sim.sessions=400", "sim.tracks=150", "sim.days=4", "model.d_model=8", "model.n_heads=2",
        "model.d_ff=8", "loss.n_negatives=20", "train.epochs=1", "train.batch_size=128",
        "train.progress=false", "train.eval_batch_size=256"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------ popularity baseline
def test_popularity_ranks_match_brute_force():
    gen = torch.Generator().manual_seed(0)
    v = 40
    counts = torch.randint(0, 6, (v,), generator=gen)          # many ties
    counts[:N_RESERVED] = 1000                                 # reserved ids must never rank
    scorer = vt.PopularityScorer(counts)
    targets = torch.randint(N_RESERVED, v, (25,), generator=gen)
    hidden = scorer.next_track_hidden(torch.zeros(25, 5, dtype=torch.long), torch.ones(25))
    ranks = target_ranks(scorer.score(hidden), targets)
    # brute force: order the tracks by count, ties by lower id; rank = place in that list
    order = sorted(range(N_RESERVED, v), key=lambda i: (-int(counts[i]), i))
    expected = [order.index(int(t)) + 1 for t in targets]
    assert ranks.tolist() == expected
    assert scorer.top(3).tolist() == order[:3]
    cand = torch.tensor([3, 7, 11])
    assert torch.equal(scorer.score(hidden[:2], cand), scorer.score(hidden[:2])[:, cand])


def test_popularity_scorer_rejects_a_tiny_vocabulary():
    with pytest.raises(ValueError, match="more than"):
        vt.PopularityScorer(torch.ones(N_RESERVED))


# ------------------------------------------------------------------------ skip-loss probes
def _toy():
    skipped = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]], dtype=torch.bool)
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    angles = torch.linspace(0.1, 5.9, 12).reshape(2, 6)
    keys = torch.stack([angles.cos(), angles.sin(), 0.3 * torch.ones_like(angles)], -1)
    return keys, skipped & valid, valid


def test_skip_roles_follow_the_papers_rule():
    keys, skipped, valid = _toy()
    roles, losses, ok = vt.skip_roles(keys, skipped, valid)
    B, L = valid.shape
    for b in range(B):
        kept = [t for t in range(L) if valid[b, t] and not skipped[b, t]]
        negs = [t for t in range(L) if skipped[b, t]]
        for t in range(L):
            later = [s for s in kept if s > t]
            expect_ok = t in kept and bool(later) and bool(negs)
            assert bool(ok[b, t]) == expect_ok
            want = torch.zeros(B, L, dtype=torch.int8)
            if expect_ok:
                want[b, later[0]] = 1
                want[b, negs] = -1
            assert torch.equal(roles[b, t], want), (b, t)
    # the loss of one anchor, by hand
    q = torch.nn.functional.normalize(keys[0, 0], dim=0)
    k = torch.nn.functional.normalize(keys[0], dim=-1)
    s = (k @ q) / 0.1
    by_hand = -s[2] + torch.logsumexp(torch.stack([s[2], s[1], s[4]]), 0)
    assert math.isclose(float(losses[0, 0]), float(by_hand), rel_tol=1e-5)


def test_reference_pairing_takes_negatives_from_the_next_session():
    keys, skipped, valid = _toy()
    roles, _, ok = vt.skip_roles(keys, skipped, valid, pairing="reference")
    for b, t in ok.nonzero().tolist():
        neg = (roles[b, t] == -1).nonzero().tolist()
        assert neg and all(c == (b + 1) % 2 for c, _ in neg)
        assert all(c == b for c, _ in (roles[b, t] == 1).nonzero().tolist())


def test_skip_pair_cosines_brute_force():
    keys, skipped, valid = _toy()
    table = keys.reshape(12, 3)
    tracks = torch.arange(12).reshape(2, 6)
    lengths = valid.sum(1)
    df = vt.skip_pair_cosines(table, tracks, skipped, lengths)
    pos = df[df["kind"] == "positive"]
    assert list(zip(pos["session"], pos["anchor"], pos["key"])) == [
        (0, 0, 2), (0, 2, 3), (0, 3, 5), (1, 0, 1), (1, 1, 3), (1, 3, 4)]
    assert len(df[df["kind"] == "negative"]) == 3 * 2 + 3 * 1
    e = torch.nn.functional.normalize(table, dim=-1)
    r = df.iloc[0]
    assert math.isclose(r["cosine"], float(e[0] @ e[2]), rel_tol=1e-5)
    # win rate by brute force: the positive beats every negative of its anchor
    wins = [float(g.loc[g["kind"] == "positive", "cosine"].max())
            > float(g.loc[g["kind"] == "negative", "cosine"].max())
            for _, g in df.groupby(["session", "anchor"])]
    assert math.isclose(vt.pair_win_rate(df), sum(wins) / len(wins))


# ------------------------------------------------------------------------ statistics and claims
def _grid_frame() -> pd.DataFrame:
    rows = []
    for seed, (b, s) in enumerate([(0.10, 0.12), (0.11, 0.12), (0.09, 0.11)]):
        rows += [{"variant": "base", "seed": seed, "baseline": "", "test_hr@1": b},
                 {"variant": "skip", "seed": seed, "baseline": "base", "test_hr@1": s}]
    return pd.DataFrame(rows)


def test_format_summary_and_forest():
    summary = summarize(_grid_frame(), ["test_hr@1"])
    table = vt.format_summary(summary, ["test_hr@1"])
    assert table.loc[("HR@1", "base"), "change [95% CI]"] == "baseline"
    row = table.loc[("HR@1", "skip")]
    assert row["change [95% CI]"].startswith("+16.7%")     # (0.1167 - 0.10) / 0.10
    assert row["p (Wilcoxon)"] == "0.250"                   # the smallest p three pairs allow
    fig = vt.plot_forest(summary, ["test_hr@1"])
    assert_labelled(fig)
    assert "1 of 1 intervals exclude zero" in fig.axes[0].get_title()


@pytest.mark.parametrize("rel,lo,hi,claimed,verdict", [
    (0.05, 0.01, 0.09, 0.06, "holds"),
    (0.05, 0.01, 0.09, 0.20, "holds, smaller than claimed"),
    (0.01, -0.02, 0.04, 0.20, "not detected; the claimed size is excluded"),
    (0.01, -0.02, 0.30, 0.20, "not detectable at this budget"),
    (-0.05, -0.08, -0.01, 0.20, "contradicted: a loss, not a gain"),
    (0.01, float("nan"), float("nan"), 0.2, "no interval (too few seeds)"),
])
def test_claim_verdict(rel, lo, hi, claimed, verdict):
    assert vt.claim_verdict(rel, lo, hi, claimed) == verdict


def test_claims_table():
    summary = summarize(_grid_frame(), ["test_hr@1"])
    t = vt.claims_table(summary, [("1", "skip", "test_hr@1", 0.2026, "+20.26%")])
    assert t.loc[("1", "HR@1"), "verdict"].startswith(("holds", "not detectable"))
    with pytest.raises(KeyError):
        vt.claims_table(summary, [("1", "nope", "test_hr@1", None, "")])


# ------------------------------------------------------------------------ chapter 3 figures
def _examples(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = RankAccumulator()
    acc.add(rng.integers(1, 50, 300), context=rng.integers(0, 6, 300),
            position=rng.integers(6, 21, 300), target_skipped=rng.integers(0, 2, 300))
    return acc.examples()


def test_group_metric_against_pandas():
    ex = _examples(0)
    t = vt.group_metric(ex, "position", "hr@10").set_index("group")
    by_hand = (ex["rank"] <= 10).groupby(ex["position"]).mean()
    assert np.allclose(t["mean"], by_hand.reindex(t.index))
    c = vt.group_metric(ex, "context", "hr@10")
    assert set(c["group"]) <= set(vt.CONTEXT_TYPES)


def test_chapter3_figures_are_labelled():
    hist = [{"epoch": e, "loss": 7 - e, "valid_ndcg@10": 0.1 * e - 0.01 * e * e,
             "valid_hr@10": 0.2 + 0.01 * e} for e in range(1, 6)]
    fig = vt.plot_learning_curves({"uni": hist, "bi": pd.DataFrame(hist)})
    assert_labelled(fig)
    assert len(fig.axes) == 3 and "epoch 5" in fig._suptitle.get_text()
    full = {"uni": {"hr@1": 0.05, "hr@10": 0.2, "mrr": 0.1},
            "pop": {"hr@1": 0.01, "hr@10": 0.05, "mrr": 0.02}}
    sampled = {k: {m: 2 * x for m, x in v.items()} for k, v in full.items()}
    fig = vt.plot_protocol_comparison(full, sampled)
    assert_labelled(fig)
    assert "x2.0 to x2.0" in fig._suptitle.get_text()
    fig = vt.plot_breakdown({"uni": _examples(1), "pop": _examples(2)})
    assert_labelled(fig)
    table = vt.metrics_table(full, ["hr@1", "hr@10"])
    assert list(table.columns) == ["HR@1", "HR@10"] and list(table.index) == ["uni", "pop"]


def test_skip_figures_are_labelled():
    keys, skipped, valid = _toy()
    roles, _, _ = vt.skip_roles(keys, skipped, valid)
    assert_labelled(vt.plot_skip_roles({"own session": roles}, skipped, valid))
    df = vt.skip_pair_cosines(keys.reshape(12, 3), torch.arange(12).reshape(2, 6), skipped,
                              valid.sum(1))
    assert_labelled(vt.plot_pair_cosines({"a": df, "b": df}))


# ------------------------------------------------------------------------ run_grid_cached
def test_run_grid_cached_rows_and_cache(tmp_path, monkeypatch):
    base = profile_config("ci").override(TINY)
    variants = {"base": ["loss.skip_weight=0"],
                "skip, track": ["loss.skip_weight=1"],
                "named": ["name=shared-name", "loss.skip_weight=0"]}
    kw = dict(runs_root=tmp_path / "runs", data_root=tmp_path / "data")
    df = run_grid_cached(base, variants, [1, 2], {"skip, track": "base"}, **kw)
    assert list(zip(df["variant"], df["seed"])) == [(v, s) for v in variants for s in (1, 2)]
    assert list(df["baseline"]) == ["", "", "base", "base", "", ""]
    assert {"test_hr@1", "test_mrr", "test_skip_mrr", "sampled_hr@10", "epochs_run",
            "run_dir"} <= set(df.columns)
    names = [p.split("/")[-1].rsplit("-", 1)[0] for p in df["run_dir"]]
    assert names == ["base", "base", "skip-track", "skip-track", "shared-name", "shared-name"]
    assert df["run_dir"].nunique() == 6
    # a second call trains nothing and returns the same rows
    import negrec_lib.train as train

    def _no_training(*a, **k):
        raise AssertionError("run_grid_cached retrained a finished run")
    monkeypatch.setattr(train, "Trainer", _no_training)
    again = run_grid_cached(base, variants, [1, 2], {"skip, track": "base"}, **kw)
    pd.testing.assert_frame_equal(df, again)
    s = summarize(df, ["test_hr@10"])
    assert s.loc[s["variant"] == "skip, track", "n_pairs"].item() == 2


def test_run_grid_cached_rejects_unknown_baselines(tmp_path):
    with pytest.raises(ConfigError, match="not variants"):
        run_grid_cached(profile_config("ci"), {"a": []}, [1], {"a": "b"}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="seed"):
        run_grid_cached(profile_config("ci"), {"a": []}, [], {}, tmp_path, tmp_path)
