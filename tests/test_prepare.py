"""simulate -> prepare -> load, checked against an independent pandas reading of the raw files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from negrec_lib.config import DataConfig
from negrec_lib.data.prepare import prepare
from negrec_lib.data.sessions import SessionData
from negrec_lib.errors import ConfigError, PreparedDataError
from negrec_lib.sim import simulate
from negrec_lib.tokens import N_RESERVED, OOV_ID, PAD_ID


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "mssd"
    simulate(out, sessions=800, tracks=400, skip_signal=0.8, seed=3, days=4, progress=False)
    return out


@pytest.fixture(scope="module")
def logs(raw) -> pd.DataFrame:
    """The raw logs read with plain pandas, independently of negrec's reader."""
    files = sorted((raw / "training_set").glob("log_*.csv"))
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    for c in ("skip_1", "skip_2", "skip_3"):
        df[c] = df[c].astype(str).str.lower().eq("true")
    df["strength"] = df[["skip_1", "skip_2", "skip_3"]].sum(axis=1)
    return df


def _expected_sessions(logs: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    g = logs.groupby("session_id", sort=False)
    per = pd.DataFrame(
        {
            "length": g.size(),
            "skips": g["strength"].apply(lambda s: int((s >= cfg.skip_strength).sum())),
            "date": g["date"].first(),
        }
    )
    per["keep"] = per["length"] >= cfg.min_length
    if cfg.require_skip:
        per["keep"] &= per["skips"] > 0
    return per


def _prep(raw, tmp_path, **kw) -> tuple[dict, SessionData]:
    out = tmp_path / f"prep-{len(list(tmp_path.iterdir()))}"
    man = prepare(raw, out, DataConfig(**kw), progress=False)
    return man, SessionData.load(out)


def test_round_trip_exact_counts_and_sequences(raw, logs, tmp_path):
    cfg = DataConfig()
    man, data = _prep(raw, tmp_path)
    per = _expected_sessions(logs, cfg)
    assert man["rows_read"] == len(logs)
    assert man["sessions_kept"] == int(per["keep"].sum()) == len(data)
    assert man["sessions_dropped"].get("too_short", 0) == int((per["length"] < 6).sum())
    assert man["sessions_dropped"].get("no_skip", 0) == int(
        ((per["length"] >= 6) & (per["skips"] == 0)).sum()
    )
    # Every kept session's tracks and skip strengths, decoded through the vocabulary.
    vocab = data.vocab().set_index("id")["track_id"]
    sids = data.session_ids()
    assert list(sids) == list(per.index[per["keep"]])
    by_sid = {k: v for k, v in logs.groupby("session_id", sort=False)}
    for row in range(len(data)):
        sess = by_sid[sids[row]]
        n = int(data.length[row])
        assert n == len(sess) and int(data.offset[row]) == 0
        ids = data.tracks[row, :n].numpy()
        assert list(vocab.loc[ids]) == list(sess["track_id_clean"])
        assert list(data.skip[row, :n].numpy()) == list(sess["strength"])
        assert (data.tracks[row, n:] == PAD_ID).all()
    # Checksums of the inputs.
    for item in man["inputs"]:
        assert item["sha256"] == hashlib.sha256(Path(item["file"]).read_bytes()).hexdigest()


def test_vocabulary_is_frequency_ordered_with_reserved_ids(raw, logs, tmp_path):
    man, data = _prep(raw, tmp_path)
    vocab = data.vocab()
    assert vocab["id"].iloc[0] == N_RESERVED and (np.diff(vocab["id"]) == 1).all()
    assert (np.diff(vocab["count"]) <= 0).all()
    kept = logs[logs["session_id"].isin(set(data.session_ids()))]
    expected = kept["track_id_clean"].value_counts()
    assert dict(zip(vocab["track_id"], vocab["count"])) == expected.to_dict()
    assert man["vocab_size"] == len(vocab) + N_RESERVED == data.vocab_size


def test_paper_split_leaks_no_target_into_training_input(raw, tmp_path):
    _, data = _prep(raw, tmp_path)
    n = len(data)
    s = data.splits
    assert torch.equal(s["test_pos"], data.length[s["test_rows"]].long() - 1)
    assert torch.equal(s["valid_pos"], data.length[s["valid_rows"]].long() - 2)
    seen = torch.zeros_like(data.tracks, dtype=torch.bool)  # positions used in training
    total = 0
    for batch in data.train_batches(64, torch.Generator().manual_seed(0)):
        total += len(batch.rows)
        for r, row in enumerate(batch.rows):
            k = int(batch.lengths[r])
            assert torch.equal(batch.tracks[r, :k], data.tracks[row, :k].long())
            assert (batch.tracks[r, k:] == PAD_ID).all()
            seen[row, :k] = True
    assert total == n
    for split in ("valid", "test"):
        for b in data.eval_batches(split, 100):
            assert not seen[b.rows, b.lengths].any(), f"a {split} target was a training input"
            assert torch.equal(b.targets, data.tracks[b.rows, b.lengths].long())
            assert (b.tracks.gather(1, b.lengths[:, None]) == PAD_ID).all()


def test_by_day_split_trains_on_earlier_days_only(raw, logs, tmp_path):
    man, data = _prep(raw, tmp_path, split="by_day", valid_days=1, test_days=1)
    s = data.splits
    train_days = data.day[s["train_rows"]]
    assert train_days.max() < data.day[s["valid_rows"]].min()
    assert data.day[s["valid_rows"]].max() < data.day[s["test_rows"]].min()
    assert not set(s["train_rows"].tolist()) & set(s["test_rows"].tolist())
    assert man["split"]["test_days"] == [sorted(logs["date"].unique())[-1]]
    # Vocabulary from training days only: a track first heard on a test day is OOV there.
    train_tracks = set(data.tracks[s["train_rows"]].flatten().tolist()) - {PAD_ID}
    assert OOV_ID not in train_tracks
    test_targets = data.tracks[s["test_rows"], s["test_pos"]]
    assert set(test_targets.tolist()) <= train_tracks | {OOV_ID}


def test_by_day_all_targets(raw, tmp_path):
    _, data = _prep(raw, tmp_path, split="by_day", eval_targets="all")
    s = data.splits
    n_expected = int((data.length[torch.unique(s["test_rows"])] - 1).sum())
    assert len(s["test_rows"]) == n_expected
    assert int(s["test_pos"].min()) == 1


def test_filters_and_skip_strength_are_configurable(raw, logs, tmp_path):
    for kw in (
        {"min_length": 15},
        {"require_skip": False},
        {"skip_strength": 3},
        {"skip_strength": 1, "min_length": 12},
    ):
        cfg = DataConfig(**kw)
        man, data = _prep(raw, tmp_path, **kw)
        assert man["sessions_kept"] == int(_expected_sessions(logs, cfg)["keep"].sum())
        assert data.skip_strength == cfg.skip_strength


def test_max_length_keeps_the_last_tracks(raw, logs, tmp_path):
    man, data = _prep(raw, tmp_path, max_length=8)
    sids = data.session_ids()
    by_sid = dict(list(logs.groupby("session_id", sort=False)))
    for row in range(0, len(data), 37):
        sess = by_sid[sids[row]]
        assert int(data.offset[row]) == max(len(sess) - 8, 0)
        assert data.tracks.shape[1] == 8
    b = next(data.eval_batches("test", 10**6))
    lengths = np.array([len(by_sid[sid]) for sid in sids[b.rows.numpy()]])
    assert (b.position.numpy() == lengths).all()  # session position of the target


def test_min_count_and_oov(raw, tmp_path):
    man, data = _prep(raw, tmp_path, min_count=3)
    assert (data.vocab()["count"] >= 3).all()
    assert man["oov_positions"] == int((data.tracks == OOV_ID).sum()) > 0
    man2, data2 = _prep(raw, tmp_path, min_count=3, oov="drop_session")
    assert man2["sessions_dropped"]["oov_track"] == int((data.tracks == OOV_ID).any(1).sum())
    assert not (data2.tracks == OOV_ID).any()


def test_max_sessions(raw, tmp_path):
    man, data = _prep(raw, tmp_path, max_sessions=100)
    assert len(data) == 100 and man["sessions_kept"] == 100


def test_refuses_to_overwrite_without_force(raw, tmp_path):
    out = tmp_path / "p"
    prepare(raw, out, progress=False)
    marker = (out / "manifest.json").read_text()
    with pytest.raises(PreparedDataError, match="force=True"):
        prepare(raw, out, progress=False)
    assert (out / "manifest.json").read_text() == marker
    man = prepare(raw, out, DataConfig(min_length=10), force=True, progress=False)
    assert json.loads((out / "manifest.json").read_text())["config"]["min_length"] == 10
    assert man["config"]["min_length"] == 10
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # no temporary folders left


def test_bad_configs_and_folders(raw, tmp_path):
    with pytest.raises(ConfigError, match="by_day"):
        prepare(
            raw,
            tmp_path / "x",
            DataConfig(split="by_day", valid_days=2, test_days=2),
            progress=False,
        )
    with pytest.raises(ConfigError, match="min_length"):
        prepare(raw, tmp_path / "y", DataConfig(min_length=2), progress=False)
    with pytest.raises(PreparedDataError, match="manifest"):
        SessionData.load(tmp_path)


def test_features_align_with_vocabulary(raw, tmp_path):
    man, data = _prep(raw, tmp_path)
    assert man["features"]["available"] and man["features"]["missing"] == 0
    assert data.features.shape == (data.vocab_size, len(man["features"]["columns"]))
    tf = pd.concat([pd.read_csv(f) for f in sorted((raw / "track_features").glob("tf_*.csv"))])
    tf = tf.set_index("track_id")
    vocab = data.vocab()
    dur = tf.loc[vocab["track_id"], "duration"].to_numpy()
    col = man["features"]["columns"].index("duration")
    f = data.features[N_RESERVED:, col].numpy()
    assert np.corrcoef(dur, f)[0, 1] > 0.999  # standardised, same order
    assert (data.features[:N_RESERVED] == 0).all()
