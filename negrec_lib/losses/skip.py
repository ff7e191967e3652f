"""The skip contrastive loss (book/paper.md, 3) and the study's controls of its skip labels.

`skip_infonce_loss` pulls each anchor towards the tracks kept after it and away from the tracks
skipped; `control_labels` rewrites the labels for the controls (permuted, kept negatives).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from .next_track import _upcast


def skip_infonce_loss(
    anchors: Tensor,
    keys: Tensor,
    skipped: Tensor,
    valid: Tensor,
    temperature: float = 0.1,
    pairing: Literal["session", "reference"] = "session",
    reduction: Literal["mean", "none"] = "mean",
    negatives: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The negative-feedback InfoNCE of book/paper.md section 3, vectorised over the batch.

    Parameters
    ----------
    anchors : Tensor [B, L, D]
        q_t: track embeddings E[x_t] ("track" anchor) or prediction-head outputs ("hidden").
    keys : Tensor [B, L, D]
        Track embeddings of the session (positives and negatives are taken from here).
    skipped, valid : BoolTensor [B, L]
        Skip label and real-position mask.
    pairing : "session" or "reference"
        "session" (the paper's text): negatives are the skipped tracks of the anchor's own
        session. "reference" reproduces pitfall 1: an anchor of session b takes its negatives
        from session (b + 1) mod B; its positive stays in session b.

    negatives : BoolTensor [B, L] or None
        Negative slots other than the skipped tracks (the ``kept_negatives`` control, see
        `control_labels`); an anchor never takes itself or its positive as a negative.

    Every real non-skipped position t is an anchor; its positive is the first later real
    non-skipped position of the same session. Similarities are cosine / temperature.
    L_t = -log(exp(s+) / (exp(s+) + sum_j exp(s_j))). An anchor is valid when it has a positive
    and at least one negative; invalid anchors never enter the softmax or the mean.

    Returns
    -------
    reduction="mean": (loss scalar, number of valid anchors as an int64 scalar); loss is a
    graph-connected 0 when no anchor is valid.
    reduction="none": (per-anchor losses [B, L], 0 where invalid; validity mask [B, L]).

    Examples
    --------
    >>> keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]]])  # [B=1, L=3, D=2]
    >>> skipped = torch.tensor([[False, True, False]])  # the middle track was skipped
    >>> valid = torch.ones(1, 3, dtype=torch.bool)
    >>> loss, n_anchors = skip_infonce_loss(keys, keys, skipped, valid)
    >>> int(n_anchors), loss.item() < 1e-3  # anchor 0, positive 2, negative 1: well apart
    (1, True)
    """
    B, L, _ = anchors.shape
    q = F.normalize(_upcast(anchors), dim=-1)  # [B, L, D]
    k = F.normalize(_upcast(keys), dim=-1).to(q.dtype)  # [B, L, D]
    played = valid & ~skipped  # [B, L] anchor / positive slots
    negative = valid & (skipped if negatives is None else negatives)  # [B, L] negative slots

    # positive index: first s > t with played[b, s]; via a reversed running minimum
    pos = torch.arange(L, device=anchors.device)
    idx = torch.where(played, pos, torch.full_like(pos, L))  # [B, L]
    suffix_min = idx.flip(-1).cummin(-1).values.flip(-1)  # [B, L] min_{s >= t} idx[s]
    next_pos = F.pad(suffix_min[:, 1:], (0, 1), value=L)  # [B, L] min_{s > t}
    has_pos = next_pos < L
    pos_key = k.gather(1, next_pos.clamp(max=L - 1)[..., None].expand_as(k))  # [B, L, D]
    s_pos = (q * pos_key).sum(-1) / temperature  # [B, L]

    if pairing == "session":
        neg_keys, neg_mask = k, negative
    elif pairing == "reference":
        neg_keys, neg_mask = k.roll(-1, dims=0), negative.roll(-1, dims=0)  # row b <- session b+1
    else:
        raise ConfigError(f"loss.skip_pairing={pairing!r}: expected 'session' or 'reference'")
    with torch.autocast(anchors.device.type, enabled=False):  # cosines in fp32 even under AMP
        s_neg = (q @ neg_keys.transpose(1, 2)) / temperature  # [B, L, L]
    allowed = neg_mask[:, None, :].expand(B, L, L)  # [B, t, s]
    if negatives is not None:  # kept tracks as negatives: never t itself or t+
        own = pos[None, :, None] == pos[None, None, :]  # [1, L, L] s == t
        plus = next_pos[..., None] == pos[None, None, :]  # [B, L, L] s == pos(t)
        allowed = allowed & ~own & ~plus
    s_neg = s_neg.masked_fill(~allowed, float("-inf"))
    log_denom = torch.logsumexp(torch.cat([s_pos[..., None], s_neg], -1), -1)  # [B, L], finite
    anchor_ok = played & has_pos & allowed.any(-1)  # [B, L]
    per_anchor = torch.where(anchor_ok, log_denom - s_pos, torch.zeros_like(s_pos))
    if reduction == "none":
        return per_anchor, anchor_ok
    n = anchor_ok.sum()
    return per_anchor.sum() / n.clamp(min=1), n


def control_labels(
    skipped: Tensor, valid: Tensor, control: str, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor | None]:
    """Skip labels and negative slots [B, L] for a study control (``loss.skip_control``).

    ``none``: the labels as they are, no extra negatives. ``permuted``: each session's skips
    moved to random real positions of the same session (same count). ``kept_negatives``: the
    true labels for anchors and positives, and as negatives a random set of the session's kept
    positions, as many as it has skips (or all of them when it has fewer).

    Examples
    --------
    >>> skipped = torch.tensor([[False, True, False, False]])
    >>> valid = torch.ones(1, 4, dtype=torch.bool)
    >>> labels, negatives = control_labels(skipped, valid, "none")
    >>> labels.tolist(), negatives
    ([[False, True, False, False]], None)
    >>> labels, _ = control_labels(skipped, valid, "permuted", torch.Generator().manual_seed(0))
    >>> int(labels.sum())  # as many skips, at random places
    1
    """
    if control == "none":
        return skipped, None
    if control not in ("permuted", "kept_negatives"):
        raise ConfigError(
            f"loss.skip_control={control!r}: expected none, permuted or kept_negatives"
        )
    B, L = skipped.shape
    count = (skipped & valid).sum(1, keepdim=True)  # [B, 1] skips
    gen_device = generator.device if generator is not None else skipped.device
    draw = torch.rand(B, L, generator=generator, device=gen_device).to(skipped.device)
    pool = valid if control == "permuted" else valid & ~skipped  # [B, L] where to put them
    draw = draw.masked_fill(~pool, 2.0)  # outside the pool: last
    rank = draw.argsort(1).argsort(1)  # [B, L] 0 = first drawn
    chosen = pool & (rank < count)  # [B, L]
    return (chosen, None) if control == "permuted" else (skipped, chosen)
