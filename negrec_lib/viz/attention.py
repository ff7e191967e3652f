"""Attention maps, attention on skipped tracks, embedding geometry, and the attention explorer.

The chapter "Looking inside" compares two trained causal encoders (without and with the skip
loss) on the sessions of a prepared dataset. Everything here works on `Prefixes`: for every
evaluation example, the tracks played before its target with their skip labels.

The explorer (`attention_explorer`) is built to work in the static book, where no kernel runs:
every figure it can show is rendered in advance into a `widgets.Image`, the images sit in nested
`widgets.Stack` containers, and the dropdowns drive the stacks through `widgets.jslink`, which
the browser executes from the saved widget state without Python.

Plotting functions return a figure made without pyplot (a library call never leaves figures
open behind the reader's back); in a notebook, a figure that ends a cell is displayed.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from torch import Tensor

from ..data.sessions import SessionData
from ..data.tokens import N_RESERVED, PAD_ID
from ..model import SessionEncoder

__all__ = ["Prefixes", "prefixes", "pick_sessions", "borrow_skip_labels", "attention_weights",
           "skip_attention",
           "summarize_skip_attention", "ratio_table", "plot_skip_attention", "plot_attention_maps",
           "embedding_similarity", "summarize_similarity", "session_gaps",
           "plot_embedding_similarity",
           "AttentionExplorer", "attention_explorer"]

SKIP_COLOR = "#c0392b"
PAIR_ORDER = ("kept-kept", "kept-skipped", "kept-next kept", "kept-random")


# ---------------------------------------------------------------------------------- sessions
@dataclass
class Prefixes:
    """Evaluation prefixes: the tracks before each target, with their skip labels."""

    tracks: Tensor     # [N, L] long, left-aligned, PAD after the prefix
    skipped: Tensor    # [N, L] bool, False on padding
    lengths: Tensor    # [N] long, prefix length
    rows: Tensor       # [N] long, session row in the dataset

    def __len__(self) -> int:
        return int(self.tracks.shape[0])

    def select(self, index: Sequence[int] | Tensor) -> "Prefixes":
        """The prefixes at ``index`` (in that order)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return Prefixes(self.tracks[idx], self.skipped[idx], self.lengths[idx], self.rows[idx])

    def session(self, i: int) -> tuple[Tensor, Tensor]:
        """(tracks [t], skipped [t]) of prefix ``i`` without padding."""
        t = int(self.lengths[i])
        return self.tracks[i, :t], self.skipped[i, :t]


def prefixes(data: SessionData, split: str = "test", max_sessions: int | None = None
             ) -> Prefixes:
    """The prefixes of ``split`` (``valid`` or ``test``), first ``max_sessions`` examples.

    The skip label of a prefix track is the dataset's (strength >= ``data.skip_strength``).
    """
    rows = data.splits[f"{split}_rows"][:max_sessions].long().cpu()        # [N]
    lengths = data.splits[f"{split}_pos"][:max_sessions].long().cpu()      # [N]
    cols = torch.arange(data.max_length)
    real = cols[None, :] < lengths[:, None]                                # [N, L]
    tracks = torch.where(real, data.tracks[rows].long().cpu(), PAD_ID)     # [N, L]
    skipped = real & (data.skip[rows].cpu() >= data.skip_strength)         # [N, L]
    return Prefixes(tracks, skipped, lengths, rows)


def pick_sessions(pre: Prefixes, n: int, min_length: int = 10, min_skipped: int = 3,
                  min_kept: int = 3, seed: int = 0) -> list[int]:
    """``n`` prefix indices, drawn at random (seeded) among prefixes with enough of both kinds.

    Returned in increasing order; fewer than ``n`` when fewer prefixes qualify.
    """
    n_skip = pre.skipped.sum(1)
    n_kept = pre.lengths - n_skip
    ok = (pre.lengths >= min_length) & (n_skip >= min_skipped) & (n_kept >= min_kept)
    candidates = ok.nonzero().flatten().numpy()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    return sorted(int(i) for i in chosen)


