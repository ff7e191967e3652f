"""What the encoder learns to predict: causal next-track targets, and cloze (masked) inputs.

A unidirectional encoder predicts at every position the track that follows (`causal_targets`);
a bidirectional one predicts the tracks it cannot see, masked with ``MASK_ID`` (`cloze_inputs`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..tokens import MASK_ID, PAD_ID


def cloze_inputs(
    tracks: Tensor, lengths: Tensor, mask_prob: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Masked-item (cloze) inputs and targets [B, L] for the bidirectional model.

    The last real track of every session is always masked (it plays the [MASK] appended at
    evaluation); every other real position is masked independently with probability
    ``mask_prob``. Targets hold the original track at masked positions and ``PAD_ID`` (ignored)
    elsewhere, so a target is never visible at its own input position.

    Examples
    --------
    >>> import torch
    >>> tracks, lengths = torch.tensor([[3, 4, 5, 6]]), torch.tensor([4])
    >>> inputs, targets = cloze_inputs(tracks, lengths, mask_prob=0.0)  # only the last is masked
    >>> inputs.tolist(), targets.tolist()  # MASK_ID = 1, PAD_ID = 0 (no target)
    ([[3, 4, 5, 1]], [[0, 0, 0, 6]])
    """
    B, L = tracks.shape
    pos = torch.arange(L, device=tracks.device)
    real = pos < lengths[:, None]  # [B, L]
    last = pos == (lengths - 1)[:, None]  # [B, L]
    gen_device = generator.device if generator is not None else tracks.device
    draw = torch.rand(B, L, generator=generator, device=gen_device).to(tracks.device)
    masked = real & (last | (draw < mask_prob))  # [B, L]
    inputs = tracks.masked_fill(masked, MASK_ID)
    targets = torch.where(masked, tracks, torch.full_like(tracks, PAD_ID))
    return inputs, targets


def causal_targets(tracks: Tensor, lengths: Tensor) -> Tensor:
    """Next track at every position [B, L] (``PAD_ID`` where the session has no next track).

    Examples
    --------
    >>> import torch
    >>> causal_targets(torch.tensor([[3, 4, 5, 0]]), torch.tensor([3])).tolist()
    [[4, 5, 0, 0]]
    """
    B, L = tracks.shape
    nxt = F.pad(tracks[:, 1:], (0, 1), value=PAD_ID)  # [B, L] shifted left
    has_next = torch.arange(L, device=tracks.device) < (lengths - 1)[:, None]
    return nxt.masked_fill(~has_next, PAD_ID)
