"""The legibility check of tests/figure_checks.py can fail: tiny text, a figure too wide for
the page, overlapping tick labels and overlapping axis labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from figure_checks import legibility_problems
from matplotlib.figure import Figure


def test_legible_figure_passes():
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x", fontsize=10)
    ax.set_title("a title", fontsize=10)
    ax.tick_params(labelsize=9)
    assert legibility_problems(fig) == []


def test_small_text_and_overlapping_ticks():
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.set_xticks(range(5), [f"a long tick label number {i}" for i in range(5)], fontsize=9)
    ax.set_title("t", fontsize=6)
    problems = legibility_problems(fig)
    assert any("under 8 pt" in p and "'t'" in p for p in problems)
    assert any("overlapping x tick labels" in p for p in problems)


def test_a_figure_wider_than_the_page_shrinks_its_text():
    wide = Figure(figsize=(12, 3))
    wide.subplots().set_title("ten points, shown at 56%", fontsize=10)
    assert any("under 8 pt" in p for p in legibility_problems(wide))


def test_overlapping_axis_labels():
    pair = Figure(figsize=(4, 3))
    a, b = pair.subplots(1, 2)
    a.set_xlabel("a very long axis label that runs on", fontsize=9)
    b.set_xlabel("and another one that runs on too", fontsize=9)
    assert any("overlapping labels" in p for p in legibility_problems(pair))


def test_a_legend_over_a_title():
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot([0, 1], label="a series with a long name")
    ax.set_title("A title right where the legend sits", fontsize=10)
    fig.legend(loc="upper center", fontsize=10)
    assert any("overlapping labels" in p for p in legibility_problems(fig))