def borrow_skip_labels(pre: Prefixes, seed: int = 0) -> Prefixes:
    """The same prefixes, each with the skip labels of another prefix of the same length.

    A control for statistics over skip labels: the borrowed labels keep how skips depend on the
    position in a session (listeners skip more as a session goes on) but no longer belong to
    the tracks they now mark. A statistic that differs between the real and the borrowed
    labels reflects the tracks that were skipped, not where skips tend to happen.
    """
    gen = torch.Generator().manual_seed(seed)
    source = torch.arange(len(pre))
    for length in pre.lengths.unique():
        group = (pre.lengths == length).nonzero().flatten()                 # same length
        source[group] = group[torch.randperm(len(group), generator=gen)]
    return Prefixes(pre.tracks, pre.skipped[source], pre.lengths, pre.rows)


# ---------------------------------------------------------------------------------- attention
@torch.no_grad()
def attention_weights(model: SessionEncoder, tracks: Tensor, batch_size: int = 512) -> Tensor:
    """Attention weights of every layer, [n_layers, N, H, L, L], computed in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        parts = []
        for i in range(0, len(tracks), batch_size):
            att = model(tracks[i:i + batch_size].to(device), return_attention=True).attention
            parts.append(torch.stack(att).float().cpu())                   # [n_layers, B, H, L, L]
    finally:
        model.train(was_training)
    return torch.cat(parts, dim=1)


def skip_attention(model: SessionEncoder, pre: Prefixes, queries: Literal["all", "last"] = "all",
                   batch_size: int = 512) -> pd.DataFrame:
    """Attention one skipped and one kept previous track receive, per session, layer and head.

    For every query position t of a prefix (a point where the causal model predicts), look at
    the previous tracks s < t. ``skipped`` is the mean weight w[t, s] over the previous tracks
    that were skipped, ``kept`` the mean over those that were not; both are averaged over the
    queries that have at least one previous track of each kind. Per-track means, not sums: a
    session with many skips would otherwise put more mass on skips by count alone. Under
    uniform attention the two are equal. Sessions without such a query are left out.
    ``queries="last"`` keeps only the last position of each prefix (the one whose output
    scores the held-out track).

    Returns one row per (session, layer, head): session (index into ``pre``), layer, head
    (both 1-based), skipped, kept, n_queries.
    """
    weights = attention_weights(model, pre.tracks, batch_size)             # [NL, N, H, L, L]
    n_layers, N, H, L, _ = weights.shape
    pos = torch.arange(L)
    real = pos[None, :] < pre.lengths[:, None]                             # [N, L]
    prev = (pos[None, :] < pos[:, None])                                   # [L(t), L(s)] s < t
    skip_key = prev[None] & (pre.skipped & real)[:, None, :]               # [N, L, L]
    kept_key = prev[None] & (~pre.skipped & real)[:, None, :]              # [N, L, L]
    n_skip, n_kept = skip_key.sum(-1), kept_key.sum(-1)                    # [N, L]
    query_ok = real & (n_skip > 0) & (n_kept > 0)                          # [N, L]
    if queries == "last":
        query_ok &= pos[None, :] == (pre.lengths - 1)[:, None]
    elif queries != "all":
        raise ValueError(f"queries must be 'all' or 'last', got {queries!r}")
    n_q = query_ok.sum(-1)                                                 # [N]
    keep = n_q > 0
    rows = []
    for layer in range(n_layers):
        w = weights[layer]                                                 # [N, H, L, L]
        a_skip = (w * skip_key[:, None]).sum(-1) / n_skip.clamp(min=1)[:, None]   # [N, H, L]
        a_kept = (w * kept_key[:, None]).sum(-1) / n_kept.clamp(min=1)[:, None]   # [N, H, L]
        q = query_ok[:, None].float()                                      # [N, 1, L]
        den = n_q.clamp(min=1)[:, None].float()                            # [N, 1]
        s_skip = (a_skip * q).sum(-1) / den                                # [N, H]
        s_kept = (a_kept * q).sum(-1) / den                                # [N, H]
        sess = torch.arange(N)[keep]
        for h in range(H):
            rows.append(pd.DataFrame({"session": sess.numpy(), "layer": layer + 1, "head": h + 1,
                                      "skipped": s_skip[keep, h].numpy(),
                                      "kept": s_kept[keep, h].numpy(),
                                      "n_queries": n_q[keep].numpy()}))
    return pd.concat(rows, ignore_index=True)


def _bootstrap_ratio(skipped: np.ndarray, kept: np.ndarray, n_boot: int, rng: np.random.Generator,
                     alpha: float = 0.05) -> tuple[float, float]:
    idx = rng.integers(0, len(skipped), size=(n_boot, len(skipped)))       # [n_boot, n]
    ratios = skipped[idx].mean(1) / kept[idx].mean(1)
    return float(np.quantile(ratios, alpha / 2)), float(np.quantile(ratios, 1 - alpha / 2))


def summarize_skip_attention(stats: Mapping[str, pd.DataFrame], n_boot: int = 1000,
                             seed: int = 0) -> pd.DataFrame:
    """Per model, layer and head: mean per-track attention on skipped and kept previous tracks.

    ``ratio`` = mean(skipped) / mean(kept) over sessions (1 = no preference); ``low``/``high``
    is a 95% percentile bootstrap interval of the ratio, resampling sessions.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, frame in stats.items():
        for (layer, head), g in frame.groupby(["layer", "head"], sort=True):
            s, k = g["skipped"].to_numpy(), g["kept"].to_numpy()
            low, high = _bootstrap_ratio(s, k, n_boot, rng)
            out.append({"model": name, "layer": int(layer), "head": int(head),
                        "skipped": s.mean(), "kept": k.mean(), "ratio": s.mean() / k.mean(),
                        "low": low, "high": high, "sessions": len(g)})
    return pd.DataFrame(out)


