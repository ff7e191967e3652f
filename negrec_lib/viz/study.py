"""Figures of the study's claims (chapters 6 and 7); `negrec_lib.viz.ceilings` draws the models
against their baselines and the oracle. Plot-only: the tables come from `negrec_lib.study`.

Every function takes a table (a grid's runs, or a table `negrec_lib.study` computed from them),
draws into ``ax`` when one is given (single-panel figures) or a new figure, and returns the
Figure. Titles state what the numbers show, computed from them, unless ``title`` is given.
Relative changes are the columns ``rel``, ``rel_low``, ``rel_high`` (fractions, Fieller
intervals) of `negrec_lib.study.compare.comparisons` and ``results/verdicts.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..study.compare import column, comparisons, metric_label, seed_pairings
from .style import axes

__all__ = [
    "forest_plot",
    "plot_protocols",
    "plot_claims_by_split",
    "plot_seed_spread",
    "plot_curves",
]

SERIES_COLORS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7")


def _clipped(rel: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Error-bar lengths; an unbounded (Fieller) side is drawn to the axis edge."""
    span = np.nanmax(np.abs(np.concatenate([rel, lo[np.isfinite(lo)], hi[np.isfinite(hi)]])))
    edge = 1.5 * span if np.isfinite(span) and span > 0 else 1.0
    return np.vstack([rel - np.clip(lo, -edge, edge), np.clip(hi, -edge, edge) - rel])


