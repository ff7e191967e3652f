"""The paper's sampled protocol: the target ranked against the batch's targets plus random tracks.

The 2024 code's protocol (book/paper.md pitfall 5): `sample_candidates` draws the candidates,
`sampled_target_ranks` ranks each target among them, pessimistically for ties.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..tokens import N_RESERVED
from .ranking import _check_targets, _rank_in_columns

SAMPLED_RANDOM = 1000
"""Random tracks the sampled protocol adds to the evaluation batch's targets (the paper's rerun)."""


def sample_candidates(
    targets: Tensor,
    vocab_size: int,
    n_random: int = SAMPLED_RANDOM,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The sampled protocol's candidates: unique valid targets + `n_random` uniform draws.

    The draws are `torch.randint(N_RESERVED, vocab_size, (n_random,), generator=generator)` on
    the CPU (so a seed gives the same candidates on every device), with replacement; the result
    is sorted, unique, on the device of `targets`, and never holds a reserved id.

    Examples
    --------
    >>> c = sample_candidates(torch.tensor([3, 5, 5]), vocab_size=50, n_random=4,
    ...                       generator=torch.Generator().manual_seed(0))
    >>> c[:2].tolist(), len(c)  # the unique targets first, then the random tracks
    ([3, 5], 6)
    """
    if vocab_size <= N_RESERVED:
        raise ValueError(f"vocab_size must exceed {N_RESERVED}, got {vocab_size}")
    draws = torch.randint(N_RESERVED, vocab_size, (n_random,), generator=generator)  # [n_random]
    kept = targets[targets >= N_RESERVED]
    return torch.unique(torch.cat([kept, draws.to(targets.device)]), sorted=True)  # [C]


def sampled_target_ranks(
    scores: Tensor | Callable[[Tensor], Tensor],
    targets: Tensor,
    vocab_size: int | None = None,
    n_random: int = SAMPLED_RANDOM,
    generator: torch.Generator | None = None,
    exclude: Tensor | None = None,
    candidates: Tensor | None = None,
) -> Tensor:
    """1-based rank of each target among the batch's targets plus random tracks (sampled protocol).

    The paper's 2024 evaluation (book/paper.md pitfall 5): the candidates are the unique targets of
    the evaluation batch plus `n_random` tracks drawn uniformly from the non-reserved ids
    (`sample_candidates`); each row ranks its own target against every other candidate, with
    pessimistic ties as in `target_ranks`. Numbers from this protocol are inflated (about
    n_random + batch_size candidates instead of the whole catalogue) and depend on the batch
    size and on which sessions share a batch, because the other rows' targets, often popular
    tracks, are the hardest negatives. A rank here is never worse than the full-catalogue rank.
    Report it only beside `target_ranks`, for comparison with the paper.

    Parameters
    ----------
    scores : either [N, V] full scores (columns are then selected), or a callable mapping
        candidates [C] to scores [N, C] (e.g. `lambda c: model.score(hidden, c)`).
    targets : [N] long; reserved targets (OOV) get rank V + 1, a miss, as in `target_ranks`
        (not C + 1, which a small candidate set could turn into a hit at large K).
    vocab_size : V; required when `scores` is a callable.
    exclude : optional [N, V] bool, items removed from the ranking; never the target.
    candidates : optional [C] sorted unique ids to use instead of drawing them; must hold every
        valid target.

    Examples
    --------
    >>> scores = torch.arange(10.0).repeat(2, 1)  # [B=2, V=10]: a higher id scores higher
    >>> candidates = torch.tensor([4, 8, 5])  # the batch's targets 4 and 8, one random track 5
    >>> sampled_target_ranks(scores, torch.tensor([4, 8]), candidates=candidates).tolist()
    [3, 1]
    """
    if isinstance(scores, Tensor):
        vocab_size = scores.shape[1] if vocab_size is None else vocab_size
        if scores.dim() != 2 or scores.shape[1] != vocab_size:
            raise ValueError(f"scores must have shape [N, {vocab_size}], got {tuple(scores.shape)}")
    elif vocab_size is None:
        raise ValueError("vocab_size is required when scores is a callable")
    valid = _check_targets(targets, targets.shape[0], vocab_size)
    if candidates is None:
        candidates = sample_candidates(targets, vocab_size, n_random, generator)
    if isinstance(scores, Tensor):
        cand_scores = scores[:, candidates.to(scores.device)]  # [N, C]
    else:
        cand_scores = scores(candidates)  # [N, C]
    dev = cand_scores.device
    candidates, targets, valid = candidates.to(dev), targets.to(dev), valid.to(dev)
    if candidates.numel() == 0:  # only possible with n_random=0
        if bool(valid.any()):
            raise ValueError("candidates must contain every non-reserved target")
        return torch.full_like(targets, vocab_size + 1)
    col = torch.searchsorted(candidates, targets).clamp(max=candidates.numel() - 1)  # [N]
    if bool((valid & (candidates[col] != targets)).any()):
        raise ValueError("candidates must contain every non-reserved target")
    blocked = None
    if exclude is not None:
        blocked = exclude.to(device=dev, dtype=torch.bool)[:, candidates]  # [N, C]
    return _rank_in_columns(cand_scores, col, valid, blocked, miss_rank=vocab_size + 1)