def ratio_table(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """`summarize_skip_attention` as a table: rows (layer, head), "ratio [low, high]" per model."""
    cell = summary.apply(lambda r: f"{r['ratio']:.{digits}f} [{r['low']:.{digits}f}, "
                                   f"{r['high']:.{digits}f}]", axis=1)
    table = summary.assign(cell=cell).pivot(index=["layer", "head"], columns="model", values="cell")
    table = table[list(dict.fromkeys(summary["model"]))]
    table.columns.name = None
    return table


def plot_skip_attention(summary: pd.DataFrame, control: pd.DataFrame | None = None) -> Figure:
    """Per-track attention ratio (skipped / kept previous tracks) per head; a panel per layer.

    ``control``: the same summary computed with borrowed labels (`borrow_skip_labels`), drawn
    as hollow markers beside each model's points.
    """
    layers = sorted(summary["layer"].unique())
    models = list(dict.fromkeys(summary["model"]))
    series = [(name, summary, True) for name in models]
    if control is not None:
        series += [(name, control, False) for name in models]
    fig = Figure(figsize=(3.6 * len(layers) + 0.6, 3.8), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False, sharey=True)[0]
    palette = sns.color_palette()
    width = 0.7 / len(series)
    for ax, layer in zip(axes, layers):
        for j, (name, frame, filled) in enumerate(series):
            g = frame[(frame["layer"] == layer) & (frame["model"] == name)]
            x = g["head"].to_numpy() + (j - (len(series) - 1) / 2) * width
            color = palette[models.index(name)]
            label = name if filled else f"{name}, borrowed labels (control)"
            ax.errorbar(x, g["ratio"], yerr=[g["ratio"] - g["low"], g["high"] - g["ratio"]],
                        fmt="o" if filled else "s", color=color, capsize=2.5, markersize=5,
                        markerfacecolor=color if filled else "white",
                        label=label if layer == layers[0] else None)
        ax.axhline(1.0, color="0.35", linestyle="--", linewidth=1)
        ax.set_xticks(sorted(summary["head"].unique()))
        ax.set_xlabel("head")
        ax.set_title(f"layer {layer}", fontsize=10)
    axes[0].set_ylabel("attention per skipped track\n/ attention per kept track")
    fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=8)
    fig.suptitle("Do heads look at skipped tracks? (1 = no preference; 95% bootstrap intervals)",
                 fontsize=10, fontweight="bold")
    return fig


def _masked(w: np.ndarray) -> np.ma.MaskedArray:
    """``w`` with the causally hidden cells (above the diagonal, weight exactly 0) masked."""
    t = w.shape[0]
    return np.ma.masked_where(np.triu(np.ones((t, t), dtype=bool), k=1) & (w == 0), w)


