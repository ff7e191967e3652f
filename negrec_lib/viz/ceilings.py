"""Figures of the models against their floor and ceiling (chapter 7): classical baselines and
the oracle per cut-off, per listening context, and along the skip_signal sweep. Plot-only: the
tables come from `negrec_lib.study.ceilings` and `negrec_lib.study.compare.sweep_table`; the
convention is `negrec_lib.viz.style`'s.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..study.compare import metric_label
from .study import SERIES_COLORS, _clipped
from .style import axes

__all__ = ["sweep_plot", "plot_reference", "plot_contexts"]


def sweep_plot(table: pd.DataFrame, xlabel: str, title: str | None = None) -> Figure:
    """Relative change (95% CI) against the swept value, a line per metric; with an ``oracle gap
    closed`` column, a second panel shows the gain as a share of the gap to the oracle."""
    share = "oracle gap closed" in table.columns
    fig, panels = plt.subplots(
        1, 2 if share else 1, figsize=(7.2, 3.6), layout="constrained", squeeze=False
    )
    ax = panels[0, 0]
    metrics = list(dict.fromkeys(table["metric"]))
    span = float(table["value"].max() - table["value"].min()) or 1.0
    for i, m in enumerate(metrics):
        t = table[table["metric"] == m].sort_values("value")
        x = t["value"].to_numpy(float) + (i - (len(metrics) - 1) / 2) * 0.012 * span
        rel, lo, hi = (100 * t[c].to_numpy(float) for c in ("rel", "rel_low", "rel_high"))
        ax.errorbar(
            x,
            rel,
            yerr=np.nan_to_num(_clipped(rel, lo, hi)),
            fmt="o-",
            ms=5,
            capsize=3,
            color=SERIES_COLORS[i],
            label=metric_label(m),
        )
        if share:
            panels[0, 1].plot(x, 100 * t["oracle gap closed"], "o-", ms=5, color=SERIES_COLORS[i])
    ax.axhline(0, color="0.3", lw=1)
    ax.set_ylabel("change against the baseline (%)")
    if share:
        panels[0, 1].axhline(0, color="0.3", lw=1)
        panels[0, 1].set_ylabel("% of the gap to the oracle")
        panels[0, 1].set_xlabel(xlabel.split()[0])
        ax.set_xlabel(textwrap.fill(xlabel, 40))
    else:
        ax.set_xlabel(xlabel)
    if len(metrics) > 1:
        ax.legend(frameon=False, fontsize=9)
    if title is None:
        t = table[table["metric"] == metrics[0]].sort_values("value")
        title = (
            f"{metric_label(metrics[0])}: {100 * t['rel'].iloc[0]:+.1f}% at "
            f"{t['value'].iloc[0]:g}, {100 * t['rel'].iloc[-1]:+.1f}% at "
            f"{t['value'].iloc[-1]:g}"
        )
    fig.suptitle(title, fontweight="bold", fontsize=10)
    return fig


def plot_reference(
    table: pd.DataFrame,
    variants: Sequence[str],
    methods: Sequence[str] = ("popularity", "markov", "sknn", "vsknn"),
    title: str | None = None,
) -> Figure:
    """Left: HR@K of the baselines, the variants (with CI) and the oracle; right: each as a share
    of the oracle's HR@K. ``table`` is a `negrec_lib.study.ceilings.reference_table`."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.2, 3.8), layout="constrained")
    ks = table.index.to_numpy()
    a1.plot(ks, table["oracle"], "k^-", label="oracle")
    for i, v in enumerate(variants):
        a1.errorbar(
            ks,
            table[v],
            yerr=np.vstack([table[v] - table[f"{v} low"], table[f"{v} high"] - table[v]]),
            fmt="o-",
            ms=4,
            capsize=3,
            color=SERIES_COLORS[i],
            label=v,
        )
        a2.plot(ks, 100 * table[f"{v} / oracle"], "o-", ms=4, color=SERIES_COLORS[i])
    for j, m in enumerate(methods):
        style = dict(ls="--", marker="s", ms=3.5, color=str(0.25 + 0.15 * j))
        a1.plot(ks, table[m], label=m, **style)
        a2.plot(ks, 100 * table[f"{m} / oracle"], **style)
    for ax in (a1, a2):
        ax.set_xticks(ks)
        ax.set_xlabel("K (cut-off)")
    a1.set_ylabel("HR@K (test, full catalogue)")
    a1.set_ylim(0, None)
    a2.set_ylabel("% of the oracle's HR@K")
    a2.set_ylim(0, 100)
    fig.legend(
        *a1.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=4,
        frameon=False,
        fontsize=8.5,
    )
    if title is None:
        best = variants[0]
        title = (
            f"{best}: {100 * table[f'{best} / oracle'].min():.0f}-"
            f"{100 * table[f'{best} / oracle'].max():.0f}% of the oracle's HR@K; "
            f"Markov {100 * table['markov / oracle'].min():.0f}-"
            f"{100 * table['markov / oracle'].max():.0f}%"
        )
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


def plot_contexts(
    table: pd.DataFrame,
    variant: str,
    baseline: str,
    metric: str = "hr@10",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Per context: popularity, Markov, baseline and variant (with CI) and the oracle
    (`negrec_lib.study.ceilings.context_table`)."""
    t = table.sort_values("oracle")
    ax = axes(ax, (7, 0.45 * len(t) + 1.9))
    fig = ax.figure
    y = np.arange(len(t)).astype(float)
    ax.hlines(y, t["popularity"], t["oracle"], color="0.88", lw=6, zorder=0)
    ax.plot(t["popularity"], y, "s", color="0.5", ms=5, label="popularity")
    if "markov" in t:
        ax.plot(t["markov"], y, "d", color="0.3", ms=5, label="Markov")
    for i, (v, dy) in enumerate(((baseline, 0.14), (variant, -0.14))):
        ax.errorbar(
            t[v],
            y + dy,
            xerr=np.vstack([t[v] - t[f"{v} low"], t[f"{v} high"] - t[v]]),
            fmt="o",
            ms=5,
            capsize=2,
            color=SERIES_COLORS[i],
            label=v,
        )
    ax.plot(t["oracle"], y, "k^", ms=6, label="oracle")
    ax.set_yticks(y, [f"{c} ({n:,})" for c, n in zip(t.index, t["examples"])])
    ax.set_xlabel(f"{metric_label(metric)} (test, full catalogue)")
    ax.set_ylabel("context (test examples)")
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=5,
        frameon=False,
        fontsize=8.5,
    )
    if title is None:
        gap = (t["oracle"] - t[variant]) / t["oracle"]
        title = f"Gap to the oracle: largest in {gap.idxmax()},\nsmallest in {gap.idxmin()}"
    ax.set_title(title)
    return fig
