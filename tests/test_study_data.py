"""Tests of the data chapter's statistics (`negrec_lib.study.data`), against values worked out
by hand on a small hand-made log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from negrec_lib.study import data as sd


# ------------------------------------------------------------------------------ a hand-made log
def _session(
    sid: str, strengths: list[int], context: str, shuffle: bool, premium: bool
) -> list[dict]:
    n = len(strengths)
    return [
        {
            "session_id": sid,
            "session_position": i + 1,
            "session_length": n,
            "track_id_clean": f"t_{sid}_{i}",
            "skip_1": s >= 3,
            "skip_2": s >= 2,
            "skip_3": s >= 1,
            "not_skipped": s == 0,
            "context_switch": False,
            "hist_user_behavior_is_shuffle": shuffle,
            "premium": premium,
            "context_type": context,
            "hist_user_behavior_reason_start": "fwdbtn",
            "hist_user_behavior_reason_end": "trackdone",
        }
        for i, s in enumerate(strengths)
    ]


@pytest.fixture()
def handmade() -> pd.DataFrame:
    """Three sessions, 23 rows: every statistic below is counted by hand from this."""
    rows = (
        _session("a", [3] * 5 + [2] * 5 + [1] * 5 + [0] * 5, "radio", True, True)
        + _session("b", [0, 3], "charts", False, False)
        + _session("c", [2], "user_collection", False, True)
    )
    df = pd.DataFrame(rows)
    df.loc[19, "not_skipped"] = False  # ended by endplay, although not skipped
    df.loc[19, "hist_user_behavior_reason_end"] = "endplay"
    df.loc[5, "context_switch"] = True
    df.loc[[1, 2], "hist_user_behavior_reason_start"] = "trackdone"
    df.loc[3, "hist_user_behavior_reason_start"] = "clickrow"
    df.loc[[20, 21], "hist_user_behavior_reason_end"] = "endplay"
    return df


def test_skip_strength(handmade):
    s = sd.skip_strength(handmade)
    assert s.tolist() == [3] * 5 + [2] * 5 + [1] * 5 + [0] * 5 + [0, 3, 2]


def test_marginals_values(handmade):
    t = sd.marginals(handmade).set_index("statistic", drop=False)
    assert len(t) == len(sd.REAL_MARGINALS)
    assert list(t.columns) == ["group", "statistic", "simulated", "real", "low", "high", "inside"]

    def value(stat: str, group: str | None = None) -> float:
        rows = t[t["statistic"] == stat]
        if group is not None:
            rows = rows[rows["group"] == group]
        assert len(rows) == 1, stat
        return float(rows["simulated"].iloc[0])

    expected = {
        "skip_1 rate": 6 / 23,
        "skip_2 rate": 12 / 23,
        "skip_3 rate": 17 / 23,
        "not_skipped rate": 5 / 23,
        "not_skipped = not skip_3": 22 / 23,
        "skip_2 rate at position 1": 2 / 3,
        "skip_2 rate at positions 16-20": 0.0,
        "shuffle rate": 20 / 23,
        "premium rate": 21 / 23,
        "context_switch rate": 1 / 23,
        "share of sessions with 20 tracks": 1 / 3,
    }
    for stat, v in expected.items():
        assert value(stat) == pytest.approx(v), stat
    ctx = "context share of sessions"
    for name, v in {
        "radio": 1 / 3,
        "charts": 1 / 3,
        "user_collection": 1 / 3,
        "catalog": 0.0,
        "editorial_playlist": 0.0,
    }.items():
        assert value(name, ctx) == pytest.approx(v), name
    assert value("fwdbtn", "reason_start share") == pytest.approx(20 / 23)
    assert value("trackdone", "reason_start share") == pytest.approx(2 / 23)
    assert value("clickrow", "reason_start share") == pytest.approx(1 / 23)
    assert value("trackdone", "reason_end share") == pytest.approx(20 / 23)
    assert value("endplay", "reason_end share") == pytest.approx(3 / 23)
    assert value("fwdbtn", "reason_end share") == 0.0


def test_marginals_inside_flags(handmade):
    t = sd.marginals(handmade)
    inside = dict(zip(t["group"] + "|" + t["statistic"], t["inside"]))
    assert not inside["sessions|premium rate"]  # 0.913 > 0.90
    assert inside["sessions|context_switch rate"]  # 0.0435 in 0.035-0.046
    assert not inside["context share of sessions|charts"]  # 1/3 vs about 0.02
    assert inside["context share of sessions|catalog"] is False  # 0 vs 0.17-0.23
    assert inside["skips|not_skipped = not skip_3"]  # 0.957 in 0.95-0.99
    # "about v" becomes v +- POINT_TOLERANCE, never below 0
    ref = {r.statistic: r for r in sd.REAL_MARGINALS}
    assert ref["share of sessions with 20 tracks"].low == pytest.approx(0.45 - sd.POINT_TOLERANCE)
    assert ref["charts"].low == 0.0


def test_marginals_accept_categorical_columns(handmade):
    cat = handmade.astype({"context_type": "category", "hist_user_behavior_reason_end": "category"})
    pd.testing.assert_frame_equal(sd.marginals(cat), sd.marginals(handmade))


def test_skip_rate_by_fit():
    fit = np.linspace(-1, 1, 1000)
    skipped = fit < 0
    t = sd.skip_rate_by_fit(fit, skipped, bins=10)
    assert len(t) == 10
    assert (t["rows"] == 100).all()
    assert t["skip_rate"].tolist() == [1.0] * 5 + [0.0] * 5
    assert t["fit"].is_monotonic_increasing
    assert t["percentile"].iloc[0] == pytest.approx(5.0)
    assert t["percentile"].iloc[-1] == pytest.approx(95.0)


def test_play_counts_and_top_share():
    tracks = ["head"] * 50 + [f"tail{i}" for i in range(99)]
    df = pd.DataFrame({"track_id_clean": tracks})
    counts = sd.play_counts(df)
    assert counts.index[0] == "head" and counts.iloc[0] == 50 and len(counts) == 100
    assert sd.top_share(df, 0.01) == pytest.approx(50 / 149)
    assert sd.top_share(df, 0.10) == pytest.approx(59 / 149)


def test_manifest_summary():
    manifest = {
        "sessions_read": 1000,
        "sessions_kept": 900,
        "sessions_dropped": {"no_skip": 80, "too_short": 20},
        "n_tracks": 321,
        "vocab_size": 324,
        "split": {"kind": "paper"},
        "split_sizes": {"train_sessions": 900, "train_targets": 12000, "valid": 900, "test": 900},
        "skip_rate": 0.51234,
        "config": {"skip_strength": 2},
    }
    t = sd.manifest_summary(manifest)
    values = dict(zip(t["quantity"], t["value"]))
    assert values["sessions read"] == "1,000"
    assert values["sessions kept"] == "900 (90.0%)"
    assert t["quantity"].tolist()[1:3] == ["  dropped: no_skip", "  dropped: too_short"]
    assert values["tracks in the vocabulary"] == "321"
    assert values["skip rate of kept tracks (strength >= 2)"] == "0.512"