def _position_ticks(t: int) -> np.ndarray:
    """0-based tick positions labelled 1, 5, 10, 15, 20 (those below ``t``)."""
    return np.array([p - 1 for p in (1, 5, 10, 15, 20) if p <= t])


def _attention_panel(ax: Axes, w: np.ndarray, skipped: np.ndarray, norm: PowerNorm,
                     cmap: str, fontsize: float = 8.0):
    """One attention map [t, t]; red triangles above (keys) and left (queries) mark skips.

    Returns the ``AxesImage`` (its data can be swapped with ``set_data(_masked(w))``).
    """
    t = len(skipped)
    image = ax.imshow(_masked(w), cmap=cmap, norm=norm, interpolation="nearest")
    ticks = _position_ticks(t)
    ax.set_xticks(ticks, labels=[str(i + 1) for i in ticks], fontsize=fontsize)
    ax.set_yticks(ticks, labels=[str(i + 1) for i in ticks], fontsize=fontsize)
    cols = np.flatnonzero(skipped)
    style = {"marker": "v", "s": 12, "color": SKIP_COLOR, "clip_on": False, "zorder": 4,
             "linewidths": 0}
    ax.scatter(cols, np.full(len(cols), -1.0), **style)                   # skipped keys
    ax.scatter(np.full(len(cols), -1.0), cols, **{**style, "marker": ">"})  # skipped queries
    ax.set_xlim(-1.5, t - 0.5)
    ax.set_ylim(t - 0.5, -1.5)
    ax.tick_params(length=2, pad=1.5)
    ax.grid(False)
    for side in ("top", "left"):
        ax.spines[side].set_visible(False)
    ax.set_facecolor("white")
    return image


def plot_attention_maps(models: Mapping[str, SessionEncoder], tracks: Tensor, skipped: Tensor,
                        title: str | None = None, gamma: float = 0.5) -> Figure:
    """Every layer and head of every model on one session: rows model x layer, columns heads.

    ``tracks`` [t] and ``skipped`` [t] describe one prefix (no padding). Colours use a power
    scale (``gamma`` 0.5: square root), so that small weights stay visible; red triangles mark
    the skipped tracks, above the key axis and left of the query axis. Positions are 1-based.
    """
    maps = {name: attention_weights(m, tracks[None])[:, 0].numpy()        # [n_layers, H, t, t]
            for name, m in models.items()}
    first = next(iter(maps.values()))
    n_layers, H = first.shape[:2]
    n_rows = len(maps) * n_layers
    fig = Figure(figsize=(min(7.0, 1.45 * H + 1.2), 1.6 * n_rows + 0.9), layout="constrained")
    axes = fig.subplots(n_rows, H, squeeze=False)
    norm = PowerNorm(gamma, vmin=0.0, vmax=1.0)
    sk = skipped.cpu().numpy().astype(bool)
    image = None
    for m, (name, w) in enumerate(maps.items()):
        for layer in range(n_layers):
            r = m * n_layers + layer
            for h in range(H):
                ax = axes[r, h]
                image = _attention_panel(ax, w[layer, h], sk, norm, "rocket_r", fontsize=8)
                if r == 0:
                    ax.set_title(f"head {h + 1}", fontsize=9)
            axes[r, 0].set_ylabel(f"{name}\nlayer {layer + 1}\nquery t", fontsize=8)
    bar = fig.colorbar(image, ax=axes, shrink=0.5)
    bar.set_label("attention weight (square-root scale)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(title or "Attention maps: query t down, key s across; "
                          "red triangles: skipped tracks",
                 fontsize=10, fontweight="bold")
    return fig


