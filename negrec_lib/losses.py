"""Next-track losses (full and sampled softmax) and the skip contrastive loss (book/paper.md, 3).

Reserved ids (PAD, MASK, OOV) are never candidates, never sampled, and a row whose target is a
reserved id is ignored. Sampled softmax computes only the candidate columns: the [N, V] logits
of the reference code are never formed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import LossConfig, ModelConfig
from .errors import ConfigError
from .model import SessionEncoder, causal_targets, cloze_inputs
from .tokens import N_RESERVED, PAD_ID

EmbeddingSource = Tensor | Callable[[Tensor], Tensor]  # a [V, D] table, or ids -> [.., D]


def _upcast(x: Tensor) -> Tensor:
    """fp16/bf16 -> fp32 for softmax arithmetic; fp32 and fp64 are kept as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _zero(like: Tensor) -> Tensor:
    """A scalar 0 that stays connected to the graph (so backward() works on an empty batch)."""
    return like.sum() * 0.0


# ---------------------------------------------------------------------- full softmax
def full_softmax_loss(hidden: Tensor, targets: Tensor, item_emb: Tensor) -> Tensor:
    """Cross-entropy over every track (reserved columns excluded), mean over rows with a target.

    Examples
    --------
    >>> import math
    >>> hidden, emb = torch.zeros(2, 4), torch.randn(8, 4)  # 8 ids: 5 tracks after 3 reserved
    >>> loss = full_softmax_loss(hidden, torch.tensor([3, 5]), emb)  # zero scores: uniform
    >>> round(loss.item(), 4), round(math.log(5), 4)
    (1.6094, 1.6094)
    """
    valid = targets >= N_RESERVED  # [N]; PAD/MASK/OOV ignored
    if not bool(valid.any()):
        return _zero(hidden) + _zero(item_emb)
    h = hidden[valid]  # [N', D]
    logits = _upcast(h @ item_emb.transpose(0, 1).to(h.dtype))  # [N', V]
    logits[:, :N_RESERVED] = float("-inf")
    return F.cross_entropy(logits, targets[valid])


