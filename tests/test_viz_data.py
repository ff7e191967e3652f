"""Tests of the data chapter's statistics and figures (`negrec_lib.viz.data`).

Statistics are checked against values worked out by hand on a small hand-made log; figures are
checked on a tiny simulated log for what a reader relies on: the right number of bars, lines
or cells, labelled axes and a title that states what the data shows.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from negrec_lib.data.mssd import read_log  # noqa: E402
from negrec_lib.sim import simulate  # noqa: E402
from negrec_lib.viz import data as viz  # noqa: E402


# ------------------------------------------------------------------------------ a hand-made log
def _session(sid: str, strengths: list[int], context: str, shuffle: bool, premium: bool
             ) -> list[dict]:
    n = len(strengths)
    return [{"session_id": sid, "session_position": i + 1, "session_length": n,
             "track_id_clean": f"t_{sid}_{i}", "skip_1": s >= 3, "skip_2": s >= 2,
             "skip_3": s >= 1, "not_skipped": s == 0, "context_switch": False,
             "hist_user_behavior_is_shuffle": shuffle, "premium": premium,
             "context_type": context, "hist_user_behavior_reason_start": "fwdbtn",
             "hist_user_behavior_reason_end": "trackdone"} for i, s in enumerate(strengths)]


@pytest.fixture()
def handmade() -> pd.DataFrame:
    """Three sessions, 23 rows: every statistic below is counted by hand from this."""
    rows = (_session("a", [3] * 5 + [2] * 5 + [1] * 5 + [0] * 5, "radio", True, True)
            + _session("b", [0, 3], "charts", False, False)
            + _session("c", [2], "user_collection", False, True))
    df = pd.DataFrame(rows)
    df.loc[19, "not_skipped"] = False                 # ended by endplay, although not skipped
    df.loc[19, "hist_user_behavior_reason_end"] = "endplay"
    df.loc[5, "context_switch"] = True
    df.loc[[1, 2], "hist_user_behavior_reason_start"] = "trackdone"
    df.loc[3, "hist_user_behavior_reason_start"] = "clickrow"
    df.loc[[20, 21], "hist_user_behavior_reason_end"] = "endplay"
    return df


def test_skip_strength(handmade):
    s = viz.skip_strength(handmade)
    assert s.tolist() == [3] * 5 + [2] * 5 + [1] * 5 + [0] * 5 + [0, 3, 2]


def test_marginals_values(handmade):
    t = viz.marginals(handmade).set_index("statistic", drop=False)
    assert len(t) == len(viz.REAL_MARGINALS)
    assert list(t.columns) == ["group", "statistic", "simulated", "real", "low", "high", "inside"]

    def value(stat: str, group: str | None = None) -> float:
        rows = t[t["statistic"] == stat]
        if group is not None:
            rows = rows[rows["group"] == group]
        assert len(rows) == 1, stat
        return float(rows["simulated"].iloc[0])

    expected = {
        "skip_1 rate": 6 / 23, "skip_2 rate": 12 / 23, "skip_3 rate": 17 / 23,
        "not_skipped rate": 5 / 23, "not_skipped = not skip_3": 22 / 23,
        "skip_2 rate at position 1": 2 / 3, "skip_2 rate at positions 16-20": 0.0,
        "shuffle rate": 20 / 23, "premium rate": 21 / 23, "context_switch rate": 1 / 23,
        "share of sessions with 20 tracks": 1 / 3,
    }
    for stat, v in expected.items():
        assert value(stat) == pytest.approx(v), stat
    ctx = "context share of sessions"
    for name, v in {"radio": 1 / 3, "charts": 1 / 3, "user_collection": 1 / 3,
                    "catalog": 0.0, "editorial_playlist": 0.0}.items():
        assert value(name, ctx) == pytest.approx(v), name
    assert value("fwdbtn", "reason_start share") == pytest.approx(20 / 23)
    assert value("trackdone", "reason_start share") == pytest.approx(2 / 23)
    assert value("clickrow", "reason_start share") == pytest.approx(1 / 23)
    assert value("trackdone", "reason_end share") == pytest.approx(20 / 23)
    assert value("endplay", "reason_end share") == pytest.approx(3 / 23)
    assert value("fwdbtn", "reason_end share") == 0.0


def test_marginals_inside_flags(handmade):
    t = viz.marginals(handmade)
    inside = dict(zip(t["group"] + "|" + t["statistic"], t["inside"]))
    assert not inside["sessions|premium rate"]                      # 0.913 > 0.90
    assert inside["sessions|context_switch rate"]                   # 0.0435 in 0.035-0.046
    assert not inside["context share of sessions|charts"]            # 1/3 vs about 0.02
    assert inside["context share of sessions|catalog"] is False      # 0 vs 0.17-0.23
    assert inside["skips|not_skipped = not skip_3"]                  # 0.957 in 0.95-0.99
    # "about v" becomes v +- POINT_TOLERANCE, never below 0
    ref = {r.statistic: r for r in viz.REAL_MARGINALS}
    assert ref["share of sessions with 20 tracks"].low == pytest.approx(0.45 - viz.POINT_TOLERANCE)
    assert ref["charts"].low == 0.0


def test_marginals_accept_categorical_columns(handmade):
    cat = handmade.astype({"context_type": "category", "hist_user_behavior_reason_end": "category"})
    pd.testing.assert_frame_equal(viz.marginals(cat), viz.marginals(handmade))


def test_skip_rate_by_fit():
    fit = np.linspace(-1, 1, 1000)
    skipped = fit < 0
    t = viz.skip_rate_by_fit(fit, skipped, bins=10)
    assert len(t) == 10
    assert (t["rows"] == 100).all()
    assert t["skip_rate"].tolist() == [1.0] * 5 + [0.0] * 5
    assert t["fit"].is_monotonic_increasing
    assert t["percentile"].iloc[0] == pytest.approx(5.0)
    assert t["percentile"].iloc[-1] == pytest.approx(95.0)


def test_play_counts_and_top_share():
    tracks = ["head"] * 50 + [f"tail{i}" for i in range(99)]
    df = pd.DataFrame({"track_id_clean": tracks})
    counts = viz.play_counts(df)
    assert counts.index[0] == "head" and counts.iloc[0] == 50 and len(counts) == 100
    assert viz.top_share(df, 0.01) == pytest.approx(50 / 149)
    assert viz.top_share(df, 0.10) == pytest.approx(59 / 149)


def test_manifest_summary():
    manifest = {"sessions_read": 1000, "sessions_kept": 900,
                "sessions_dropped": {"no_skip": 80, "too_short": 20}, "n_tracks": 321,
                "vocab_size": 324, "split": {"kind": "paper"},
                "split_sizes": {"train_sessions": 900, "train_targets": 12000, "valid": 900,
                                "test": 900},
                "skip_rate": 0.51234, "config": {"skip_strength": 2}}
    t = viz.manifest_summary(manifest)
    values = dict(zip(t["quantity"], t["value"]))
    assert values["sessions read"] == "1,000"
    assert values["sessions kept"] == "900 (90.0%)"
    assert t["quantity"].tolist()[1:3] == ["  dropped: no_skip", "  dropped: too_short"]
    assert values["tracks in the vocabulary"] == "321"
    assert values["skip rate of kept tracks (strength >= 2)"] == "0.512"


# ------------------------------------------------------------------------------ figures
@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("viz") / "sim"
    simulate(out, sessions=300, tracks=200, seed=5, days=2, progress=False)
    return read_log(out)


def _labelled(fig: Figure) -> None:
    main = fig.axes[0]
    for ax in fig.axes:
        if ax is not main and main.get_shared_x_axes().joined(main, ax):
            continue                                   # a twin axis carries extra labels only
        assert ax.get_title(), "every panel has a title"
        assert ax.get_xlabel(), "every panel labels its x axis"
    assert fig.axes[0].get_ylabel() or fig.axes[0].get_yticklabels()


def _bars(ax) -> int:
    return sum(len(c) for c in ax.containers)


def test_plot_sessions(log):
    fig = viz.plot_sessions(log, n=7, seed=1)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.images) == 1
    assert ax.images[0].get_array().shape == (7, int(log["session_position"].max()))
    assert len(ax.get_yticks()) == 7
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4
    _labelled(fig)


def test_plot_skip_strength(log):
    fig = viz.plot_skip_strength(log)
    ax = fig.axes[0]
    assert _bars(ax) == 4
    heights = [p.get_height() for c in ax.containers for p in c]
    assert sum(heights) == pytest.approx(1.0)
    label = viz.skip_strength(log).ge(2).mean()
    assert ax.get_title().startswith(f"{label:.0%} of tracks")
    _labelled(fig)


def test_plot_skip_by_position(log):
    fig = viz.plot_skip_by_position(log)
    ax = fig.axes[0]
    n_pos = log["session_position"].nunique()
    data_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == n_pos]
    assert len(data_lines) == 3                                  # skip_1, skip_2, skip_3
    assert len(ax.get_legend().get_texts()) == 4                 # + the real range
    _labelled(fig)


def test_plot_skip_by_context(log):
    fig = viz.plot_skip_by_context(log)
    ax = fig.axes[0]
    assert _bars(ax) == log["context_type"].astype(str).nunique()
    assert all("of sessions" in t.get_text() for t in ax.get_yticklabels())
    rates = log.groupby(log["context_type"].astype(str))["skip_2"].mean()
    assert ax.get_title().startswith(f"{rates.idxmax()} is skipped most")
    _labelled(fig)


def test_plot_session_lengths(log):
    fig = viz.plot_session_lengths(log)
    lengths = log.drop_duplicates("session_id")["session_length"]
    assert _bars(fig.axes[0]) == lengths.max() - lengths.min() + 1
    _labelled(fig)


def test_plot_popularity(log):
    fig = viz.plot_popularity(log)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.get_lines()[0].get_xdata()) == log["track_id_clean"].nunique()
    assert "of plays" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    _labelled(fig)


def test_plot_reasons(log):
    fig = viz.plot_reasons(log)
    ax = fig.axes[0]
    n_reasons = len(ax.get_yticklabels())
    assert _bars(ax) == 2 * n_reasons                            # start and end for each
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["reason_start", "reason_end"]
    _labelled(fig)


def test_plot_skip_vs_fit():
    rng = np.random.default_rng(0)
    fit = rng.normal(size=2000)
    curves = {"flat": viz.skip_rate_by_fit(fit, rng.random(2000) < 0.5, bins=8),
              "steep": viz.skip_rate_by_fit(fit, fit < 0, bins=8)}
    fig = viz.plot_skip_vs_fit(curves)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert all(len(ln.get_xdata()) == 8 for ln in ax.get_lines())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["flat", "steep"]
    _labelled(fig)


def test_plot_marginals(handmade):
    table = viz.marginals(handmade)
    fig = viz.plot_marginals(table)
    ax, right = fig.axes                              # the statistics, and their values
    assert len(ax.get_yticks()) == len(table) == len(right.get_yticks())
    markers = [c for c in ax.collections if isinstance(c, PathCollection)]   # scatter points
    assert sum(len(c.get_offsets()) for c in markers) == len(table)
    n_inside = int(table["inside"].sum())
    assert ax.get_title() == f"{n_inside} of {len(table)} statistics fall inside the real range"
    assert right.get_yticklabels()[0].get_text().endswith(f"({table['real'].iloc[0]})")
    assert len(fig.legends) == 1
    _labelled(fig)


def test_new_figures_are_the_current_pyplot_figure(log):
    """A notebook cell ends with plt.show(): the figure must be the one pyplot shows."""
    fig = viz.plot_skip_strength(log)
    assert plt.gcf() is fig


def test_draws_into_given_axes(log):
    fig = Figure()
    ax = fig.add_subplot()
    assert viz.plot_session_lengths(log, ax=ax) is fig