# ---------------------------------------------------------------------------------- embeddings
@torch.no_grad()
def embedding_similarity(models: Mapping[str, SessionEncoder], pre: Prefixes,
                         seed: int = 0) -> pd.DataFrame:
    """Mean cosine similarity of track embeddings per session, by kind of pair.

    Pairs of distinct tracks of one prefix: kept-kept, kept-skipped, and kept-next kept (a kept
    track and the first later kept track: the skip loss's anchor and positive). kept-random
    pairs each kept track with one track drawn uniformly from the catalogue (the same draws for
    every model), a reference level. Pairs of equal ids, and out-of-vocabulary tracks (which
    share one embedding), are left out. Returns one row per (model, session, pair) with the
    mean cosine; sessions without a pair of a kind have no row.
    """
    N, L = pre.tracks.shape
    real = torch.arange(L)[None, :] < pre.lengths[:, None]                 # [N, L]
    real &= pre.tracks >= N_RESERVED                                       # OOV shares one row: out
    kept, skip = real & ~pre.skipped, real & pre.skipped                   # [N, L]
    distinct = pre.tracks[:, :, None] != pre.tracks[:, None, :]            # [N, L, L]
    upper = torch.ones(L, L, dtype=torch.bool).triu(1)                     # s > t
    later_kept = upper[None] & kept[:, None, :]                            # [N, t, s]
    first_later = later_kept & (later_kept.long().cumsum(-1) == 1)         # [N, L, L]
    pair_masks = {
        "kept-kept": kept[:, :, None] & kept[:, None, :] & upper & distinct,
        "kept-skipped": kept[:, :, None] & skip[:, None, :] & distinct,
        "kept-next kept": kept[:, :, None] & first_later & distinct,
    }
    vocab = next(iter(models.values())).vocab_size
    gen = torch.Generator().manual_seed(seed)
    random_ids = torch.randint(N_RESERVED, vocab, (N, L), generator=gen)  # [N, L]
    out = []
    for name, model in models.items():
        table = F.normalize(model.item_embeddings.detach().float().cpu(), dim=-1)   # [V, D]
        e = table[pre.tracks]                                              # [N, L, D]
        cos = e @ e.transpose(1, 2)                                        # [N, L, L]
        for pair, mask in pair_masks.items():
            n = mask.sum((1, 2))
            mean = (cos * mask).sum((1, 2)) / n.clamp(min=1)
            ok = (n > 0).numpy()
            out.append(pd.DataFrame({"model": name, "session": np.flatnonzero(ok), "pair": pair,
                                     "cosine": mean.numpy()[ok]}))
        rand = (e * table[random_ids]).sum(-1)                             # [N, L]
        n = kept.sum(1)
        mean = (rand * kept).sum(1) / n.clamp(min=1)
        ok = (n > 0).numpy()
        out.append(pd.DataFrame({"model": name, "session": np.flatnonzero(ok),
                                 "pair": "kept-random", "cosine": mean.numpy()[ok]}))
    return pd.concat(out, ignore_index=True)


def summarize_similarity(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean per-session cosine by model and pair (columns: pairs), and the within-session gap.

    ``gap`` = mean over sessions of (kept-kept minus kept-skipped), on sessions that have both;
    ``gap > 0`` is the share of those sessions where kept tracks are closer to each other than
    to the session's skipped tracks.
    """
    table = frame.pivot_table(index="model", columns="pair", values="cosine", aggfunc="mean",
                              sort=False)
    table = table[[p for p in PAIR_ORDER if p in table.columns]]
    gap = session_gaps(frame).groupby("model", sort=False)["gap"]
    table["gap"] = gap.mean()
    table["gap > 0"] = gap.apply(lambda g: float((g > 0).mean()))
    table.columns.name = None
    return table


def session_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and session: kept-kept minus kept-skipped mean cosine (sessions with both)."""
    wide = frame.pivot_table(index=["model", "session"], columns="pair", values="cosine",
                             sort=False).dropna(subset=["kept-kept", "kept-skipped"])
    gap = (wide["kept-kept"] - wide["kept-skipped"]).rename("gap")
    return gap.reset_index()


def plot_embedding_similarity(frame: pd.DataFrame) -> Figure:
    """Left: per-session mean cosine by kind of pair and model. Right: the within-session gap."""
    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.7, 1])
    order = [p for p in PAIR_ORDER if p in set(frame["pair"])]
    sns.boxplot(frame, x="pair", y="cosine", hue="model", order=order, ax=left, fliersize=1.2,
                linewidth=1)
    left.axhline(0.0, color="0.35", linewidth=0.8)
    left.set_xticks(range(len(order)), labels=[p.replace("random", "random\n(catalogue)")
                                               for p in order], fontsize=9)
    left.set_xlabel("pairs: a kept track of a session and ...", fontsize=10)
    left.set_ylabel("mean cosine similarity\nper session", fontsize=10)
    left.set_title("Track embeddings within a session", fontsize=11)
    left.legend(title=None, loc="lower left", fontsize=8)
    gaps = session_gaps(frame)
    sns.histplot(gaps, x="gap", hue="model", hue_order=list(dict.fromkeys(frame["model"])),
                 element="step", stat="density", common_norm=False, bins=40, ax=right)
    right.axvline(0.0, color="0.35", linewidth=0.8)
    right.set_xlabel("cos(kept, kept) \u2212 cos(kept, skipped)\nper session", fontsize=10)
    right.set_ylabel("density (sessions)", fontsize=10)
    right.set_title("The within-session gap", fontsize=11)
    if right.get_legend() is not None:
        sns.move_legend(right, "upper right", title=None, fontsize=8)
    return fig


