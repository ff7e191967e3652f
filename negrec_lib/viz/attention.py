"""Figures of the chapter "Looking inside": attention maps, attention on skipped tracks, and
the geometry of track embeddings.

The tables and weights come from `negrec_lib.study.attention`; every function follows the
convention of `negrec_lib.viz.style` (``ax=None``: a new pyplot figure, else one Axes per panel;
returns the Figure; end the notebook cell with ``plt.show()``). The interactive explorer is in
`negrec_lib.viz.explorer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import Tensor

from ..study.attention import PAIR_ORDER, session_gaps
from .style import PAGE_WIDTH, SKIP_COLOR, subplots

__all__ = ["plot_skip_attention", "plot_attention_maps", "plot_embedding_similarity"]


def plot_skip_attention(
    summary: pd.DataFrame, control: pd.DataFrame | None = None, ax: Any = None
) -> Figure:
    """Per-track attention ratio (skipped / kept previous tracks) per head; a panel per layer.

    ``summary``: `negrec_lib.study.attention.summarize_skip_attention`. ``control``: the same
    summary computed with borrowed labels (`borrow_skip_labels`), drawn as hollow markers beside
    each model's points.
    """
    layers = sorted(summary["layer"].unique())
    models = list(dict.fromkeys(summary["model"]))
    series = [(name, summary, True) for name in models]
    if control is not None:
        series += [(name, control, False) for name in models]
    fig, grid = subplots(ax, 1, len(layers), (3.6 * len(layers) + 0.6, 3.8), sharey=True)
    axes = grid[0]
    palette = sns.color_palette()
    width = 0.7 / len(series)
    for ax, layer in zip(axes, layers):
        for j, (name, frame, filled) in enumerate(series):
            g = frame[(frame["layer"] == layer) & (frame["model"] == name)]
            x = g["head"].to_numpy() + (j - (len(series) - 1) / 2) * width
            color = palette[models.index(name)]
            label = name if filled else f"{name}, borrowed labels (control)"
            ax.errorbar(
                x,
                g["ratio"],
                yerr=[g["ratio"] - g["low"], g["high"] - g["ratio"]],
                fmt="o" if filled else "s",
                color=color,
                capsize=2.5,
                markersize=5,
                markerfacecolor=color if filled else "white",
                label=label if layer == layers[0] else None,
            )
        ax.axhline(1.0, color="0.35", linestyle="--", linewidth=1)
        ax.set_xticks(sorted(summary["head"].unique()))
        ax.set_xlabel("head")
        ax.set_title(f"layer {layer}", fontsize=10)
    axes[0].set_ylabel("attention per skipped track\n/ attention per kept track")
    fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=8)
    fig.suptitle(
        "Do heads look at skipped tracks? (1 = no preference; 95% bootstrap intervals)",
        fontsize=10,
        fontweight="bold",
    )
    return fig


def masked_map(w: np.ndarray) -> np.ma.MaskedArray:
    """``w`` with the causally hidden cells (above the diagonal, weight exactly 0) masked."""
    t = w.shape[0]
    return np.ma.masked_where(np.triu(np.ones((t, t), dtype=bool), k=1) & (w == 0), w)


def _position_ticks(t: int) -> np.ndarray:
    """0-based tick positions labelled 1, 5, 10, 15, 20 (those below ``t``)."""
    return np.array([p - 1 for p in (1, 5, 10, 15, 20) if p <= t])


def attention_panel(
    ax: Axes, w: np.ndarray, skipped: np.ndarray, norm: PowerNorm, cmap: str, fontsize: float = 8.0
) -> AxesImage:
    """One attention map [t, t]; red triangles above (keys) and left (queries) mark skips.

    Returns the ``AxesImage`` (its data can be swapped with ``set_data(masked_map(w))``); the
    explorer (`negrec_lib.viz.explorer`) draws its panels with it too.
    """
    t = len(skipped)
    image = ax.imshow(masked_map(w), cmap=cmap, norm=norm, interpolation="nearest")
    ticks = _position_ticks(t)
    ax.set_xticks(ticks, labels=[str(i + 1) for i in ticks], fontsize=fontsize)
    ax.set_yticks(ticks, labels=[str(i + 1) for i in ticks], fontsize=fontsize)
    cols = np.flatnonzero(skipped)
    style = {
        "marker": "v",
        "s": 12,
        "color": SKIP_COLOR,
        "clip_on": False,
        "zorder": 4,
        "linewidths": 0,
    }
    ax.scatter(cols, np.full(len(cols), -1.0), **style)  # skipped keys
    ax.scatter(np.full(len(cols), -1.0), cols, **{**style, "marker": ">"})  # skipped queries
    ax.set_xlim(-1.5, t - 0.5)
    ax.set_ylim(t - 0.5, -1.5)
    ax.tick_params(length=2, pad=1.5)
    ax.grid(False)
    for side in ("top", "left"):
        ax.spines[side].set_visible(False)
    ax.set_facecolor("white")
    return image


def plot_attention_maps(
    weights: Mapping[str, Tensor | np.ndarray],
    skipped: Tensor,
    title: str | None = None,
    gamma: float = 0.5,
    ax: Any = None,
) -> Figure:
    """Every layer and head of every model on one session: rows model x layer, columns heads.

    ``weights``: model name -> the attention weights [n_layers, H, t, t] of one prefix (no
    padding), e.g. ``attention_weights(model, tracks[None])[:, 0]`` of
    `negrec_lib.study.attention`; ``skipped`` [t] its skip labels. Colours use a power
    scale (``gamma`` 0.5: square root), so that small weights stay visible; red triangles mark
    the skipped tracks, above the key axis and left of the query axis. Positions are 1-based.
    """
    maps = {name: np.asarray(w) for name, w in weights.items()}  # [n_layers, H, t, t]
    first = next(iter(maps.values()))
    n_layers, H = first.shape[:2]
    n_rows = len(maps) * n_layers
    fig, axes = subplots(ax, n_rows, H, (min(PAGE_WIDTH, 1.45 * H + 1.2), 1.6 * n_rows + 0.9))
    norm = PowerNorm(gamma, vmin=0.0, vmax=1.0)
    sk = skipped.cpu().numpy().astype(bool)
    image = None
    for m, (name, w) in enumerate(maps.items()):
        for layer in range(n_layers):
            r = m * n_layers + layer
            for h in range(H):
                ax = axes[r, h]
                image = attention_panel(ax, w[layer, h], sk, norm, "rocket_r", fontsize=8)
                if r == 0:
                    ax.set_title(f"head {h + 1}", fontsize=9)
            axes[r, 0].set_ylabel(f"{name}\nlayer {layer + 1}\nquery t", fontsize=8)
    bar = fig.colorbar(image, ax=axes, shrink=0.5)
    bar.set_label("attention weight (square-root scale)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(
        title or "Attention maps: query t down, key s across; red triangles: skipped tracks",
        fontsize=10,
        fontweight="bold",
    )
    return fig


def plot_embedding_similarity(frame: pd.DataFrame, ax: Any = None) -> Figure:
    """Left: per-session mean cosine by kind of pair and model. Right: the within-session gap.

    ``frame``: `negrec_lib.study.attention.embedding_similarity`.
    """
    fig, grid = subplots(ax, 1, 2, (9.6, 3.8), width_ratios=[1.7, 1])
    left, right = grid[0]
    order = [p for p in PAIR_ORDER if p in set(frame["pair"])]
    sns.boxplot(
        frame, x="pair", y="cosine", hue="model", order=order, ax=left, fliersize=1.2, linewidth=1
    )
    left.axhline(0.0, color="0.35", linewidth=0.8)
    left.set_xticks(
        range(len(order)),
        labels=[p.replace("random", "random\n(catalogue)") for p in order],
        fontsize=9,
    )
    left.set_xlabel("pairs: a kept track of a session and ...", fontsize=10)
    left.set_ylabel("mean cosine similarity\nper session", fontsize=10)
    left.set_title("Track embeddings within a session", fontsize=11)
    left.legend(title=None, loc="lower left", fontsize=8)
    gaps = session_gaps(frame)
    sns.histplot(
        gaps,
        x="gap",
        hue="model",
        hue_order=list(dict.fromkeys(frame["model"])),
        element="step",
        stat="density",
        common_norm=False,
        bins=40,
        ax=right,
    )
    right.axvline(0.0, color="0.35", linewidth=0.8)
    right.set_xlabel("cos(kept, kept) \u2212 cos(kept, skipped)\nper session", fontsize=10)
    right.set_ylabel("density (sessions)", fontsize=10)
    right.set_title("The within-session gap", fontsize=11)
    if right.get_legend() is not None:
        sns.move_legend(right, "upper right", title=None, fontsize=8)
    return fig
