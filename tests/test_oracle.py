"""The oracle upper bound: exact ranks from the simulator's true next-track distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from negrec_lib.config import DataConfig, SimConfig
from negrec_lib.data.cache import ensure_dataset
from negrec_lib.data.sessions import SessionData
from negrec_lib.oracle import load_truth, oracle_evaluate


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> SessionData:
    sim = SimConfig(sessions=700, tracks=300, days=4, seed=5)
    return SessionData.load(ensure_dataset(sim, DataConfig(), tmp_path_factory.mktemp("d")))


def test_oracle_ranks_equal_brute_force(data):
    truth = load_truth(data)
    res = oracle_evaluate(data, "test", truth)
    vocab = data.vocab()
    lat = dict(zip(vocab["id"], truth.track_index(vocab["track_id"].tolist())))
    sids = data.session_ids()
    rows = data.splits["test_rows"].numpy()
    pos = data.splits["test_pos"].numpy()
    for i in range(0, len(rows), 53):
        r, t = rows[i], pos[i]
        s = truth.session_index([sids[r]])
        prev = np.array([lat[int(data.tracks[r, t - 1])]])
        p = truth.next_track_probs(s, prev, np.array([t + 1]))[0]
        target = int(data.tracks[r, t])
        mine = p[lat[target]]
        others = [p[lat[v]] for v in vocab["id"] if v != target]
        expected = 1 + sum(o >= mine for o in others)  # ties against the oracle
        assert res.ranks[i] == expected


def test_oracle_beats_popularity(data):
    res = oracle_evaluate(data, "test")
    top = set(torch.topk(data.popularity.float(), 10).indices.tolist())
    pop = np.mean([int(t) in top for b in data.eval_batches("test", 512) for t in b.targets])
    assert res.metrics["hr@10"] > pop + 0.05
    assert res.metrics["oracle_approx"] == 0


def test_bounds_table_covers_each_dataset_once(tmp_path, monkeypatch):
    import yaml

    from negrec_lib.study.bounds import bounds_table

    monkeypatch.setenv("NEGREC_DATA", str(tmp_path / "data"))
    tiny = {"sim.sessions": 400, "sim.tracks": 200, "sim.days": 4}
    spec = tmp_path / "e.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "b",
                "seeds": [0],
                "base": {"profile": "ci", "set": tiny},
                "variants": [
                    {"name": "a", "set": {"loss.skip_weight": 0}},
                    {"name": "a2", "set": {"loss.skip_weight": 1}},  # same data as a
                    {"name": "c", "set": {"sim.skip_signal": 0.0}},
                ],
            }
        )
    )
    df = bounds_table(spec, tmp_path / "res")
    assert sorted(set(df["variant"])) == ["a", "c"]
    assert (tmp_path / "res" / "b_bounds.csv").is_file()
    for v in ("a", "c"):
        got = df[df["variant"] == v].set_index("kind")["test_hr@10"]
        assert got["oracle"] > got["popularity"]
    assert df["command"].str.startswith("negrec bounds").all()


def test_a_prepared_folder_moves_with_its_simulation(tmp_path):
    """The manifest points at the ground truth relative to itself: move both, the oracle works."""
    import shutil
    from pathlib import Path

    from negrec_lib.config import DataConfig
    from negrec_lib.data.prepare import prepare
    from negrec_lib.data.sessions import SessionData
    from negrec_lib.oracle import oracle_evaluate
    from negrec_lib.sim import simulate

    simulate(tmp_path / "a" / "sim", sessions=300, tracks=100, seed=1, days=4, progress=False)
    man = prepare(tmp_path / "a" / "sim", tmp_path / "a" / "prep", DataConfig(), progress=False)
    assert not Path(man["ground_truth"]).is_absolute()
    before = oracle_evaluate(SessionData.load(tmp_path / "a" / "prep")).metrics["hr@10"]
    shutil.move(tmp_path / "a", tmp_path / "b")
    after = oracle_evaluate(SessionData.load(tmp_path / "b" / "prep")).metrics["hr@10"]
    assert after == before