def forest_plot(
    table: pd.DataFrame,
    label: str = "label",
    series: str | None = None,
    paper: str | None = None,
    xlabel: str = "relative change (%), 95% CI",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Relative changes with their intervals: a row per ``label``, a colour per ``series``.

    ``table`` has ``rel``, ``rel_low``, ``rel_high`` (fractions) and the ``label`` and ``series``
    columns; ``paper`` names a column of claimed changes (fractions), drawn as black crosses.
    """
    labels = list(dict.fromkeys(table[label]))
    groups = list(dict.fromkeys(table[series])) if series else [None]
    ax = axes(ax, (7, 0.32 * len(labels) * len(groups) + 1.5))
    fig = ax.figure
    y0 = np.arange(len(labels))[::-1].astype(float)
    step = 0.7 / max(1, len(groups))
    excl = total = 0
    for i, g in enumerate(groups):
        part = table if g is None else table[table[series] == g]
        part = part.drop_duplicates(label).set_index(label).reindex(labels)
        y = y0 + (len(groups) - 1) / 2 * step - i * step
        rel, lo, hi = (100 * part[c].to_numpy(float) for c in ("rel", "rel_low", "rel_high"))
        ax.errorbar(
            rel,
            y,
            xerr=_clipped(rel, lo, hi),
            fmt="o",
            ms=5,
            capsize=3,
            color=SERIES_COLORS[i % len(SERIES_COLORS)],
            label=str(g) if g is not None else None,
        )
        ok = ~np.isnan(lo)
        excl += int(np.sum((lo[ok] > 0) | (hi[ok] < 0)))
        total += int(ok.sum())
        if paper and paper in part and i == 0:
            ax.plot(
                100 * part[paper].to_numpy(float),
                y0,
                "x",
                color="black",
                ms=8,
                mew=2,
                label="the paper's number",
                zorder=3,
            )
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(y0, labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(xlabel)
    handles, names = ax.get_legend_handles_labels()
    if len(handles) > 1:
        fig.legend(
            handles,
            names,
            loc="outside lower center",
            ncols=min(4, len(handles)),
            frameon=False,
            fontsize=9,
        )
    if title is None:
        title = (
            f"{excl} of {total} intervals exclude zero" if excl else "Every interval includes zero"
        )
    ax.set_title(title)
    return fig


def plot_protocols(
    df: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    metric: str = "hr@10",
    title: str | None = None,
) -> Figure:
    """Left: each variant's ``metric`` under both protocols; right: each pair's gain under both
    (points on the diagonal: the protocol keeps the size of the gain)."""
    fig, (a1, a2) = plt.subplots(
        1, 2, figsize=(7.0, 3.9), layout="constrained", gridspec_kw={"width_ratios": [1.15, 1]}
    )
    means = df.groupby("variant", sort=False)[
        [column(metric, "full"), column(metric, "sampled")]
    ].mean()
    means = means.sort_values(column(metric, "full"))
    y = np.arange(len(means))
    a1.hlines(y, means.iloc[:, 0], means.iloc[:, 1], color="0.75", lw=2)
    a1.plot(means.iloc[:, 0], y, "o", color="C0", label="full catalogue")
    a1.plot(means.iloc[:, 1], y, "s", color="C1", label="sampled")
    a1.set_yticks(y, means.index)
    a1.set_xlabel(f"{metric_label(metric)} (test, mean of runs)")
    a1.legend(frameon=False, fontsize=8.5, loc="lower right")
    full = comparisons(df, pairs, [metric], "full")
    sampled = comparisons(df, pairs, [metric], "sampled")
    x, xl, xh = (100 * full[c].to_numpy(float) for c in ("rel", "rel_low", "rel_high"))
    s, sl, sh = (100 * sampled[c].to_numpy(float) for c in ("rel", "rel_low", "rel_high"))
    a2.errorbar(
        x,
        s,
        xerr=_clipped(x, xl, xh),
        yerr=_clipped(s, sl, sh),
        fmt="o",
        ms=4,
        capsize=2,
        color="C2",
        lw=1,
    )
    finite = np.concatenate([v[np.isfinite(v)] for v in (xl, sl, xh, sh)])
    lim = [min(finite.min(), 0) - 2, max(finite.max(), 0) + 2]
    a2.plot(lim, lim, color="0.5", lw=1, ls="--")
    a2.axhline(0, color="0.8", lw=0.8)
    a2.axvline(0, color="0.8", lw=0.8)
    a2.set_xlim(lim)
    a2.set_ylim(lim)
    a2.set_xlabel(f"change in {metric_label(metric)}, full (%)")
    a2.set_ylabel("change, sampled (%)")
    a2.set_title("each variant vs its reference", fontsize=9.5, fontweight="normal")
    if title is None:
        ratio = means.iloc[:, 1] / means.iloc[:, 0]
        title = f"Sampling inflates {metric_label(metric)} x{ratio.min():.1f}-x{ratio.max():.1f}"
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


SPLIT_NAMES = {"paper": "leave-last-out", "by_day": "by day"}


def plot_claims_by_split(
    verdicts: pd.DataFrame,
    claims: Sequence[str] = ("1", "2", "3"),
    metrics: Sequence[str] = ("hr@1", "hr@10"),
    protocol: str = "full catalogue",
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Claims at the given metrics under each split of ``verdicts`` (a colour per split), the
    paper's numbers as crosses where it gives one (``verdicts.csv`` rows)."""
    t = verdicts[
        (verdicts["protocol"] == protocol)
        & verdicts["metric"].isin(metrics)
        & verdicts["claim"].astype(str).isin(claims)
    ].copy()
    t["split"] = t["split"].map(lambda s: SPLIT_NAMES.get(s, s))
    labels = labels or {}
    t["label"] = [f"{labels.get(c, c)}, {metric_label(m)}" for c, m in zip(t["claim"], t["metric"])]
    t["paper_gain"] = pd.to_numeric(t["paper"].astype(str).str.rstrip("%"), errors="coerce") / 100
    if title is None:
        sign = np.where(t["rel_low"] > 0, 1, np.where(t["rel_high"] < 0, -1, 0))
        differ = pd.Series(sign, index=t.index).groupby(t["label"]).nunique().gt(1)
        title = (
            f"The verdict changes with the split for {int(differ.sum())} of {len(differ)} rows"
            if differ.any()
            else "Both splits give the same verdicts"
        )
    return forest_plot(
        t,
        series="split",
        paper="paper_gain",
        title=title,
        xlabel="relative change (%), 95% Fieller interval over replicates",
    )


def plot_seed_spread(
    df: pd.DataFrame,
    pairs: Mapping[str, tuple[str, str]],
    metric: str,
    protocol: str = "full",
    title: str | None = None,
) -> Figure:
    """Single-run relative changes (every pairing of replicates, and the matched ones) against
    the paired estimate and its interval, one row per named comparison."""
    fig, ax = plt.subplots(figsize=(7, 0.75 * len(pairs) + 1.4), layout="constrained")
    flips = total = 0
    for i, (variant, baseline) in enumerate(pairs.values()):
        y = len(pairs) - 1 - i
        sp = seed_pairings(df, variant, baseline, metric, protocol)
        c = comparisons(df, [(variant, baseline)], [metric], protocol).iloc[0]
        jitter = np.linspace(-0.18, 0.18, len(sp))
        paired = sp["paired"].astype(bool)
        cross = sp[~paired]
        ax.plot(
            100 * cross["rel_change"],
            y + jitter[: len(cross)],
            "o",
            ms=4,
            color="0.6",
            alpha=0.8,
            label="one run each, different replicates" if i == 0 else None,
        )
        same = sp[paired]
        ax.plot(
            100 * same["rel_change"],
            np.full(len(same), y - 0.3),
            "o",
            ms=5,
            color="C0",
            label="one run each, the same replicate" if i == 0 else None,
        )
        rel = np.array([100 * c["rel"]])
        ax.errorbar(
            rel,
            [y + 0.3],
            xerr=_clipped(rel, np.array([100 * c["rel_low"]]), np.array([100 * c["rel_high"]])),
            fmt="D",
            ms=6,
            capsize=4,
            color="C3",
            lw=2,
            label=f"all {int(c['n'])} pairs: mean, 95% CI" if i == 0 else None,
        )
        flips += int((np.sign(sp["rel_change"]) != np.sign(c["rel"])).sum())
        total += len(sp)
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(range(len(pairs))[::-1], list(pairs))
    ax.set_xlabel(f"relative change in {metric_label(metric)} (%)")
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=3,
        frameon=False,
        fontsize=8.5,
    )
    if title is None:
        title = (
            f"{flips} of {total} single-run comparisons point the other way"
            if flips
            else "Every single-run comparison has the sign of the mean"
        )
    fig.suptitle(title, fontweight="bold", fontsize=10.5)
    return fig


