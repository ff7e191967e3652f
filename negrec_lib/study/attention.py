"""What two trained encoders attend to, and how their track embeddings lie: chapter 5's analysis.

The chapter "Looking inside" compares two trained causal encoders (without and with the skip
loss) on the sessions of a prepared dataset. Everything here works on `Prefixes`: for every
evaluation example, the tracks played before its target with their skip labels. Pure functions
over tensors and DataFrames; `negrec_lib.viz.attention` draws their tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats as sps
from torch import Tensor

from ..data.sessions import SessionData
from ..data.skips import is_skipped
from ..model import SessionEncoder
from ..tokens import N_RESERVED, PAD_ID

__all__ = [
    "PAIR_ORDER",
    "Prefixes",
    "prefixes",
    "pick_sessions",
    "borrow_skip_labels",
    "attention_weights",
    "skip_attention",
    "summarize_skip_attention",
    "ratio_table",
    "embedding_similarity",
    "summarize_similarity",
    "session_gaps",
]

PAIR_ORDER = ("kept-kept", "kept-skipped", "kept-next kept", "kept-random")


# ---------------------------------------------------------------------------------- sessions
@dataclass
class Prefixes:
    """Evaluation prefixes: the tracks before each target, with their skip labels."""

    tracks: Tensor  # [N, L] long, left-aligned, PAD after the prefix
    skipped: Tensor  # [N, L] bool, False on padding
    lengths: Tensor  # [N] long, prefix length
    rows: Tensor  # [N] long, session row in the dataset

    def __len__(self) -> int:
        return int(self.tracks.shape[0])

    def select(self, index: Sequence[int] | Tensor) -> Prefixes:
        """The prefixes at ``index`` (in that order)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return Prefixes(self.tracks[idx], self.skipped[idx], self.lengths[idx], self.rows[idx])

    def session(self, i: int) -> tuple[Tensor, Tensor]:
        """(tracks [t], skipped [t]) of prefix ``i`` without padding."""
        t = int(self.lengths[i])
        return self.tracks[i, :t], self.skipped[i, :t]


def prefixes(data: SessionData, split: str = "test", max_sessions: int | None = None) -> Prefixes:
    """The prefixes of ``split`` (``valid`` or ``test``), first ``max_sessions`` examples.

    The skip label of a prefix track is the dataset's (strength >= ``data.skip_strength``).
    """
    rows = data.splits[f"{split}_rows"][:max_sessions].long().cpu()  # [N]
    lengths = data.splits[f"{split}_pos"][:max_sessions].long().cpu()  # [N]
    cols = torch.arange(data.max_length)
    real = cols[None, :] < lengths[:, None]  # [N, L]
    tracks = torch.where(real, data.tracks[rows].long().cpu(), PAD_ID)  # [N, L]
    skipped = real & is_skipped(data.skip[rows].cpu(), data.skip_strength)  # [N, L]
    return Prefixes(tracks, skipped, lengths, rows)


def pick_sessions(
    pre: Prefixes,
    n: int,
    min_length: int = 10,
    min_skipped: int = 3,
    min_kept: int = 3,
    seed: int = 0,
) -> list[int]:
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
        group = (pre.lengths == length).nonzero().flatten()  # same length
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
            att = model(tracks[i : i + batch_size].to(device), return_attention=True).attention
            parts.append(torch.stack(att).float().cpu())  # [n_layers, B, H, L, L]
    finally:
        model.train(was_training)
    return torch.cat(parts, dim=1)


