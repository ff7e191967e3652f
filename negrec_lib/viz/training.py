"""Figures of the training chapters: learning curves, protocols, breakdowns, the skip loss.

Chapter 3 draws the learning curves and the test metrics of the unidirectional and the
bidirectional model beside a popularity baseline; chapter 4 draws the skip loss's roles and
pairs. The tables come from `negrec_lib.study.training`; the comparisons of a grid of seeds, their
forest plot and the claims table from `negrec_lib.study.compare`, `negrec_lib.viz.study.forest_plot`
and `negrec_lib.study.claims`; the plotting functions follow the convention of
`negrec_lib.viz.style` (``ax=None``: a new pyplot figure, else one Axes per panel; returns the
Figure; end the notebook cell with ``plt.show()``). Titles state what the numbers show, computed
from them, unless ``title`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from ..study.training import group_metric, pair_win_rate
from .style import PAGE_WIDTH, ROLE_COLORS, metric_label, subplots

__all__ = [
    "plot_learning_curves",
    "plot_protocol_comparison",
    "plot_breakdown",
    "plot_skip_roles",
    "plot_pair_cosines",
]


# ------------------------------------------------------------------------ chapter 3 figures
def _history(h: pd.DataFrame | Sequence[Mapping]) -> pd.DataFrame:
    return h if isinstance(h, pd.DataFrame) else pd.DataFrame(list(h))


def plot_learning_curves(
    histories: Mapping[str, pd.DataFrame | Sequence[Mapping]],
    metrics: Sequence[str] = ("loss", "valid_ndcg@10", "valid_hr@10"),
    select: str = "valid_ndcg@10",
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """One panel per history column, one line per run, the selected (best) epoch circled.

    ``histories``: run name -> the rows of its ``history.json`` (a list of dicts or a DataFrame).
    """
    fig, axes = subplots(ax, 1, len(metrics), (min(PAGE_WIDTH, 2.4 * len(metrics)), 3.4))
    best = {}
    for i, (name, h) in enumerate(histories.items()):
        h = _history(h)
        color = f"C{i}"
        b = int(h[select].idxmax()) if select in h else None
        best[name] = int(h["epoch"].iloc[b]) if b is not None else None
        for ax, m in zip(axes[0], metrics):
            ax.plot(h["epoch"], h[m], marker="o", ms=3.5, color=color, label=name)
            if b is not None:
                ax.plot(
                    h["epoch"].iloc[b], h[m].iloc[b], "o", ms=10, mfc="none", mec=color, mew=1.5
                )
    for ax, m in zip(axes[0], metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric_label(m) + (" (sampled)" if m == "loss" else " (validation)"))
        ax.xaxis.get_major_locator().set_params(integer=True)
    if len(histories) > 1:
        axes[0][0].legend(frameon=False)
    if title is None:
        parts = [f"{n} at epoch {e}" for n, e in best.items() if e is not None]
        title = f"Best validation {metric_label(select)}: " + ", ".join(parts) + " (circled)"
    fig.suptitle(title, fontweight="bold", fontsize=11)
    return fig


def plot_protocol_comparison(
    full: Mapping[str, Mapping[str, float]],
    sampled: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = ("hr@1", "hr@10", "mrr"),
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Per metric, each model's full-catalogue and sampled-protocol value side by side.

    Horizontal bars, one panel per metric, models down the shared y axis; the factor
    sampled / full is printed at the end of each sampled bar.
    """
    models = list(full)
    fig, axes = subplots(ax, 1, len(metrics), (PAGE_WIDTH, 1.1 + 0.55 * len(models)), sharey=True)
    y = np.arange(len(models))[::-1].astype(float)
    h = 0.38
    ratios = []
    for ax, m in zip(axes[0], metrics):
        f = np.array([full[n][m] for n in models])
        s = np.array([sampled[n][m] for n in models])
        ax.barh(y + h / 2, f, h, color="C0", label="full catalogue")
        ax.barh(y - h / 2, s, h, color="C1", label="sampled (the paper's 2024 protocol)")
        for yi, fi, si in zip(y, f, s):
            if fi > 0:
                ratios.append(si / fi)
                ax.annotate(
                    f"x{si / fi:.1f}",
                    (si, yi - h / 2),
                    ha="left",
                    va="center",
                    fontsize=8.5,
                    xytext=(2, 0),
                    textcoords="offset points",
                )
        ax.set_xlim(0, max(1e-9, float(max(f.max(), s.max()))) * 1.3)
        ax.set_xlabel(f"{metric_label(m)} (test)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(3))
    axes[0][0].set_yticks(y, models)
    axes[0][0].set_ylabel("model")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    if title is None:
        title = (
            f"The sampled protocol inflates scores by x{min(ratios):.1f} to x{max(ratios):.1f}"
            if ratios
            else "Full-catalogue and sampled metrics"
        )
    fig.suptitle(title, fontweight="bold")
    return fig


def plot_breakdown(
    examples: Mapping[str, pd.DataFrame],
    metric: str = "hr@10",
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Left: ``metric`` by session position of the target; right: by context type (95% CIs).

    ``examples``: model name -> `EvalResult.examples` of the same split, grouped here with
    `negrec_lib.study.training.group_metric`.
    """
    fig, grid = subplots(ax, 1, 2, (PAGE_WIDTH, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
    ax_p, ax_c = grid[0]
    names = list(examples)
    ctx_tables = {}
    leads = {}
    for i, (name, ex) in enumerate(examples.items()):
        t = group_metric(ex, "position", metric)
        ax_p.plot(t["group"], t["mean"], marker="o", ms=3, color=f"C{i}", label=name)
        ax_p.fill_between(t["group"], t["ci_low"], t["ci_high"], color=f"C{i}", alpha=0.15, lw=0)
        ctx_tables[name] = group_metric(ex, "context", metric).set_index("group")
        leads[name] = t.set_index("group")["mean"]
    ax_p.set_xlabel("position of the target in the session")
    ax_p.set_ylabel(f"{metric_label(metric)} (test)")
    ax_p.set_title("by position (shaded: 95% CI)", fontsize=10)
    ax_p.xaxis.get_major_locator().set_params(integer=True)
    ax_p.legend(frameon=False, fontsize=9)
    contexts = list(ctx_tables[names[0]].sort_values("n").index)
    y = np.arange(len(contexts))
    h = 0.8 / len(names)
    for i, name in enumerate(names):
        t = ctx_tables[name].reindex(contexts)
        err = np.vstack([t["mean"] - t["ci_low"], t["ci_high"] - t["mean"]])
        ax_c.barh(
            y - (i - (len(names) - 1) / 2) * h,
            t["mean"],
            h,
            xerr=err,
            color=f"C{i}",
            error_kw={"lw": 0.8, "capsize": 1.5},
        )
    n = ctx_tables[names[0]].reindex(contexts)["n"]
    ax_c.set_yticks(
        y, [f"{c.replace('_', ' ')}\n(n={int(k):,})" for c, k in zip(contexts, n)], fontsize=8
    )
    ax_c.set_xlabel(f"{metric_label(metric)} (test)")
    ax_c.set_title("by context type (bars: 95% CI)", fontsize=10)
    if title is None:
        table = pd.DataFrame(leads)
        winner = table.idxmax(axis=1).value_counts()
        title = (
            f"{winner.index[0]} has the highest {metric_label(metric)} at "
            f"{int(winner.iloc[0])} of {len(table)} positions"
        )
    fig.suptitle(title, fontweight="bold")
    return fig


# ------------------------------------------------------------------------ chapter 4: the skip loss
def plot_skip_roles(
    panels: Mapping[str, Tensor],
    skipped: Tensor,
    valid: Tensor,
    title: str | None = None,
    ax: Any = None,
) -> Figure:
    """Heatmaps of `negrec_lib.study.training.skip_roles`: anchors (session, position) down,
    keys across.

    ``panels``: panel title -> roles [B, L, B, L]; only real positions are drawn. Skipped
    positions carry a cross in their label.
    """
    real = valid.reshape(-1).numpy()
    B, L = valid.shape
    labels = [
        f"s{b + 1}·{t + 1}{' ×' if bool(skipped[b, t]) else ''}" for b in range(B) for t in range(L)
    ]
    labels = [lab for lab, r in zip(labels, real) if r]
    n = len(labels)
    fig, axes = subplots(ax, 1, len(panels), (min(PAGE_WIDTH, 3.4 * len(panels) + 0.2), 4.3))
    cmap = ListedColormap([ROLE_COLORS[-1], "#f7f7f7", ROLE_COLORS[1]])
    for ax, (name, roles) in zip(axes[0], panels.items()):
        m = roles.reshape(B * L, B * L).numpy()[np.ix_(real, real)]
        ax.imshow(m, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks(range(n), labels, fontsize=8, rotation=90)
        ax.set_yticks(range(n), labels, fontsize=8)
        ax.set_xticks(np.arange(-0.5, n), minor=True)
        ax.set_yticks(np.arange(-0.5, n), minor=True)
        ax.grid(which="minor", color="white", lw=0.6)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="both", length=0)
        starts = np.cumsum([0] + [int(valid[b].sum()) for b in range(B)])
        for s in starts[1:-1]:  # session boundaries
            ax.axhline(s - 0.5, color="0.3", lw=0.8)
            ax.axvline(s - 0.5, color="0.3", lw=0.8)
        ax.set_xlabel("key: session·position (× = skipped)")
        ax.set_ylabel("anchor: session·position")
        ax.set_title(name, fontsize=10)
    fig.legend(
        handles=[
            Patch(color=ROLE_COLORS[1], label="positive"),
            Patch(color=ROLE_COLORS[-1], label="negative"),
        ],
        loc="outside lower center",
        ncols=2,
        frameon=False,
        fontsize=9,
    )
    fig.suptitle(
        title or "Which keys each anchor's loss pulls in and pushes away", fontweight="bold"
    )
    return fig


def plot_pair_cosines(
    frames: Mapping[str, pd.DataFrame], title: str | None = None, ax: Any = None
) -> Figure:
    """Histograms of anchor-positive and anchor-negative cosines, one panel per model.

    ``frames``: model name -> `negrec_lib.study.training.skip_pair_cosines`.

    Each panel's title gives the mean gap (positive minus negative) and `pair_win_rate`; the
    default figure title compares the win rates, the quantity the skip loss optimises.
    """
    n = len(frames)
    fig, axes = subplots(ax, 1, n, (min(PAGE_WIDTH, 2.5 * n + 0.5), 3.5), sharey=True)
    bins = np.linspace(-1, 1, 41)
    wins = {}
    for ax, (name, df) in zip(axes[0], frames.items()):
        for kind, color in (("positive", ROLE_COLORS[1]), ("negative", ROLE_COLORS[-1])):
            c = df.loc[df["kind"] == kind, "cosine"]
            ax.hist(
                c,
                bins=bins,
                density=True,
                alpha=0.5,
                color=color,
                label=f"anchor and its {kind}" + ("" if kind == "positive" else "s"),
            )
        gap = (
            df.loc[df["kind"] == "positive", "cosine"].mean()
            - df.loc[df["kind"] == "negative", "cosine"].mean()
        )
        wins[name] = pair_win_rate(df)
        ax.set_xlabel("embedding cosine")
        ax.set_xticks([-0.5, 0, 0.5, 1])
        ax.set_title(
            f"{name}\nmean gap {gap:+.2f}, positive\nbeats every skip for {wins[name]:.0%}",
            fontsize=9,
        )
    axes[0][0].set_ylabel("density")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    if title is None:
        first, *rest = wins
        title = f"Positive closer than every skip: {wins[first]:.0%} of anchors ({first})"
        if rest:
            low, high = min(wins[r] for r in rest), max(wins[r] for r in rest)
            title += f", {low:.0%}-{high:.0%} (others)"
    fig.suptitle(title, fontweight="bold", fontsize=10)
    return fig
