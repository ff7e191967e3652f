"""Classical baselines: brute-force checks of the Markov chain and session kNN, and the table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from negrec_lib.config import profile_config
from negrec_lib.data.cache import ensure_dataset
from negrec_lib.data.sessions import SessionData
from negrec_lib.metrics import evaluate
from negrec_lib.oracle import popularity_evaluate
from negrec_lib.study.baselines import SessionKNNScorer, TransitionScorer
from negrec_lib.tokens import N_RESERVED


def _toy(seed: int = 0, n: int = 40, v: int = 15, L: int = 6):
    g = np.random.default_rng(seed)
    tracks = g.integers(N_RESERVED, v, size=(n, L))
    ends = g.integers(2, L + 1, size=n)
    pop = np.bincount(np.concatenate([tracks[i, : ends[i]] for i in range(n)]), minlength=v)
    data = SimpleNamespace(
        vocab_size=v,
        tracks=torch.as_tensor(tracks),
        day=torch.as_tensor(g.integers(0, 3, size=n)),
        splits={"train_rows": torch.arange(n), "train_end": torch.as_tensor(ends)},
        popularity=torch.as_tensor(pop),
    )
    return data, tracks, ends, pop


def test_markov_scores_are_transition_counts_then_popularity():
    data, tracks, ends, pop = _toy()
    counts = np.zeros((15, 15))
    for i in range(len(tracks)):
        for a, b in zip(tracks[i, : ends[i] - 1], tracks[i, 1 : ends[i]]):
            counts[a, b] += 1
    m = TransitionScorer(data)
    prefix = torch.tensor([[5, 7, 9], [4, 3, 0]])
    s = m.next_track_hidden(prefix, torch.tensor([3, 2])).numpy()
    for row, last in enumerate([9, 3]):
        order = [int(i) for i in np.argsort(-s[row])[: 15 - N_RESERVED]]
        want = sorted(range(N_RESERVED, 15), key=lambda v: (-counts[last, v], -pop[v]))
        # equal (count, popularity) pairs may come in either order
        assert [(counts[last, v], pop[v]) for v in order] == [
            (counts[last, v], pop[v]) for v in want
        ]
    assert np.isneginf(s[:, :N_RESERVED]).all()


def _brute_sims(q_tracks, length, sets, recency, own=None):
    q = np.zeros(15)
    for j in range(length):
        q[q_tracks[j]] += (j + 1) / length if recency else 1.0
    sims = []
    for i, s in enumerate(sets):
        vec = np.zeros(15)
        vec[list(s)] = 1
        sims.append(0.0 if i == own else q @ vec / (np.linalg.norm(q) * np.sqrt(len(s))))
    return np.array(sims)


@pytest.mark.parametrize("recency", [False, True])
def test_session_knn_matches_a_brute_force_loop(recency):
    data, tracks, ends, pop = _toy(1)
    sets = [set(tracks[i, : ends[i]].tolist()) for i in range(len(tracks))]
    prefix = np.array([[4, 6, 6, 9], [12, 3, 0, 0]])
    lengths = np.array([4, 2])
    own = [2, None]  # example 0 is session 2's own prefix
    rows = torch.tensor([2, 99])
    # every session a neighbour: the scores are exactly the similarity-weighted votes
    everyone = SessionKNNScorer(data, k=len(tracks), recency=recency)
    got = everyone.next_track_hidden(
        torch.as_tensor(prefix), torch.as_tensor(lengths), rows
    ).numpy()
    real = slice(N_RESERVED, None)
    for b in range(2):
        sims = _brute_sims(prefix[b], lengths[b], sets, recency, own[b])
        want = np.zeros(15)
        for i, s in enumerate(sets):
            want[list(s)] += sims[i]
        assert np.allclose(got[b, real], want[real] + 1e-3 * 0.5 * pop[real] / pop.max(), atol=1e-5)
    # k = 5: the chosen neighbours are five sessions of the largest similarities
    top, w = SessionKNNScorer(data, k=5, recency=recency).neighbours(
        torch.as_tensor(prefix), torch.as_tensor(lengths), rows
    )
    for b in range(2):
        sims = _brute_sims(prefix[b], lengths[b], sets, recency, own[b])
        assert np.allclose(np.sort(w[b]), np.sort(sims)[-5:])
        assert np.allclose(w[b], sims[top[b]])


def test_baselines_rank_through_evaluate_and_beat_popularity(tmp_path):
    cfg = profile_config("ci")
    data = SessionData.load(ensure_dataset(cfg.sim, cfg.data, tmp_path))
    pop = popularity_evaluate(data, "test").metrics["hr@10"]
    for scorer in (TransitionScorer(data), SessionKNNScorer(data, k=50)):
        r = evaluate(scorer, data, "test", batch_size=256)
        assert r.metrics["n"] == data.n_examples("test")
        assert r.metrics["hr@10"] > pop + 0.05, (type(scorer).__name__, r.metrics["hr@10"], pop)


def test_baselines_table_writes_one_row_per_method_and_resumes(tmp_path, monkeypatch):
    import yaml

    from negrec_lib.study.baselines import baselines_table

    monkeypatch.chdir(tmp_path)
    spec = {
        "name": "tiny",
        "base": {"profile": "ci", "set": {"sim.sessions": 800, "sim.tracks": 200}},
        "seeds": [0],
        "variants": [{"name": "a"}, {"name": "b", "set": {"loss.skip_weight": 1}}],
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(spec))
    df = baselines_table("tiny.yaml", "res", progress=False)
    assert sorted(df["method"]) == sorted(["popularity", "markov", "sknn", "vsknn", "oracle"])
    assert (df["data_seed"] == 0).all() and df["test_hr@10"].between(0, 1).all()
    again = baselines_table("tiny.yaml", "res", progress=False)  # nothing new to compute
    assert len(again) == 5
    assert len(pd.read_csv(tmp_path / "res" / "baselines.csv")) == 5
