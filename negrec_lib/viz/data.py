"""Figures of the data chapter: what MSSD-format listening sessions look like.

Every function takes the DataFrame that `negrec_lib.data.mssd.read_log` returns (one row per
played track, MSSD's column names), or a table of `negrec_lib.study.data` computed from it, and
follows the convention of `negrec_lib.viz.style`: ``ax=None`` draws a new pyplot figure, the
Figure is returned; in a notebook, end the cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ..study.data import (
    CONTEXT,
    END,
    LATE_POSITIONS,
    R_END,
    R_START,
    REAL_MARGINALS,
    START,
    play_counts,
    session_rows,
    skip_strength,
    top_share,
)
from .style import PAGE_WIDTH, STRENGTH_COLORS, STRENGTH_LABELS, axes

__all__ = [
    "plot_sessions",
    "plot_skip_strength",
    "plot_skip_by_position",
    "plot_skip_by_context",
    "plot_session_lengths",
    "plot_popularity",
    "plot_reasons",
    "plot_skip_vs_fit",
    "plot_marginals",
]


def plot_sessions(
    df: pd.DataFrame, n: int = 12, seed: int = 0, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """``n`` sessions drawn at random, one per line, every track coloured by its skip strength."""
    ax = axes(ax, (PAGE_WIDTH, 0.26 * n + 1.7))
    rng = np.random.default_rng(seed)
    firsts = session_rows(df)
    chosen = firsts.iloc[np.sort(rng.choice(len(firsts), size=min(n, len(firsts)), replace=False))]
    chosen = chosen.sort_values("session_length", ascending=False, kind="stable")
    rows = df[df["session_id"].isin(chosen["session_id"])]
    width = int(max(df["session_position"].max(), 1))
    grid = np.full((len(chosen), width), np.nan)  # [sessions, positions]
    order = {sid: i for i, sid in enumerate(chosen["session_id"])}
    grid[rows["session_id"].map(order).to_numpy(), rows["session_position"].to_numpy() - 1] = (
        skip_strength(rows).to_numpy()
    )
    cmap = ListedColormap(STRENGTH_COLORS).with_extremes(bad="white")
    ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=cmap,
        norm=BoundaryNorm(np.arange(-0.5, 4), 4),
        aspect="auto",
        interpolation="nearest",
    )
    ax.set_xticks(np.arange(width), labels=[str(p) for p in range(1, width + 1)])
    labels = [
        f"{c}{' (shuffle)' if s else ''}"
        for c, s in zip(chosen["context_type"].astype(str), chosen["hist_user_behavior_is_shuffle"])
    ]
    ax.set_yticks(np.arange(len(chosen)), labels=labels)
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, len(chosen)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.grid(which="major", visible=False)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("session_position")
    ax.set_ylabel("session (context type)")
    ax.set_title(title or f"{len(chosen)} random sessions, track by track")
    ax.figure.legend(
        handles=[Patch(color=c, label=lab) for c, lab in zip(STRENGTH_COLORS, STRENGTH_LABELS)],
        loc="outside lower center",
        ncol=2,
        frameon=False,
    )
    return ax.figure


def plot_skip_strength(
    df: pd.DataFrame, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Share of rows at each skip strength 0..3, with the paper's label (strength >= 2) marked."""
    ax = axes(ax, (PAGE_WIDTH, 3.8))
    share = skip_strength(df).value_counts(normalize=True).reindex(range(4), fill_value=0.0)
    frame = pd.DataFrame(
        {
            "strength": [
                "0\nplayed in full",
                "1\nskipped late\n(skip_3 only)",
                "2\nskipped early\n(skip_2, skip_3)",
                "3\nskipped very early\n(all three flags)",
            ],
            "share": share.to_numpy(),
        }
    )
    sns.barplot(
        frame,
        x="strength",
        y="share",
        hue="strength",
        palette=list(STRENGTH_COLORS),
        legend=False,
        ax=ax,
        edgecolor="0.3",
    )
    for i, v in enumerate(frame["share"]):
        ax.annotate(
            f"{v:.2f}", (i, v), ha="center", va="bottom", xytext=(0, 2), textcoords="offset points"
        )
    top = max(share.max() * 1.35, 0.1)
    label = share.iloc[2:].sum()
    ax.set_ylim(0, top)
    ax.axvspan(1.5, 3.5, color="0.5", alpha=0.1, zorder=0)
    ax.text(2.5, top * 0.97, "the paper's 'skipped' (skip_2)", ha="center", va="top")
    ax.set_xlabel("skip strength = skip_1 + skip_2 + skip_3")
    ax.set_ylabel("share of rows")
    ax.set_title(title or f"{label:.0%} of tracks count as skipped under the paper's label")
    return ax.figure