# ---------------------------------------------------------------------- samplers
class CandidateSampler(Protocol):
    """Draws negative candidates (with replacement) and reports their per-draw log-probability.

    Examples
    --------
    >>> sampler: CandidateSampler = UniformSampler(vocab_size=10)
    >>> ids = sampler.sample(4, generator=torch.Generator().manual_seed(0))
    >>> ids.shape, bool((ids >= N_RESERVED).all())
    (torch.Size([4]), True)
    """

    vocab_size: int

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` track ids (>= N_RESERVED) as a LongTensor [n]."""
        ...

    def log_q(self, ids: Tensor) -> Tensor:
        """Log of the per-draw probability of each id (same shape as ``ids``)."""
        ...


def _gen_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


class UniformSampler:
    """Uniform over the non-reserved ids (the paper's sampler).

    Examples
    --------
    >>> s = UniformSampler(vocab_size=10)  # 7 tracks
    >>> round(s.log_q(torch.tensor([3, 9])).exp()[0].item(), 4)
    0.1429
    """

    def __init__(self, vocab_size: int) -> None:
        if vocab_size <= N_RESERVED:
            raise ConfigError(f"vocab_size={vocab_size}: no tracks to sample")
        self.vocab_size = vocab_size
        self._log_q = -math.log(vocab_size - N_RESERVED)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` ids drawn uniformly from [N_RESERVED, V)."""
        device = torch.device("cpu") if device is None else torch.device(device)
        ids = torch.randint(
            N_RESERVED,
            self.vocab_size,
            (n,),
            generator=generator,
            device=_gen_device(generator, device),
        )
        return ids.to(device)

    def log_q(self, ids: Tensor) -> Tensor:
        """-log(V - N_RESERVED) for every id."""
        return torch.full(ids.shape, self._log_q, device=ids.device)


class PopularitySampler:
    """Probability proportional to ``max(count, floor) ** alpha`` over the non-reserved ids.

    The floor keeps tracks unseen in training (count 0) drawable; ``alpha=0`` is uniform.
    Sampling is inverse-CDF (``searchsorted``), O(n log V) per call.

    Examples
    --------
    >>> s = PopularitySampler(torch.tensor([0, 0, 0, 3, 1]))  # ids 3 and 4, seen 3 and 1 times
    >>> s.log_q(torch.tensor([3, 4])).exp().tolist()
    [0.75, 0.25]
    """

    def __init__(self, counts: Tensor, alpha: float = 1.0, floor: float = 1.0) -> None:
        counts = torch.as_tensor(counts, dtype=torch.float64)
        if counts.ndim != 1 or counts.numel() <= N_RESERVED:
            raise ConfigError(
                f"counts must be a [V] vector with V > {N_RESERVED}; got {tuple(counts.shape)}"
            )
        w = counts.clamp(min=floor) ** alpha  # [V]
        w[:N_RESERVED] = 0.0
        if not bool(w.sum() > 0):
            raise ConfigError("PopularitySampler: every track has weight 0; use floor > 0")
        self.vocab_size = counts.numel()
        probs = w / w.sum()
        self.cdf = probs.cumsum(0)  # [V] float64
        self.log_probs = probs.float().log()  # [V], -inf on reserved

    def to(self, device: torch.device | str) -> PopularitySampler:
        """Move the tables to ``device`` (so `log_q` and `sample` run there); returns self."""
        self.cdf, self.log_probs = self.cdf.to(device), self.log_probs.to(device)
        return self

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` ids drawn with probability ``probs`` (with replacement)."""
        device = self.cdf.device if device is None else torch.device(device)
        u = torch.rand(
            n,
            generator=generator,
            dtype=torch.float64,
            device=_gen_device(generator, self.cdf.device),
        ).to(self.cdf.device)
        ids = torch.searchsorted(self.cdf, u * self.cdf[-1], right=True)  # first index with cdf > u
        return ids.clamp_(N_RESERVED, self.vocab_size - 1).to(device)

    def log_q(self, ids: Tensor) -> Tensor:
        """log probs[ids]."""
        return self.log_probs.to(ids.device)[ids]


def make_sampler(
    loss_cfg: LossConfig, vocab_size: int, counts: Tensor | None = None
) -> CandidateSampler | None:
    """The sampler ``loss_cfg`` asks for (None: full softmax); popularity needs ``counts`` [V].

    Examples
    --------
    >>> from negrec_lib.config import LossConfig
    >>> type(make_sampler(LossConfig(), vocab_size=10)).__name__
    'UniformSampler'
    >>> make_sampler(LossConfig(next_loss="full"), vocab_size=10) is None
    True
    """
    if loss_cfg.next_loss == "full":
        return None
    if loss_cfg.sampler == "uniform":
        return UniformSampler(vocab_size)
    if counts is None:
        raise ConfigError("loss.sampler=popularity needs training counts of every track id")
    return PopularitySampler(counts)


# ---------------------------------------------------------------------- sampled softmax
def _need(sampler: CandidateSampler | None) -> CandidateSampler:
    if sampler is None:
        raise ConfigError(
            "sampled_softmax_loss needs a sampler to draw negatives (and to know the vocabulary "
            "when item_emb is not a table)"
        )
    return sampler


