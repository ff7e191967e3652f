"""The next-track losses: full softmax over the catalogue, and sampled softmax with logQ.

Reserved ids (PAD, MASK, OOV) are never candidates, and a row whose target is a reserved id is
ignored. Sampled softmax computes only the candidate columns: the [N, V] logits of the
reference code are never formed. `next_track_loss` picks one as `LossConfig` says.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config import LossConfig
from ..errors import ConfigError
from ..tokens import N_RESERVED
from .blocked_softmax import BUCKET, HALF, blocked_softmax_loss
from .samplers import CandidateSampler

EmbeddingSource = Tensor | Callable[[Tensor], Tensor]  # a [V, D] table, or ids -> [.., D]


def _upcast(x: Tensor) -> Tensor:
    """fp16/bf16 -> fp32 for softmax arithmetic; fp32 and fp64 are kept as they are."""
    return x.float() if x.dtype in HALF else x


_GEMM_BUCKET = BUCKET  # rows and columns of a reduced-precision candidate product: multiples of it


def _reduced_precision(h: Tensor) -> bool:
    """Whether ``h @ E.T`` runs in fp16/bf16 (``h`` itself, or an autocast region around it)."""
    kind = h.device.type
    if h.dtype in HALF:
        return True
    try:  # the per-device autocast queries arrived in torch 2.4
        on = torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind)
    except (AttributeError, TypeError):
        return False
    return on in HALF


def _candidate_logits(h: Tensor, cand_emb: Tensor) -> Tensor:
    """``h @ cand_emb.T`` [N, C], upcast to fp32 when the product ran in fp16/bf16.

    In reduced precision the product is computed on zero-padded operands whose row and column
    counts are multiples of `_GEMM_BUCKET`, and the [N, C] corner is kept: the same values (zero
    rows and columns add nothing to any other cell), but the CPU's bf16 kernels (oneDNN) build a
    kernel for every new shape, and N and C change with every batch (the batch's target count
    and its unique targets). Measured: 18 ms for three [N, C] products of fresh shapes against
    2.6 ms once shapes repeat. fp32 keeps the exact shapes (its results stay those of the
    committed runs to the last digit).
    """
    n, c = h.shape[0], cand_emb.shape[0]
    if not _reduced_precision(h):
        return _upcast(h @ cand_emb.transpose(0, 1).to(h.dtype))
    pad_n, pad_c = -n % _GEMM_BUCKET, -c % _GEMM_BUCKET
    h_p = torch.nn.functional.pad(h, (0, 0, 0, pad_n))
    e_p = torch.nn.functional.pad(cand_emb.to(h.dtype), (0, 0, 0, pad_c))
    return _upcast((h_p @ e_p.transpose(0, 1))[:n, :c])


def _zero(like: Tensor) -> Tensor:
    """A scalar 0 that stays connected to the graph (so backward() works on an empty batch)."""
    return like.sum() * 0.0


def full_softmax_loss(hidden: Tensor, targets: Tensor, item_emb: Tensor) -> Tensor:
    """Cross-entropy over every track (reserved columns excluded), mean over rows with a target.

    Computed by `blocked_softmax_loss` a block of rows at a time, with its gradients in the same
    pass: the [N, V] logits are never formed (the plain ``F.cross_entropy(h @ E.T, y)``, to
    rounding).

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
    return blocked_softmax_loss(hidden[valid], targets[valid], item_emb)


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
    >>> from negrec_lib.losses import UniformSampler
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
    logits = _candidate_logits(h, cand_emb)  # [N', C]
    if logq and sampler is not None:
        logits = logits - sampler.log_q(candidates).to(logits.dtype)  # [N', C]
    log_p = logits.log_softmax(-1)  # [N', C]
    return -log_p.gather(1, target_col[:, None]).mean()


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
