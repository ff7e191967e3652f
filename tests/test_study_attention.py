"""The skip-attention statistic, the embedding geometry and the prefixes of chapter 5
(`negrec_lib.study.attention`), against brute-force loops."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from study_inputs import CFG, peaked_model, random_prefixes  # tests/study_inputs.py

from negrec_lib.model import SessionEncoder
from negrec_lib.study import attention as sa

_model, _prefixes = peaked_model, random_prefixes


def _brute_force_skip_attention(model: SessionEncoder, pre: sa.Prefixes, last: bool) -> dict:
    out = {}
    with torch.no_grad():
        att = model(pre.tracks, return_attention=True).attention
    for b in range(len(pre)):
        t = int(pre.lengths[b])
        sk = pre.skipped[b].tolist()
        for layer, w in enumerate(att):
            for h in range(w.shape[1]):
                s_vals, k_vals = [], []
                for q in [t - 1] if last else range(t):
                    skip = [float(w[b, h, q, s]) for s in range(q) if sk[s]]
                    kept = [float(w[b, h, q, s]) for s in range(q) if not sk[s]]
                    if skip and kept:
                        s_vals.append(sum(skip) / len(skip))
                        k_vals.append(sum(kept) / len(kept))
                if s_vals:
                    out[(b, layer + 1, h + 1)] = (np.mean(s_vals), np.mean(k_vals), len(s_vals))
    return out


@pytest.mark.parametrize("queries", ["all", "last"])
def test_skip_attention_equals_a_brute_force_loop(queries):
    model, pre = _model(2), _prefixes()
    frame = sa.skip_attention(model, pre, queries=queries, batch_size=5)  # several batches
    expected = _brute_force_skip_attention(model, pre, last=queries == "last")
    assert len(frame) == len(expected) > 0
    for row in frame.itertuples():
        s, k, n = expected[(row.session, row.layer, row.head)]
        assert row.skipped == pytest.approx(s, abs=1e-6)
        assert row.kept == pytest.approx(k, abs=1e-6)
        assert row.n_queries == n


def test_summary_ratio_is_the_ratio_of_session_means_inside_its_interval():
    model, pre = _model(3), _prefixes(n=30)
    frame = sa.skip_attention(model, pre)
    summary = sa.summarize_skip_attention({"m": frame}, n_boot=200)
    assert len(summary) == CFG.n_layers * CFG.n_heads
    for row in summary.itertuples():
        g = frame[(frame["layer"] == row.layer) & (frame["head"] == row.head)]
        assert row.ratio == pytest.approx(g["skipped"].mean() / g["kept"].mean())
        assert row.low <= row.ratio <= row.high


def test_embedding_similarity_kept_skipped_equals_a_loop():
    model, pre = _model(4), _prefixes()
    frame = sa.embedding_similarity({"m": model}, pre)
    table = torch.nn.functional.normalize(model.item_embeddings.detach(), dim=-1)
    got = frame[frame["pair"] == "kept-skipped"].set_index("session")["cosine"]
    for b in range(len(pre)):
        tr, sk = pre.session(b)
        pairs = [
            float(table[tr[i]] @ table[tr[j]])
            for i in range(len(tr))
            for j in range(len(tr))
            if not sk[i] and sk[j] and tr[i] != tr[j]
        ]
        if pairs:
            assert got[b] == pytest.approx(np.mean(pairs), abs=1e-6)
        else:
            assert b not in got.index


def test_prefixes_and_pick_sessions_on_a_small_dataset():
    L = 6
    tracks = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]], dtype=torch.int32)
    skip = torch.tensor([[0, 3, 2, 0, 1, 0], [2, 2, 0, 0, 3, 0]], dtype=torch.int8)
    data = SimpleNamespace(
        tracks=tracks,
        skip=skip,
        skip_strength=2,
        max_length=L,
        splits={"test_rows": torch.tensor([1, 0]), "test_pos": torch.tensor([5, 4])},
    )
    pre = sa.prefixes(data)
    assert pre.tracks.tolist() == [[11, 12, 13, 14, 15, 0], [5, 6, 7, 8, 0, 0]]
    assert pre.skipped.tolist() == [
        [True, True, False, False, True, False],
        [False, True, True, False, False, False],
    ]
    assert sa.pick_sessions(pre, 5, min_length=5, min_skipped=3, min_kept=2) == [0]


def test_borrowed_labels_come_from_a_prefix_of_the_same_length():
    pre = _prefixes(n=40, seed=1)
    ctrl = sa.borrow_skip_labels(pre, seed=0)
    assert torch.equal(ctrl.tracks, pre.tracks) and torch.equal(ctrl.lengths, pre.lengths)
    assert not torch.equal(ctrl.skipped, pre.skipped)
    # every borrowed row is the label row of some prefix with the same length
    for i in range(len(pre)):
        same = (pre.lengths == pre.lengths[i]).nonzero().flatten()
        assert any(torch.equal(ctrl.skipped[i], pre.skipped[j]) for j in same)
    # a permutation within each length: the multiset of label rows is unchanged
    rows = sorted(map(tuple, pre.skipped.int().tolist()))
    assert sorted(map(tuple, ctrl.skipped.int().tolist())) == rows