# ---------------------------------------------------------------------------------- explorer
def _png(fig: Figure, dpi: int, colors: int) -> bytes:
    """The figure as a small PNG: rendered at ``dpi``, quantised to a ``colors`` palette."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    image = PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=colors).save(small, format="png", optimize=True)
    return small.getvalue()


class _ExplorerCanvas:
    """One figure per session, redrawn for each layer and head with new image data only.

    The first render lays the figure out (constrained layout); later renders keep that layout
    and swap the data of the heatmaps and the title, which is several times faster.
    """

    def __init__(self, names: Sequence[str], skipped: np.ndarray, gamma: float) -> None:
        n, t = len(names), len(skipped)
        self.fig = Figure(figsize=(2.75 * n + 0.9, 3.1), layout="constrained")
        self.fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06)
        axes = self.fig.subplots(1, n, squeeze=False)[0]
        norm = PowerNorm(gamma, vmin=0.0, vmax=1.0)
        blank = np.tril(np.full((t, t), 1.0 / t))
        self.images = []
        for ax, name in zip(axes, names):
            self.images.append(_attention_panel(ax, blank, skipped, norm, "rocket_r", 8))
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("key s (position)", fontsize=9)
        axes[0].set_ylabel("query t (position)", fontsize=9)
        bar = self.fig.colorbar(self.images[-1], ax=axes, shrink=0.8)
        bar.set_label("weight (sqrt scale)", fontsize=9)
        bar.ax.tick_params(labelsize=8)
        self.title = self.fig.suptitle("", fontsize=10, fontweight="bold")
        self.laid_out = False

    def render(self, maps: Sequence[np.ndarray], title: str, dpi: int, colors: int) -> bytes:
        """PNG bytes of the figure showing ``maps`` (one [t, t] array per model)."""
        for image, w in zip(self.images, maps):
            image.set_data(_masked(w))
        self.title.set_text(title)
        png = _png(self.fig, dpi, colors)
        if not self.laid_out:
            self.fig.set_layout_engine("none")        # keep the first layout from now on
            self.laid_out = True
        return png


try:                                        # the explorer needs ipywidgets (the viz extra)
    import ipywidgets as widgets
    _Box = widgets.VBox
except ImportError:  # pragma: no cover
    widgets = None
    _Box = object


class AttentionExplorer(_Box):
    """The explorer widget (a ``VBox``): dropdowns above a nested stack of prerendered images.

    Attributes
    ----------
    choices : list of (session index, layer, head) keys (layer and head 1-based), one per image
    images : dict key -> ``widgets.Image`` (PNG bytes, in the saved widget state)
    dropdowns : dict "session" / "layer" / "head" -> ``widgets.Dropdown``
    links : list of ``widgets.Link`` (jslinks from a dropdown's ``index`` to a stack's
        ``selected_index``): the selection runs in the browser, with or without a kernel
    state_bytes : total size of the PNG images
    """


def attention_explorer(models: Mapping[str, SessionEncoder], pre: Prefixes,
                       sessions: Sequence[int], layers: Sequence[int] | None = None,
                       heads: Sequence[int] | None = None, dpi: int = 90, colors: int = 32,
                       gamma: float = 0.5) -> AttentionExplorer:
    """Compare models' attention maps, one session, layer and head at a time.

    Parameters
    ----------
    models : name -> trained encoder; shown side by side (same vocabulary and layer sizes).
    pre, sessions : the prefixes, and the indices (into ``pre``) of the sessions offered.
    layers, heads : 1-based layers and heads offered (default: all).
    dpi, colors : resolution and palette size of the prerendered PNGs, which are saved with the
        notebook: 6 sessions x 2 layers x 4 heads at the defaults are about 0.25 MB of PNG and
        0.4 MB of saved widget state.

    Every choice is rendered now; in the page, choosing only switches which image is shown
    (see the module docstring), so the explorer also works in the static book.
    """
    if widgets is None:  # pragma: no cover
        raise ImportError("attention_explorer needs ipywidgets: pip install 'negrec[viz]'")
    weights = {name: attention_weights(m, pre.tracks[list(sessions)]).numpy()
               for name, m in models.items()}                             # [NL, S, H, L, L]
    n_layers, _, n_heads = next(iter(weights.values())).shape[:3]
    layers = list(layers or range(1, n_layers + 1))
    heads = list(heads or range(1, n_heads + 1))
    images: dict[tuple[int, int, int], widgets.Image] = {}
    # one Layout model shared by all images and one by all stacks: the saved state holds every
    # widget model, and a private Layout per widget would add about 1 kB each
    image_layout = widgets.Layout(max_width="100%", height="auto")
    stack_layout = widgets.Layout()
    session_stacks = []
    layer_stacks: list[widgets.Stack] = []
    head_stacks: list[widgets.Stack] = []
    labels = []
    for si, s in enumerate(sessions):
        tracks, skipped = pre.session(s)
        t = len(tracks)
        sk = skipped.numpy().astype(bool)
        labels.append((f"#{s}: {t} tracks, {int(sk.sum())} skipped", si))
        canvas = _ExplorerCanvas(list(models), sk, gamma)
        per_layer = []
        for layer in layers:
            per_head = []
            for head in heads:
                maps = [w[layer - 1, si, head - 1, :t, :t] for w in weights.values()]
                png = canvas.render(maps, f"session #{s}, layer {layer}, head {head}", dpi, colors)
                img = widgets.Image(value=png, format="png", layout=image_layout)
                images[(s, layer, head)] = img
                per_head.append(img)
            stack = widgets.Stack(per_head, selected_index=0, layout=stack_layout)
            head_stacks.append(stack)
            per_layer.append(stack)
        stack = widgets.Stack(per_layer, selected_index=0, layout=stack_layout)
        layer_stacks.append(stack)
        session_stacks.append(stack)
    top = widgets.Stack(session_stacks, selected_index=0, layout=stack_layout)
    style = {"description_width": "initial"}
    dropdowns = {
        "session": widgets.Dropdown(options=labels, value=0, description="session",
                                    style=style, layout=widgets.Layout(width="300px")),
        "layer": widgets.Dropdown(options=[(f"layer {x}", i) for i, x in enumerate(layers)],
                                  value=0, description="layer", style=style,
                                  layout=widgets.Layout(width="130px")),
        "head": widgets.Dropdown(options=[(f"head {x}", i) for i, x in enumerate(heads)],
                                 value=0, description="head", style=style,
                                 layout=widgets.Layout(width="130px")),
    }
    links = [widgets.jslink((dropdowns["session"], "index"), (top, "selected_index"))]
    links += [widgets.jslink((dropdowns["layer"], "index"), (st, "selected_index"))
              for st in layer_stacks]
    links += [widgets.jslink((dropdowns["head"], "index"), (st, "selected_index"))
              for st in head_stacks]
    names = " | ".join(models)
    legend = widgets.HTML(
        f"<small>Left to right: {names}. Query t down, key s across; "
        f"<b style='color:{SKIP_COLOR}'>red triangles</b> mark skipped tracks. "
        f"All {len(images)} views are prerendered, so the menus also work in the static page."
        "</small>")
    box = AttentionExplorer([widgets.HBox(list(dropdowns.values())), top, legend])
    box.choices = list(images)
    box.images = images
    box.dropdowns = dropdowns
    box.links = links
    box.state_bytes = sum(len(im.value) for im in images.values())
    return box
