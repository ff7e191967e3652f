"""The training chapters' measurements: metrics tables, breakdowns, and the skip loss's pairs.

Chapter 3 compares trained models beside the popularity baseline (`metrics_table`,
`group_metric`); chapter 4 looks inside the skip loss (`skip_roles`, `skip_pair_cosines`,
`pair_win_rate`). Pure functions over tensors and DataFrames; `negrec_lib.viz.training` draws
their tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..data.schema import CONTEXT_TYPES
from ..losses import skip_infonce_loss
from ..metrics import example_values
from .compare import metric_label

__all__ = [
    "MODEL_METRICS",
    "metric_label",
    "metrics_table",
    "group_metric",
    "skip_roles",
    "skip_pair_cosines",
    "pair_win_rate",
]

MODEL_METRICS = ("hr@1", "hr@5", "hr@10", "hr@20", "ndcg@10", "mrr")


# ------------------------------------------------------------------------ chapter 3
def metrics_table(
    results: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = MODEL_METRICS
) -> pd.DataFrame:
    """One row per model, one column per metric (labelled ``HR@10`` ...)."""
    table = pd.DataFrame(
        {name: {metric_label(m): float(r[m]) for m in metrics} for name, r in results.items()}
    ).T
    table.index.name = "model"
    return table


def group_metric(examples: pd.DataFrame, key: str, metric: str = "hr@10") -> pd.DataFrame:
    """Mean of ``metric`` per group of ``key`` ("position" or "context") with a 95% normal CI.

    ``examples``: `EvalResult.examples` (one row per test example with its rank and labels).
    Returns columns group, n, mean, ci_low, ci_high; contexts are named, not coded.
    """
    ex = examples[examples[key] >= 0]
    vals = pd.DataFrame(
        {"group": ex[key].to_numpy(), "value": example_values(ex["rank"].to_numpy(), metric)}
    )
    out = vals.groupby("group")["value"].agg(n="size", mean="mean", sd="std").reset_index()
    half = 1.96 * out["sd"].fillna(0.0) / np.sqrt(out["n"])
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    if key == "context":
        out["group"] = [
            CONTEXT_TYPES[int(g)] if int(g) < len(CONTEXT_TYPES) else f"code_{g}"
            for g in out["group"]
        ]
    return out.drop(columns="sd")


# ------------------------------------------------------------------------ chapter 4: the skip loss
def skip_roles(
    keys: Tensor,
    skipped: Tensor,
    valid: Tensor,
    anchors: Tensor | None = None,
    pairing: str = "session",
    temperature: float = 0.1,
) -> tuple[Tensor, Tensor, Tensor]:
    """Which keys each anchor of the library's skip loss uses, read off its gradients.

    Runs `negrec_lib.losses.skip_infonce_loss` with ``reduction="none"`` and differentiates each
    valid anchor's loss with respect to the keys [B, L, D]. A key the anchor does not use gets
    no gradient. A key the loss pulls towards the anchor (gradient descent raises its cosine)
    is the anchor's positive; one it pushes away is a negative. ``anchors`` defaults to the keys
    themselves (the track-embedding anchor).

    Returns
    -------
    roles : [B, L, B, L] int8, ``roles[b, t, c, s]`` = 1 if key (c, s) is the positive of anchor
        (b, t), -1 if it is a negative, 0 otherwise.
    losses, ok : the per-anchor losses [B, L] and the validity mask [B, L] of the library.
    """
    keys = keys.detach().clone().double().requires_grad_(True)  # [B, L, D]
    anchors = keys.detach().clone() if anchors is None else anchors.detach().double()
    losses, ok = skip_infonce_loss(
        anchors, keys, skipped, valid, temperature, pairing, reduction="none"
    )  # [B, L] each
    B, L, _ = keys.shape
    roles = torch.zeros(B, L, B, L, dtype=torch.int8)
    for b, t in ok.nonzero().tolist():
        (g,) = torch.autograd.grad(losses[b, t], keys, retain_graph=True)  # [B, L, D]
        pull = (-g * anchors[b, t]).sum(-1)  # [B, L] descent step . anchor
        used = g.abs().sum(-1) > 0
        roles[b, t] = torch.where(used, torch.sign(pull), torch.zeros_like(pull)).to(torch.int8)
    return roles, losses.detach().float(), ok


def skip_pair_cosines(
    table: Tensor, tracks: Tensor, skipped: Tensor, lengths: Tensor
) -> pd.DataFrame:
    """Cosine of each anchor with its positive and with each of its negatives (the paper's rule).

    ``table``: track embeddings [V, D]; ``tracks``, ``skipped``: [N, L] sessions (left-aligned);
    ``lengths``: [N]. Anchors are the kept tracks that have a later kept track and a session with
    at least one skip. Returns one row per (anchor, key) pair: session, anchor, key (positions),
    kind ("positive" or "negative") and cosine.
    """
    emb = torch.nn.functional.normalize(table.detach().float(), dim=-1)
    rows = []
    for i in range(tracks.shape[0]):
        n = int(lengths[i])
        ids, skip = tracks[i, :n], skipped[i, :n].bool()
        kept = (~skip).nonzero().reshape(-1).tolist()
        negs = skip.nonzero().reshape(-1).tolist()
        if not negs:
            continue
        e = emb[ids]  # [n, D]
        cos = (e @ e.T).numpy()  # [n, n]
        for a, p in zip(kept[:-1], kept[1:]):
            rows.append((i, a, p, "positive", float(cos[a, p])))
            rows.extend((i, a, s, "negative", float(cos[a, s])) for s in negs)
    return pd.DataFrame(rows, columns=["session", "anchor", "key", "kind", "cosine"])


def pair_win_rate(pairs: pd.DataFrame) -> float:
    """Share of anchors whose positive is closer than every negative (`skip_pair_cosines` rows).

    This is what a skip loss at a low temperature rewards: an anchor's loss is near zero exactly
    when its positive beats its nearest skipped track.
    """
    keys = ["session", "anchor"]
    pos = pairs[pairs["kind"] == "positive"].groupby(keys)["cosine"].max()
    neg = pairs[pairs["kind"] == "negative"].groupby(keys)["cosine"].max().reindex(pos.index)
    return float((pos > neg).mean()) if len(pos) else float("nan")