def sampled_softmax_loss(
    hidden: Tensor,
    targets: Tensor,
    item_emb: EmbeddingSource,
    sampler: CandidateSampler | None,
    n_negatives: int | None = 1000,
    logq: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Softmax over the batch's unique targets and ``n_negatives`` sampled tracks (paper's mode).

    Parameters
    ----------
    hidden : Tensor [N, D]
        One state per row; rows whose target is reserved (< N_RESERVED) are ignored.
    targets : LongTensor [N]
    item_emb : Tensor [V, D] or callable ids -> [.., D]
        Only the candidate rows are gathered; logits are [N, C], never [N, V].
    sampler : CandidateSampler
        Redraws ``n_negatives`` ids (with replacement) on every call.
    n_negatives : int or None
        None: every non-reserved track is a candidate and nothing is sampled (equals the full
        softmax; useful for tests and small catalogues).
    logq : bool
        Subtract log Q(j) from every candidate's logit. Q is the sampler's per-draw probability,
        also for the columns that hold the batch's unique targets (they enter through the batch,
        not the sampler; using the same Q keeps one consistent correction per track).

    Accidental hits: a sampled id that equals any batch target (the row's own target included)
    is masked out for every row, so each row's softmax holds its target exactly once and no
    track twice because of that. Duplicates among the sampled ids themselves are kept (sampling
    with replacement). Mean over valid rows. A column masked for every row (logit -inf) adds
    nothing to any softmax and gets no gradient, so the hit columns are simply left out of the
    candidates: the same loss and gradients without a masked copy of the [N, C] logits.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> hidden, emb, targets = torch.randn(4, 8), torch.randn(20, 8), torch.tensor([3, 7, 7, 12])
    >>> sampled = sampled_softmax_loss(hidden, targets, emb, UniformSampler(20), n_negatives=None)
    >>> torch.allclose(sampled, full_softmax_loss(hidden, targets, emb))  # every track a candidate
    True
    >>> loss = sampled_softmax_loss(hidden, targets, emb, UniformSampler(20), n_negatives=5,
    ...                             generator=torch.Generator().manual_seed(0))
    >>> loss.shape, bool(loss > 0)
    (torch.Size([]), True)
    """
    valid = targets >= N_RESERVED  # [N]
    if not bool(valid.any()):
        return _zero(hidden)
    h, t = hidden[valid], targets[valid]  # [N', D], [N']
    gather = item_emb.__getitem__ if isinstance(item_emb, Tensor) else item_emb
    if n_negatives is None:
        vocab = item_emb.shape[0] if isinstance(item_emb, Tensor) else _need(sampler).vocab_size
        candidates = torch.arange(N_RESERVED, vocab, device=t.device)  # [C = V - N_RESERVED]
        target_col = t - N_RESERVED  # [N']
    else:
        batch_targets = torch.unique(t)  # [U], sorted
        sampled = _need(sampler).sample(n_negatives, generator=generator, device=t.device)  # [S]
        sampled = sampled[~torch.isin(sampled, batch_targets)]  # [S'] accidental hits out
        candidates = torch.cat([batch_targets, sampled])  # [C = U + S']
        target_col = torch.searchsorted(batch_targets, t)  # [N']
    if logq and sampler is None:
        raise ConfigError("loss.logq=true needs a sampler to supply Q")
    cand_emb = gather(candidates)  # [C, D]
    logits = _upcast(h @ cand_emb.transpose(0, 1).to(h.dtype))  # [N', C]
    if logq and sampler is not None:
        logits = logits - sampler.log_q(candidates).to(logits.dtype)  # [N', C]
    log_p = logits.log_softmax(-1)  # [N', C]
    return -log_p.gather(1, target_col[:, None]).mean()


# ---------------------------------------------------------------------- skip InfoNCE
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


# ---------------------------------------------------------------------- dispatch
def next_track_loss(
    hidden: Tensor,
    targets: Tensor,
    item_emb: EmbeddingSource,
    loss_cfg: LossConfig,
    sampler: CandidateSampler | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Full or sampled softmax as ``loss_cfg.next_loss`` says; "full" needs ``item_emb`` a table.

    Examples
    --------
    >>> from negrec_lib.config import LossConfig
    >>> hidden, emb, targets = torch.randn(3, 4), torch.randn(10, 4), torch.tensor([3, 4, 9])
    >>> loss = next_track_loss(hidden, targets, emb, LossConfig(next_loss="full"))
    >>> torch.equal(loss, full_softmax_loss(hidden, targets, emb))
    True
    """
    if loss_cfg.next_loss == "full":
        table = item_emb if isinstance(item_emb, Tensor) else None
        if table is None:
            raise ConfigError("loss.next_loss=full needs the [V, D] embedding table")
        return full_softmax_loss(hidden, targets, table)
    if sampler is None:
        raise ConfigError(
            f"loss.next_loss=sampled needs a sampler (loss.sampler={loss_cfg.sampler!r})"
        )
    return sampled_softmax_loss(
        hidden,
        targets,
        item_emb,
        sampler,
        loss_cfg.n_negatives,
        logq=loss_cfg.logq,
        generator=generator,
    )


def compute_losses(
    model: SessionEncoder,
    tracks: Tensor,
    lengths: Tensor,
    skipped: Tensor,
    model_cfg: ModelConfig | None,
    loss_cfg: LossConfig,
    sampler: CandidateSampler | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """One training step's losses: ``{"total", "next", "skip", "n_anchors"}``.

    Causal model: the next track is the target at every real position (skipped ones included).
    Bidirectional model: cloze inputs (`cloze_inputs`); the next-track loss covers the masked
    positions only. Skip loss (when ``loss_cfg.skip_weight > 0``): the keys, and the "track"
    anchor, are the UNMASKED track embeddings E[x_t]; the "hidden" anchor is the prediction-head
    output of the same forward pass (on the cloze inputs for the bidirectional model).
    ``model_cfg`` defaults to ``model.cfg``.

    Examples
    --------
    >>> import torch
    >>> from negrec_lib.config import ModelConfig
    >>> from negrec_lib.model import SessionEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8, max_length=5), 10)
    >>> tracks = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 3]])  # [B=2, L=5], 0 = PAD
    >>> lengths = torch.tensor([3, 5])
    >>> from negrec_lib.config import LossConfig
    >>> skipped = torch.tensor([[0, 1, 0, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    >>> cfg = LossConfig(skip_weight=1.0, n_negatives=5)
    >>> out = compute_losses(model, tracks, lengths, skipped, model.cfg, cfg, UniformSampler(10))
    >>> sorted(out), out["total"].shape
    (['n_anchors', 'next', 'skip', 'total'], torch.Size([]))
    """
    model_cfg = model.cfg if model_cfg is None else model_cfg
    L = tracks.shape[1]
    valid = torch.arange(L, device=tracks.device) < lengths[:, None]  # [B, L]
    if model_cfg.causal:
        inputs, targets = tracks, causal_targets(tracks, lengths)  # [B, L] each
    else:
        inputs, targets = cloze_inputs(tracks, lengths, model_cfg.mask_prob, generator)
    # One TrackTable for the whole step: inputs, candidates and skip keys share one gradient
    # node of the [V, D] table, so backward builds at most one dense [V, D] gradient (none when
    # .grad already exists, or on the sparse path), instead of one per lookup.
    table = model.track_table()
    hidden = model(inputs, table=table).hidden  # [B, L, D]
    rows = targets != PAD_ID  # [B, L]
    emb: EmbeddingSource = table.full() if loss_cfg.next_loss == "full" else table
    nxt = next_track_loss(hidden[rows], targets[rows], emb, loss_cfg, sampler, generator)
    if loss_cfg.skip_weight > 0:
        keys = table(tracks)  # [B, L, D] unmasked
        anchors = keys if loss_cfg.skip_anchor == "track" else hidden
        labels, negatives = control_labels(
            skipped & valid, valid, getattr(loss_cfg, "skip_control", "none"), generator
        )
        skip, n_anchors = skip_infonce_loss(
            anchors,
            keys,
            labels & valid,
            valid,
            loss_cfg.skip_temperature,
            loss_cfg.skip_pairing,
            negatives=negatives,
        )
    else:
        skip, n_anchors = _zero(hidden), torch.zeros((), dtype=torch.long, device=tracks.device)
    return {
        "total": nxt + loss_cfg.skip_weight * skip,
        "next": nxt,
        "skip": skip,
        "n_anchors": n_anchors,
    }