def plot_curves(
    summary: pd.DataFrame, targets: Mapping[str, float] | None = None, title: str | None = None
) -> Figure:
    """Validation HR@10 per epoch (mean and 95% band over runs), a line per variant
    (`negrec_lib.study.curves.curve_summary`). With ``targets`` (variant -> training targets per
    epoch), a second panel puts the same curves against the targets seen."""
    n = 2 if targets else 1
    fig, panels = plt.subplots(1, n, figsize=(7.2, 3.6), layout="constrained", squeeze=False)
    for i, (variant, g) in enumerate(summary.groupby("variant", sort=False)):
        xs = [g["epoch"].to_numpy(float)]
        if targets:
            xs.append(g["epoch"].to_numpy(float) * targets[variant] / 1e6)
        for ax, x in zip(panels[0], xs):
            ax.plot(x, g["mean"], "-", color=SERIES_COLORS[i % 8], label=variant)
            ax.fill_between(x, g["low"], g["high"], color=SERIES_COLORS[i % 8], alpha=0.2, lw=0)
    panels[0, 0].set_xlabel("epoch (= optimiser steps / steps per epoch)")
    panels[0, 0].set_ylabel("validation HR@10")
    if targets:
        panels[0, 1].set_xlabel("training targets seen (millions)")
        panels[0, 1].set_xscale("log")
    fig.legend(
        *panels[0, 0].get_legend_handles_labels(),
        loc="outside lower center",
        ncols=min(4, summary["variant"].nunique()),
        frameon=False,
        fontsize=8.5,
    )
    if title is None:
        best = summary.groupby("variant")["mean"].max()
        title = "Best validation HR@10: " + ", ".join(f"{v} {x:.3f}" for v, x in best.items())
    fig.suptitle(title, fontweight="bold", fontsize=10)
    return fig
