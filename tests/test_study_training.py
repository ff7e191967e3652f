"""Tests of the training chapters' measurements (`negrec_lib.study.training`) and of the
popularity baseline they are compared with: the baseline and the skip-loss probes against
brute-force loops, the tables against pandas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from study_inputs import rank_examples

from negrec_lib.data.schema import CONTEXT_TYPES
from negrec_lib.metrics import target_ranks
from negrec_lib.study import training as st
from negrec_lib.study.baselines import PopularityScorer
from negrec_lib.tokens import N_RESERVED


# ------------------------------------------------------------------------ popularity baseline
def test_popularity_ranks_match_brute_force():
    gen = torch.Generator().manual_seed(0)
    v = 40
    counts = torch.randint(0, 6, (v,), generator=gen)  # many ties
    counts[:N_RESERVED] = 1000  # reserved ids must never rank
    scorer = PopularityScorer(counts)
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
        PopularityScorer(torch.ones(N_RESERVED))


# ------------------------------------------------------------------------ skip-loss probes
def _toy():
    skipped = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]], dtype=torch.bool)
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    angles = torch.linspace(0.1, 5.9, 12).reshape(2, 6)
    keys = torch.stack([angles.cos(), angles.sin(), 0.3 * torch.ones_like(angles)], -1)
    return keys, skipped & valid, valid


def test_skip_roles_follow_the_papers_rule():
    keys, skipped, valid = _toy()
    roles, losses, ok = st.skip_roles(keys, skipped, valid)
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
    roles, _, ok = st.skip_roles(keys, skipped, valid, pairing="reference")
    for b, t in ok.nonzero().tolist():
        neg = (roles[b, t] == -1).nonzero().tolist()
        assert neg and all(c == (b + 1) % 2 for c, _ in neg)
        assert all(c == b for c, _ in (roles[b, t] == 1).nonzero().tolist())


def test_skip_pair_cosines_brute_force():
    keys, skipped, valid = _toy()
    table = keys.reshape(12, 3)
    tracks = torch.arange(12).reshape(2, 6)
    lengths = valid.sum(1)
    df = st.skip_pair_cosines(table, tracks, skipped, lengths)
    pos = df[df["kind"] == "positive"]
    assert list(zip(pos["session"], pos["anchor"], pos["key"])) == [
        (0, 0, 2),
        (0, 2, 3),
        (0, 3, 5),
        (1, 0, 1),
        (1, 1, 3),
        (1, 3, 4),
    ]
    assert len(df[df["kind"] == "negative"]) == 3 * 2 + 3 * 1
    e = torch.nn.functional.normalize(table, dim=-1)
    r = df.iloc[0]
    assert math.isclose(r["cosine"], float(e[0] @ e[2]), rel_tol=1e-5)
    # win rate by brute force: the positive beats every negative of its anchor
    wins = [
        float(g.loc[g["kind"] == "positive", "cosine"].max())
        > float(g.loc[g["kind"] == "negative", "cosine"].max())
        for _, g in df.groupby(["session", "anchor"])
    ]
    assert math.isclose(st.pair_win_rate(df), sum(wins) / len(wins))


# ------------------------------------------------------------------------ chapter 3 tables
_examples = rank_examples


def test_group_metric_against_pandas():
    ex = _examples(0)
    t = st.group_metric(ex, "position", "hr@10").set_index("group")
    by_hand = (ex["rank"] <= 10).groupby(ex["position"]).mean()
    assert np.allclose(t["mean"], by_hand.reindex(t.index))
    c = st.group_metric(ex, "context", "hr@10")
    assert set(c["group"]) <= set(CONTEXT_TYPES)


def test_metrics_table_labels_its_columns():
    full = {
        "uni": {"hr@1": 0.05, "hr@10": 0.2, "mrr": 0.1},
        "pop": {"hr@1": 0.01, "hr@10": 0.05, "mrr": 0.02},
    }
    table = st.metrics_table(full, ["hr@1", "hr@10"])
    assert list(table.columns) == ["HR@1", "HR@10"] and list(table.index) == ["uni", "pop"]
    assert table.loc["uni", "HR@10"] == 0.2


@pytest.mark.parametrize(
    "metric,label",
    [
        ("test_hr@10", "HR@10"),
        ("skip_mrr", "skip MRR"),
        ("loss", "training loss"),
        ("valid_ndcg@10", "NDCG@10"),
    ],
)
def test_metric_label(metric, label):
    assert st.metric_label(metric) == label
