"""Next-track losses (full and sampled softmax) and the skip contrastive loss (book/paper.md, 3).

Reserved ids (PAD, MASK, OOV) are never candidates, never sampled, and a row whose target is a
reserved id is ignored. Sampled softmax computes only the candidate columns: the [N, V] logits
of the reference code are never formed.

The package, one idea a module: full and sampled softmax (`next_track`), their candidate
samplers (`samplers`), the skip InfoNCE loss and its controls (`skip`), and a step's losses
(`compute`: `compute_losses`). Every public name is importable from here.
"""

from __future__ import annotations

from .compute import compute_losses
from .next_track import (
    EmbeddingSource,
    full_softmax_loss,
    next_track_loss,
    sampled_softmax_loss,
)
from .samplers import CandidateSampler, PopularitySampler, UniformSampler, make_sampler
from .skip import control_labels, skip_infonce_loss

__all__ = [
    "CandidateSampler",
    "EmbeddingSource",
    "PopularitySampler",
    "UniformSampler",
    "compute_losses",
    "control_labels",
    "full_softmax_loss",
    "make_sampler",
    "next_track_loss",
    "sampled_softmax_loss",
    "skip_infonce_loss",
]