def skip_attention(
    model: SessionEncoder,
    pre: Prefixes,
    queries: Literal["all", "last"] = "all",
    batch_size: int = 512,
) -> pd.DataFrame:
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
    weights = attention_weights(model, pre.tracks, batch_size)  # [NL, N, H, L, L]
    n_layers, N, H, L, _ = weights.shape
    pos = torch.arange(L)
    real = pos[None, :] < pre.lengths[:, None]  # [N, L]
    prev = pos[None, :] < pos[:, None]  # [L(t), L(s)] s < t
    skip_key = prev[None] & (pre.skipped & real)[:, None, :]  # [N, L, L]
    kept_key = prev[None] & (~pre.skipped & real)[:, None, :]  # [N, L, L]
    n_skip, n_kept = skip_key.sum(-1), kept_key.sum(-1)  # [N, L]
    query_ok = real & (n_skip > 0) & (n_kept > 0)  # [N, L]
    if queries == "last":
        query_ok &= pos[None, :] == (pre.lengths - 1)[:, None]
    elif queries != "all":
        raise ValueError(f"queries must be 'all' or 'last', got {queries!r}")
    n_q = query_ok.sum(-1)  # [N]
    keep = n_q > 0
    rows = []
    for layer in range(n_layers):
        w = weights[layer]  # [N, H, L, L]
        a_skip = (w * skip_key[:, None]).sum(-1) / n_skip.clamp(min=1)[:, None]  # [N, H, L]
        a_kept = (w * kept_key[:, None]).sum(-1) / n_kept.clamp(min=1)[:, None]  # [N, H, L]
        q = query_ok[:, None].float()  # [N, 1, L]
        den = n_q.clamp(min=1)[:, None].float()  # [N, 1]
        s_skip = (a_skip * q).sum(-1) / den  # [N, H]
        s_kept = (a_kept * q).sum(-1) / den  # [N, H]
        sess = torch.arange(N)[keep]
        for h in range(H):
            rows.append(
                pd.DataFrame(
                    {
                        "session": sess.numpy(),
                        "layer": layer + 1,
                        "head": h + 1,
                        "skipped": s_skip[keep, h].numpy(),
                        "kept": s_kept[keep, h].numpy(),
                        "n_queries": n_q[keep].numpy(),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _bootstrap_ratio(
    skipped: np.ndarray,
    kept: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(skipped) / mean(kept), resampling sessions (pairs)."""
    res = sps.bootstrap(
        (skipped, kept),
        lambda s, k, axis=-1: s.mean(axis) / k.mean(axis),
        n_resamples=n_boot,
        paired=True,
        vectorized=True,
        confidence_level=1 - alpha,
        method="percentile",
        rng=rng,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize_skip_attention(
    stats: Mapping[str, pd.DataFrame], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
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
            out.append(
                {
                    "model": name,
                    "layer": int(layer),
                    "head": int(head),
                    "skipped": s.mean(),
                    "kept": k.mean(),
                    "ratio": s.mean() / k.mean(),
                    "low": low,
                    "high": high,
                    "sessions": len(g),
                }
            )
    return pd.DataFrame(out)


def ratio_table(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """`summarize_skip_attention` as a table: rows (layer, head), "ratio [low, high]" per model."""
    cell = summary.apply(
        lambda r: f"{r['ratio']:.{digits}f} [{r['low']:.{digits}f}, {r['high']:.{digits}f}]", axis=1
    )
    table = summary.assign(cell=cell).pivot(index=["layer", "head"], columns="model", values="cell")
    table = table[list(dict.fromkeys(summary["model"]))]
    table.columns.name = None
    return table


# ---------------------------------------------------------------------------------- embeddings
@torch.no_grad()
def embedding_similarity(
    models: Mapping[str, SessionEncoder], pre: Prefixes, seed: int = 0
) -> pd.DataFrame:
    """Mean cosine similarity of track embeddings per session, by kind of pair.

    Pairs of distinct tracks of one prefix: kept-kept, kept-skipped, and kept-next kept (a kept
    track and the first later kept track: the skip loss's anchor and positive). kept-random
    pairs each kept track with one track drawn uniformly from the catalogue (the same draws for
    every model), a reference level. Pairs of equal ids, and out-of-vocabulary tracks (which
    share one embedding), are left out. Returns one row per (model, session, pair) with the
    mean cosine; sessions without a pair of a kind have no row.
    """
    N, L = pre.tracks.shape
    real = torch.arange(L)[None, :] < pre.lengths[:, None]  # [N, L]
    real &= pre.tracks >= N_RESERVED  # OOV shares one row: out
    kept, skip = real & ~pre.skipped, real & pre.skipped  # [N, L]
    distinct = pre.tracks[:, :, None] != pre.tracks[:, None, :]  # [N, L, L]
    upper = torch.ones(L, L, dtype=torch.bool).triu(1)  # s > t
    later_kept = upper[None] & kept[:, None, :]  # [N, t, s]
    first_later = later_kept & (later_kept.long().cumsum(-1) == 1)  # [N, L, L]
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
        table = F.normalize(model.item_embeddings.detach().float().cpu(), dim=-1)  # [V, D]
        e = table[pre.tracks]  # [N, L, D]
        cos = e @ e.transpose(1, 2)  # [N, L, L]
        for pair, mask in pair_masks.items():
            n = mask.sum((1, 2))
            mean = (cos * mask).sum((1, 2)) / n.clamp(min=1)
            ok = (n > 0).numpy()
            out.append(
                pd.DataFrame(
                    {
                        "model": name,
                        "session": np.flatnonzero(ok),
                        "pair": pair,
                        "cosine": mean.numpy()[ok],
                    }
                )
            )
        rand = (e * table[random_ids]).sum(-1)  # [N, L]
        n = kept.sum(1)
        mean = (rand * kept).sum(1) / n.clamp(min=1)
        ok = (n > 0).numpy()
        out.append(
            pd.DataFrame(
                {
                    "model": name,
                    "session": np.flatnonzero(ok),
                    "pair": "kept-random",
                    "cosine": mean.numpy()[ok],
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def summarize_similarity(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean per-session cosine by model and pair (columns: pairs), and the within-session gap.

    ``gap`` = mean over sessions of (kept-kept minus kept-skipped), on sessions that have both;
    ``gap > 0`` is the share of those sessions where kept tracks are closer to each other than
    to the session's skipped tracks.
    """
    table = frame.pivot_table(
        index="model", columns="pair", values="cosine", aggfunc="mean", sort=False
    )
    table = table[[p for p in PAIR_ORDER if p in table.columns]]
    gap = session_gaps(frame).groupby("model", sort=False)["gap"]
    table["gap"] = gap.mean()
    table["gap > 0"] = gap.apply(lambda g: float((g > 0).mean()))
    table.columns.name = None
    return table


def session_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and session: kept-kept minus kept-skipped mean cosine (sessions with both)."""
    wide = frame.pivot_table(
        index=["model", "session"], columns="pair", values="cosine", sort=False
    ).dropna(subset=["kept-kept", "kept-skipped"])
    gap = (wide["kept-kept"] - wide["kept-skipped"]).rename("gap")
    return gap.reset_index()