def plot_skip_by_position(
    df: pd.DataFrame, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Rates of the three cumulative skip flags by position, with the real skip_2 ranges."""
    ax = axes(ax, (PAGE_WIDTH, 3.8))
    by_pos = df.groupby("session_position")[["skip_1", "skip_2", "skip_3"]].mean()
    rates = by_pos.reset_index().melt("session_position", var_name="flag", value_name="rate")
    sns.lineplot(
        rates,
        x="session_position",
        y="rate",
        hue="flag",
        style="flag",
        markers=True,
        dashes=False,
        ax=ax,
    )
    refs = {r.statistic: r for r in REAL_MARGINALS if r.group == "skips by position"}
    first, late = refs["skip_2 rate at position 1"], refs["skip_2 rate at positions 16-20"]
    color = "0.35"
    for (lo, hi), ref in (((1, 1), first), (LATE_POSITIONS, late)):
        ax.add_patch(
            Rectangle(
                (lo - 0.4, ref.low),
                hi - lo + 0.8,
                ref.high - ref.low,
                color=color,
                alpha=0.2,
                linewidth=0,
            )
        )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color=color, alpha=0.2))
    labels.append("skip_2 in real MSSD samples")
    ax.legend(handles, labels, title=None, loc="lower right", ncol=2)
    ax.set_xticks(range(1, int(df["session_position"].max()) + 1))
    ax.set_ylim(0, 1)
    ax.set_xlabel("session_position")
    ax.set_ylabel("share of rows skipped")
    r1, r_late = by_pos["skip_2"].iloc[0], by_pos["skip_2"].iloc[-5:].mean()
    verb = "rises" if r_late > r1 + 0.02 else "falls" if r_late < r1 - 0.02 else "stays"
    ax.set_title(
        title or f"skip_2 {verb} from {r1:.2f} at the first track to {r_late:.2f} at the last five"
    )
    return ax.figure


def plot_skip_by_context(
    df: pd.DataFrame, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """skip_2 rate by context type; the labels give each context's share of sessions."""
    ax = axes(ax, (PAGE_WIDTH, 3.6))
    ctx = df["context_type"].astype(str)
    sessions = session_rows(df)["context_type"].astype(str).value_counts(normalize=True)
    rate = df["skip_2"].groupby(ctx).mean().sort_values(ascending=False)
    frame = pd.DataFrame(
        {
            "context": [f"{c}\n({sessions.get(c, 0.0):.0%} of sessions)" for c in rate.index],
            "rate": rate.to_numpy(),
        }
    )
    sns.barplot(frame, y="context", x="rate", color=sns.color_palette()[0], ax=ax)
    for i, v in enumerate(frame["rate"]):
        ax.annotate(
            f"{v:.2f}",
            (v, i),
            va="center",
            xytext=(3, 0),
            textcoords="offset points",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6},
        )
    overall = float(df["skip_2"].mean())
    ax.axvline(overall, color="0.3", linestyle="--", linewidth=1, label=f"all rows: {overall:.2f}")
    ax.legend(loc="lower right")
    ax.set_xlim(0, min(1.0, rate.max() * 1.2 + 0.05))
    ax.set_xlabel("skip_2 rate (share of rows)")
    ax.set_ylabel("context_type")
    ax.set_title(title or f"{rate.index[0]} is skipped most, {rate.index[-1]} least")
    return ax.figure


