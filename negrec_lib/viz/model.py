"""Figures of the encoder chapter: attention masks, token grids, output changes, parameter counts.

Every plotting function draws into a new constrained-layout figure made without pyplot (a
library call never leaves figures open behind the reader's back) and returns it; in a notebook,
a figure that ends a cell is displayed. Token ids follow `negrec_lib.data.tokens`: 0 = PAD,
1 = MASK, 2 = OOV, tracks from 3.
"""
from __future__ import annotations

import textwrap

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor, nn

from ..config import ModelConfig
from ..data.tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID
from ..model import SessionEncoder

__all__ = ["token_label", "mask_matrix", "plot_masks", "plot_token_grids", "output_change",
           "plot_output_change", "parameter_table", "count_parameters",
           "plot_parameter_scaling"]

RESERVED_NAMES = {PAD_ID: "PAD", MASK_ID: "MASK", OOV_ID: "OOV"}
ALLOWED_COLOR, BLOCKED_COLOR = "#2b6a99", "#eeeeee"
# cell colours of a token grid: track, [MASK], padding / ignored, OOV
TOKEN_COLORS = {"track": "#cfe3f3", "mask": "#f4a259", "pad": "#ffffff", "oov": "#b8a1d9"}


def token_label(token: int) -> str:
    """``PAD``, ``MASK`` or ``OOV`` for reserved ids, the id itself for a track."""
    return RESERVED_NAMES.get(int(token), str(int(token)))


def mask_matrix(mask: Tensor) -> np.ndarray:
    """A [B, 1, L, L] (or [L, L]) boolean attention mask of one session as an [L, L] array."""
    m = mask.detach().cpu()
    while m.ndim > 2:
        m = m[0]
    return m.numpy().astype(bool)


