"""Tests of the data chapter's figures (`negrec_lib.viz.data`) on a tiny simulated log: the right
number of bars, lines or cells, labelled axes and a title that states what the data shows. The
statistics themselves are tested in tests/test_study_data.py.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from negrec_lib.data.mssd import read_log
from negrec_lib.sim import simulate
from negrec_lib.study import data as sd
from negrec_lib.viz import data as viz


# ------------------------------------------------------------------------------ figures
@pytest.fixture(scope="module")
def log(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("viz") / "sim"
    simulate(out, sessions=300, tracks=200, seed=5, days=2, progress=False)
    return read_log(out)


def _labelled(fig: Figure) -> None:
    main = fig.axes[0]
    for ax in fig.axes:
        if ax is not main and main.get_shared_x_axes().joined(main, ax):
            continue  # a twin axis carries extra labels only
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
    label = sd.skip_strength(log).ge(2).mean()
    assert ax.get_title().startswith(f"{label:.0%} of tracks")
    _labelled(fig)


def test_plot_skip_by_position(log):
    fig = viz.plot_skip_by_position(log)
    ax = fig.axes[0]
    n_pos = log["session_position"].nunique()
    data_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == n_pos]
    assert len(data_lines) == 3  # skip_1, skip_2, skip_3
    assert len(ax.get_legend().get_texts()) == 4  # + the real range
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
    assert _bars(ax) == 2 * n_reasons  # start and end for each
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["reason_start", "reason_end"]
    _labelled(fig)


def test_plot_skip_vs_fit():
    rng = np.random.default_rng(0)
    fit = rng.normal(size=2000)
    curves = {
        "flat": sd.skip_rate_by_fit(fit, rng.random(2000) < 0.5, bins=8),
        "steep": sd.skip_rate_by_fit(fit, fit < 0, bins=8),
    }
    fig = viz.plot_skip_vs_fit(curves)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2
    assert all(len(ln.get_xdata()) == 8 for ln in ax.get_lines())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["flat", "steep"]
    _labelled(fig)


def test_plot_marginals(log):
    table = sd.marginals(log)
    fig = viz.plot_marginals(table)
    ax, right = fig.axes  # the statistics, and their values
    assert len(ax.get_yticks()) == len(table) == len(right.get_yticks())
    markers = [c for c in ax.collections if isinstance(c, PathCollection)]  # scatter points
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