def plot_session_lengths(
    df: pd.DataFrame, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Share of sessions of each length."""
    ax = axes(ax, (PAGE_WIDTH, 3.4))
    lengths = session_rows(df)["session_length"].astype(int)
    share = lengths.value_counts(normalize=True).sort_index()
    share = share.reindex(range(int(share.index.min()), int(share.index.max()) + 1), fill_value=0.0)
    sns.barplot(x=share.index.astype(str), y=share.to_numpy(), color=sns.color_palette()[0], ax=ax)
    ax.annotate(
        f"{share.iloc[-1]:.0%}",
        (len(share) - 1, share.iloc[-1]),
        ha="center",
        va="bottom",
        xytext=(0, 2),
        textcoords="offset points",
    )
    ax.set_ylim(0, share.max() * 1.15)
    ax.set_xlabel("session_length (tracks)")
    ax.set_ylabel("share of sessions")
    ax.set_title(
        title or f"{share.iloc[-1]:.0%} of {len(lengths):,} sessions have {share.index[-1]} tracks"
    )
    return ax.figure


def plot_popularity(
    df: pd.DataFrame, share: float = 0.01, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Rank-frequency plot of plays per track on log-log axes, the top ``share`` shaded."""
    ax = axes(ax, (PAGE_WIDTH, 3.8))
    counts = play_counts(df).to_numpy()
    ranks = np.arange(1, len(counts) + 1)
    top = top_share(df, share)
    ax.plot(
        ranks,
        counts,
        color=sns.color_palette()[0],
        linewidth=2,
        label=f"{len(counts):,} tracks played",
    )
    k = max(1, int(round(share * len(counts))))
    ax.axvspan(
        0.8,
        k + 0.5,
        color=sns.color_palette()[1],
        alpha=0.15,
        label=f"top {share:.0%} of tracks: {top:.0%} of plays",
    )
    mid = max(1, len(counts) // 20)
    guide = counts[mid - 1] * mid / ranks  # slope -1 through the rank-`mid` point
    ax.plot(ranks, guide, color="0.4", linestyle=":", linewidth=1.2, label="slope -1 (Zipf)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.7, counts[0] * 2)
    ax.set_xlabel("track rank (most played = 1)")
    ax.set_ylabel("plays")
    ax.set_title(title or f"A long tail: the top {share:.0%} of tracks get {top:.0%} of the plays")
    ax.legend(loc="lower left")
    return ax.figure


def plot_reasons(
    df: pd.DataFrame, min_share: float = 0.01, ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Shares of reason_start and reason_end values (values rarer than ``min_share`` pooled)."""
    ax = axes(ax, (PAGE_WIDTH, 3.8))
    start = df[START].astype(str).value_counts(normalize=True)
    end = df[END].astype(str).value_counts(normalize=True)
    both = pd.DataFrame({"reason_start": start, "reason_end": end}).fillna(0.0)
    rare = both.max(axis=1) < min_share
    if rare.any():
        both = pd.concat([both[~rare], both[rare].sum().to_frame("other (rare)").T])
    order = both.sort_values("reason_start", ascending=False).index.tolist()
    if "other (rare)" in order:
        order.remove("other (rare)")
        order.append("other (rare)")
    frame = both.reset_index(names="reason").melt("reason", var_name="column", value_name="share")
    sns.barplot(frame, y="reason", x="share", hue="column", order=order, ax=ax)
    ax.set_xlabel("share of rows")
    ax.set_ylabel("")
    first, second = both.drop(index="other (rare)", errors="ignore").mean(axis=1).nlargest(2).index
    ax.set_title(title or f"Most tracks start and end with {first} or {second}")
    ax.legend(title=None, loc="lower right")
    return ax.figure


def plot_skip_vs_fit(
    curves: Mapping[str, pd.DataFrame], ax: Axes | None = None, title: str | None = None
) -> Figure:
    """Skip rate against the listener-track fit percentile, a line per `skip_rate_by_fit` table."""
    ax = axes(ax, (PAGE_WIDTH, 3.8))
    markers = "osD^v"
    for i, (label, curve) in enumerate(curves.items()):
        ax.plot(
            curve["percentile"],
            curve["skip_rate"],
            marker=markers[i % len(markers)],
            markersize=5,
            linewidth=2,
            label=label,
        )
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("listener-track fit cos(u, v), percentile among played tracks")
    ax.set_ylabel("skip_2 rate")
    ax.set_title(title or "Skip rate against the listener-track fit")
    ax.legend(title=None, loc="lower left")
    return ax.figure


def plot_marginals(table: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The `marginals` table as a figure: where each value falls inside its real range.

    The x axis is the position inside the range (0 = its low end, 1 = its high end), which makes
    narrow and wide ranges equally readable; values further than half a range outside are drawn
    at the edge. The right-hand labels give the value and the real range (~v: about v).
    """
    ax = axes(ax, (PAGE_WIDTH, 0.24 * len(table) + 1.5))
    y = np.arange(len(table))[::-1]
    palette = sns.color_palette()
    ok_color, bad_color = palette[2], palette[3]
    inside = table["inside"].to_numpy(bool)
    value = table["simulated"].to_numpy(np.float64)
    low, high = table["low"].to_numpy(np.float64), table["high"].to_numpy(np.float64)
    rel = np.clip((value - low) / np.maximum(high - low, 1e-12), -0.5, 1.5)
    ax.hlines(y, 0.0, 1.0, color="0.55", linewidth=6, alpha=0.45)
    ax.scatter(rel[inside], y[inside], color=ok_color, zorder=3, s=28)
    ax.scatter(rel[~inside], y[~inside], color=bad_color, marker="X", zorder=3, s=55)
    prefix = {CONTEXT: "context: ", R_START: "reason_start: ", R_END: "reason_end: "}
    ax.set_yticks(
        y, labels=[prefix.get(g, "") + s for g, s in zip(table["group"], table["statistic"])]
    )
    ax.set_ylim(-0.7, len(table) - 0.3)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(y, labels=[f"{v:.3f} ({r})" for v, r in zip(value, table["real"])])
    right.grid(False)
    ax.set_xlim(-0.6, 1.6)
    ax.set_xticks([0, 1], labels=["low", "high"])
    ax.set_xlabel("where the value falls in the real range")
    ax.set_title(
        title or f"{int(inside.sum())} of {len(table)} statistics fall inside the real range"
    )
    ax.figure.legend(
        handles=[
            Line2D([], [], color="0.55", alpha=0.45, linewidth=6),
            Line2D([], [], color=ok_color, marker="o", linestyle=""),
            Line2D([], [], color=bad_color, marker="X", markersize=8, linestyle=""),
        ],
        labels=["real range", "simulated, inside", "simulated, outside"],
        loc="outside lower center",
        ncol=3,
        frameon=False,
    )
    return ax.figure