def plot_masks(masks: Mapping[str, Tensor], tokens: Mapping[str, Tensor],
               panel_width: float = 3.1, ncols: int = 2) -> Figure:
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
    fig = Figure(figsize=(panel_width * ncols + 0.4, (panel_width + 0.6) * nrows + 0.5),
                 layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
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
        ax.set_yticks(range(L), labels=[f"{i}: {token_label(t)}" for i, t in enumerate(toks)],
                      fontsize=8)
        ax.xaxis.tick_top()
        ax.set_xticks(np.arange(-0.5, L), minor=True)
        ax.set_yticks(np.arange(-0.5, L), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="both", length=0)
        for q, t in enumerate(toks):
            if t == PAD_ID:          # a padded query: its output is zeroed anyway
                ax.add_patch(_hatch(q, L))
        ax.set_xlabel(title, fontsize=9, fontweight="bold")
    for ax in grid[:, 0]:
        ax.set_ylabel("query position t (attends from)", fontsize=8)
    fig.suptitle("Rows: query position t (attends from).  Columns: key position s "
                 "(attended to).", fontsize=9)
    fig.legend(handles=[Patch(color=ALLOWED_COLOR, label="may attend"),
                        Patch(color=BLOCKED_COLOR, label="blocked"),
                        Patch(facecolor="none", edgecolor="0.45", hatch="///",
                              label="padded query (output zeroed)")],
               loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    return fig


def _hatch(row: int, width: int):
    from matplotlib.patches import Rectangle
    return Rectangle((-0.5, row - 0.5), width, 1, facecolor="none", edgecolor="0.45",
                     hatch="///", linewidth=0)


def plot_token_grids(grids: Mapping[str, Tensor], row_labels: Sequence[str] | None = None,
                     title: str | None = None, panel_width: float | None = None) -> Figure:
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
    fig = Figure(figsize=(panel_width * n, 0.42 * B + 1.3), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
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
                ax.text(t, b, token_label(tok).replace("MASK", "M"), ha="center", va="center",
                        fontsize=8, color="0.1")
        L = g.shape[1]
        ax.set_xticks(range(L), labels=[str(i) for i in range(L)], fontsize=8)
        ax.set_yticks(range(B), labels=list(row_labels) if row_labels else
                      [f"session {b}" for b in range(B)], fontsize=9)
        ax.set_xticks(np.arange(-0.5, L), minor=True)
        ax.set_yticks(np.arange(-0.5, B), minor=True)
        ax.grid(which="minor", color="0.75", linewidth=0.8)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="both", length=0)
        ax.set_xlabel("position", fontsize=9)
        ax.set_title(textwrap.fill(name, 24) if n > 2 else name, fontsize=10)
        present.update(np.unique(code).tolist())
    names = ["track id", "[MASK] (M)", "PAD / no target", "OOV"]
    fig.legend(handles=[Patch(facecolor=TOKEN_COLORS[kinds[c]], edgecolor="0.6", label=names[c])
                        for c in sorted(present)],
               loc="outside lower center", ncol=4, frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


@torch.no_grad()
def output_change(model: SessionEncoder, tracks: Tensor, position: int, new_track: int
                  ) -> pd.DataFrame:
    """How much each position's output moves when the track at ``position`` is replaced.

    ``tracks`` [1, L] is encoded twice in eval mode (no dropout): as given, and with
    ``tracks[0, position] = new_track``. Returns one row per real position: ``abs`` =
    ||h'_t - h_t||, ``rel`` = that divided by ||h_t||.
    """
    was_training = model.training
    model.eval()
    try:
        edited = tracks.clone()
        edited[0, position] = new_track
        h = model(tracks).hidden[0]                                        # [L, D]
        h2 = model(edited).hidden[0]                                       # [L, D]
    finally:
        model.train(was_training)
    real = (tracks[0] != PAD_ID).nonzero().flatten().tolist()
    diff = (h2 - h).norm(dim=-1)                                           # [L]
    rel = diff / h.norm(dim=-1).clamp(min=1e-12)
    return pd.DataFrame({"position": real, "abs": diff[real].tolist(), "rel": rel[real].tolist()})


def plot_output_change(changes: Mapping[str, pd.DataFrame], position: int,
                       floor: float = 1e-4) -> Figure:
    """Relative output change per position (one panel per model, log scale), edit shaded.

    A change of exactly zero cannot sit on a log axis: it is drawn as a hollow marker on the
    ``floor`` line and labelled "0".
    """
    n = len(changes)
    fig = Figure(figsize=(3.4 * n, 3.3), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    palette = sns.color_palette()
    top = max(float(c["rel"].max()) for c in changes.values()) * 3
    for i, (ax, (name, frame)) in enumerate(zip(axes, changes.items())):
        rel = frame["rel"].to_numpy()
        pos = frame["position"].to_numpy()
        zero = rel == 0.0
        ax.vlines(pos[~zero], floor, rel[~zero], color=palette[i], linewidth=6)
        ax.scatter(pos[zero], np.full(zero.sum(), floor), facecolor="white",
                   edgecolor=palette[i], s=40, zorder=3, linewidth=1.5)
        for p in pos[zero]:
            ax.annotate("0", (p, floor), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=8, color="0.25")
        ax.axvspan(position - 0.5, position + 0.5, color="0.5", alpha=0.15)
        ax.text(position, top / 1.4, "edited", ha="center", va="top", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, top)
        ax.set_xticks(pos)
        ax.set_xlim(pos.min() - 0.6, pos.max() + 0.6)
        ax.set_xlabel("position t")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel(r"$\|h'_t - h_t\| \,/\, \|h_t\|$")
    fig.suptitle(f"Output change after replacing the track at position {position}",
                 fontsize=11, fontweight="bold")
    return fig


# ---------------------------------------------------------------------------- parameter counts
def _component(name: str) -> str:
    top = name.split(".")[0]
    return {"item_emb": "track table (item_emb)", "pos_emb": "positions (pos_emb)",
            "layers": "transformer layers", "head": "prediction head (Linear + GELU)",
            "final_norm": "final LayerNorm (pre-LN only)",
            "feature_proj": "feature projection"}.get(top, top)


def parameter_table(model: nn.Module) -> pd.DataFrame:
    """Parameters of ``model`` grouped by component, with each group's share of the total."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        key = _component(name)
        counts[key] = counts.get(key, 0) + p.numel()
    frame = pd.DataFrame({"component": list(counts), "parameters": list(counts.values())})
    total = int(frame["parameters"].sum())
    frame = pd.concat([frame, pd.DataFrame({"component": ["total"], "parameters": [total]})],
                      ignore_index=True)
    frame["share"] = frame["parameters"] / max(total, 1)
    return frame


def count_parameters(cfg: ModelConfig, n_tracks: int) -> pd.DataFrame:
    """`parameter_table` of an encoder with ``n_tracks`` tracks, built on the meta device.

    Meta tensors have shapes but no storage, so a 1 M-track model is counted without
    allocating its 512 MB table.
    """
    with torch.device("meta"):
        model = SessionEncoder(cfg, n_tracks + N_RESERVED)
    return parameter_table(model)


def plot_parameter_scaling(cfg: ModelConfig, n_tracks: Sequence[int],
                           marks: Mapping[str, int] | None = None) -> Figure:
    """Parameters of the track table and of everything else against the catalogue size.

    The curves run from ``min(n_tracks)`` to ``max(n_tracks)`` on a log grid. ``marks``:
    labelled catalogue sizes (profiles, the paper) drawn as points on the total.
    """
    sizes = np.unique(np.geomspace(min(n_tracks), max(n_tracks), 40).round()).astype(int)
    rows = [count_parameters(cfg, int(v)).set_index("component")["parameters"] for v in sizes]
    sizes = sizes.astype(float)
    table = np.array([r["track table (item_emb)"] for r in rows], dtype=float)
    total = np.array([r["total"] for r in rows], dtype=float)
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    palette = sns.color_palette()
    ax.plot(sizes, total, color="0.2", linewidth=2.2, label="total")
    ax.plot(sizes, table, color=palette[0], linewidth=1.6, linestyle="--",
            label=f"track table: (tracks + {N_RESERVED}) \u00d7 {cfg.d_model}")
    ax.plot(sizes, total - table, color=palette[1], linewidth=1.6, linestyle="-.",
            label="everything else (positions, layers, head)")
    for i, (name, v) in enumerate((marks or {}).items()):
        t = float(count_parameters(cfg, int(v)).set_index("component").loc["total", "parameters"])
        ax.scatter([v], [t], color=palette[2 + i % 6], zorder=3, s=36)
        ax.annotate(f"{name}: {t / 1e6:,.2f} M parameters\n{t * 4 / 1e6:,.0f} MB in fp32", (v, t),
                    xytext=(9, -5), textcoords="offset points", ha="left", va="top", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none",
                          "alpha": 0.85})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalogue size (tracks)")
    ax.set_ylabel("parameters")
    ax.set_title(f"The track table is the model (d_model = {cfg.d_model})")
    ax.legend(loc="upper left", fontsize=8)
    return fig
