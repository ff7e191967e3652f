"""Figures of the encoder chapter: attention masks, token grids, output changes, parameter counts.

The tables come from `negrec_lib.study.encoder`; every function follows the convention of
`negrec_lib.viz.style` (``ax=None``: a new pyplot figure, else one Axes per panel; returns the
Figure; end the notebook cell with ``plt.show()``). Token ids follow
`negrec_lib.tokens`: 0 = PAD, 1 = MASK, 2 = OOV, tracks from 3.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from torch import Tensor

from ..study.encoder import mask_matrix, token_label
from ..tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID
from .style import ALLOWED_COLOR, BLOCKED_COLOR, PAGE_WIDTH, TOKEN_COLORS, subplots

__all__ = ["plot_masks", "plot_token_grids", "plot_output_change", "plot_parameter_scaling"]


def plot_masks(
    masks: Mapping[str, Tensor],
    tokens: Mapping[str, Tensor],
    panel_width: float = 3.1,
    ncols: int = 2,
    ax: Any = None,
) -> Figure:
    """One heatmap per attention mask, ``ncols`` per row: query position down, key across.

    Parameters
    ----------
    masks : mapping title -> BoolTensor [1, 1, L, L] (what `SessionEncoder.attention_mask`
        returns for one session) or [L, L]; True where the query may attend the key.
    tokens : mapping title -> LongTensor [L] or [1, L], the session each mask was made from;
        tick labels show each position's token, and padded query rows are hatched (the encoder
        zeroes their output, so what they attend to does not matter).
    """
    n = len(masks)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, grid = subplots(
        ax, nrows, ncols, (panel_width * ncols + 0.4, (panel_width + 0.6) * nrows + 0.5)
    )
    axes = grid.flatten()
    for ax in axes[n:]:
        ax.set_visible(False)
    cmap = ListedColormap([BLOCKED_COLOR, ALLOWED_COLOR])
    for ax, (title, mask) in zip(axes, masks.items()):
        m = mask_matrix(mask)
        toks = tokens[title].reshape(-1).tolist()
        L = m.shape[0]
        ax.imshow(m, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        labels = [f"{i}\n{token_label(t)}" for i, t in enumerate(toks)]
        ax.set_xticks(range(L), labels=labels, fontsize=8)
        ax.set_yticks(
            range(L), labels=[f"{i}: {token_label(t)}" for i, t in enumerate(toks)], fontsize=8
        )
        ax.xaxis.tick_top()
        ax.set_xticks(np.arange(-0.5, L), minor=True)
        ax.set_yticks(np.arange(-0.5, L), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="both", length=0)
        for q, t in enumerate(toks):
            if t == PAD_ID:  # a padded query: its output is zeroed anyway
                ax.add_patch(_hatch(q, L))
        ax.set_xlabel(title, fontsize=9, fontweight="bold")
    for ax in grid[:, 0]:
        ax.set_ylabel("query position t (attends from)", fontsize=8)
    fig.suptitle(
        "Rows: query position t (attends from).  Columns: key position s (attended to).", fontsize=9
    )
    fig.legend(
        handles=[
            Patch(color=ALLOWED_COLOR, label="may attend"),
            Patch(color=BLOCKED_COLOR, label="blocked"),
            Patch(
                facecolor="none",
                edgecolor="0.45",
                hatch="///",
                label="padded query (output zeroed)",
            ),
        ],
        loc="outside lower center",
        ncol=3,
        frameon=False,
        fontsize=8,
    )
    return fig


def _hatch(row: int, width: int) -> Rectangle:
    return Rectangle(
        (-0.5, row - 0.5), width, 1, facecolor="none", edgecolor="0.45", hatch="///", linewidth=0
    )


def plot_token_grids(
    grids: Mapping[str, Tensor],
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    panel_width: float | None = None,
    ax: Any = None,
) -> Figure:
    """Token-id grids [B, L] side by side, one cell per position, coloured by token kind.

    Tracks are pale blue with their id, [MASK] orange, OOV purple; PAD is left blank (in a
    target grid a PAD target means "no loss at this position"). The panels share the page's
    width (about 7 in, so that the text is not scaled down), and only the first names the rows.
    """
    n = len(grids)
    if panel_width is None:
        panel_width = min(3.4, 6.8 / n)
    first = next(iter(grids.values()))
    B = first.shape[0]
    fig, grid = subplots(ax, 1, n, (panel_width * n, 0.42 * B + 1.3), sharey=True)
    axes = grid[0]
    kinds = ["track", "mask", "pad", "oov"]
    cmap = ListedColormap([TOKEN_COLORS[k] for k in kinds])
    present: set[int] = set()
    for ax, (name, grid) in zip(axes, grids.items()):
        g = grid.detach().cpu().numpy()
        code = np.zeros(g.shape, dtype=int)
        code[g == MASK_ID], code[g == PAD_ID], code[g == OOV_ID] = 1, 2, 3
        ax.imshow(code, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto", interpolation="nearest")
        for (b, t), tok in np.ndenumerate(g):
            if tok != PAD_ID:
                ax.text(
                    t,
                    b,
                    token_label(tok).replace("MASK", "M"),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="0.1",
                )
        L = g.shape[1]
        ax.set_xticks(range(L), labels=[str(i) for i in range(L)], fontsize=8)
        ax.set_yticks(
            range(B),
            labels=list(row_labels) if row_labels else [f"session {b}" for b in range(B)],
            fontsize=9,
        )
        ax.set_xticks(np.arange(-0.5, L), minor=True)
        ax.set_yticks(np.arange(-0.5, B), minor=True)
        ax.grid(which="minor", color="0.75", linewidth=0.8)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="both", length=0)
        ax.set_xlabel("position", fontsize=9)
        ax.set_title(textwrap.fill(name, 24) if n > 2 else name, fontsize=10)
        present.update(np.unique(code).tolist())
    names = ["track id", "[MASK] (M)", "PAD / no target", "OOV"]
    fig.legend(
        handles=[
            Patch(facecolor=TOKEN_COLORS[kinds[c]], edgecolor="0.6", label=names[c])
            for c in sorted(present)
        ],
        loc="outside lower center",
        ncol=4,
        frameon=False,
        fontsize=8,
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def plot_output_change(
    changes: Mapping[str, pd.DataFrame], position: int, floor: float = 1e-4, ax: Any = None
) -> Figure:
    """Relative output change per position (one panel per model, log scale), edit shaded.

    A change of exactly zero cannot sit on a log axis: it is drawn as a hollow marker on the
    ``floor`` line and labelled "0".
    """
    n = len(changes)
    fig, grid = subplots(ax, 1, n, (3.4 * n, 3.3), sharey=True)
    axes = grid[0]
    palette = sns.color_palette()
    top = max(float(c["rel"].max()) for c in changes.values()) * 3
    for i, (ax, (name, frame)) in enumerate(zip(axes, changes.items())):
        rel = frame["rel"].to_numpy()
        pos = frame["position"].to_numpy()
        zero = rel == 0.0
        ax.vlines(pos[~zero], floor, rel[~zero], color=palette[i], linewidth=6)
        ax.scatter(
            pos[zero],
            np.full(zero.sum(), floor),
            facecolor="white",
            edgecolor=palette[i],
            s=40,
            zorder=3,
            linewidth=1.5,
        )
        for p in pos[zero]:
            ax.annotate(
                "0",
                (p, floor),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="0.25",
            )
        ax.axvspan(position - 0.5, position + 0.5, color="0.5", alpha=0.15)
        ax.text(position, top / 1.4, "edited", ha="center", va="top", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, top)
        ax.set_xticks(pos)
        ax.set_xlim(pos.min() - 0.6, pos.max() + 0.6)
        ax.set_xlabel("position t")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel(r"$\|h'_t - h_t\| \,/\, \|h_t\|$")
    fig.suptitle(
        f"Output change after replacing the track at position {position}",
        fontsize=11,
        fontweight="bold",
    )
    return fig


def plot_parameter_scaling(table: pd.DataFrame, d_model: int, ax: Any = None) -> Figure:
    """Parameters of the track table and of everything else against the catalogue size.

    ``table``: `negrec_lib.study.encoder.parameter_scaling` of an encoder of width ``d_model``;
    its grid rows (mark "") draw the curves, its labelled rows (profiles, the paper) points on
    the total.
    """
    curve = table[table["mark"] == ""]
    sizes = curve["tracks"].to_numpy(float)
    track_table = curve["track_table"].to_numpy(float)
    total = curve["total"].to_numpy(float)
    fig, grid = subplots(ax, 1, 1, (PAGE_WIDTH, 4.0))
    ax = grid[0, 0]
    palette = sns.color_palette()
    ax.plot(sizes, total, color="0.2", linewidth=2.2, label="total")
    ax.plot(
        sizes,
        track_table,
        color=palette[0],
        linewidth=1.6,
        linestyle="--",
        label=f"track table: (tracks + {N_RESERVED}) \u00d7 {d_model}",
    )
    ax.plot(
        sizes,
        total - track_table,
        color=palette[1],
        linewidth=1.6,
        linestyle="-.",
        label="everything else (positions, layers, head)",
    )
    marks = table[table["mark"] != ""]
    for i, (name, v, t) in enumerate(zip(marks["mark"], marks["tracks"], marks["total"])):
        t = float(t)
        ax.scatter([v], [t], color=palette[2 + i % 6], zorder=3, s=36)
        ax.annotate(
            f"{name}: {t / 1e6:,.2f} M parameters\n{t * 4 / 1e6:,.0f} MB in fp32",
            (v, t),
            xytext=(9, -5),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=8,
            bbox={
                "boxstyle": "round,pad=0.2",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.85,
            },
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalogue size (tracks)")
    ax.set_ylabel("parameters")
    ax.set_title(f"The track table is the model (d_model = {d_model})")
    ax.legend(loc="upper left", fontsize=8)
    return fig
