"""The self-attentive session encoder, unidirectional (SASRec-like) or bidirectional (BERT4Rec).

Sessions arrive LEFT-aligned: ``tracks[b, 0]`` is the first track, ``PAD_ID`` fills the row after
the last real track. Padding is inferred from ``tracks == PAD_ID`` and masked as attention keys;
the reference code does not mask it (book/paper.md section 2), we do. The encoder returns the
prediction-head output at every position; scores are dot products with the track-embedding table
(tied input/output embeddings, no output bias).

The track table dominates memory and time at a realistic catalogue; one training step's lookups
into it go through a `negrec_lib.track_table.TrackTable` (one gradient node per step).

The package, one idea a module: the encoder (`encoder`: `SessionEncoder`, `EncoderOutput`), its
transformer block (`layer`), and the training inputs and targets (`targets`: `causal_targets`,
`cloze_inputs`). Every public name is importable from here.
"""

from __future__ import annotations

from ..track_table import TrackTable
from .encoder import EncoderOutput, SessionEncoder
from .layer import TransformerLayer
from .targets import causal_targets, cloze_inputs

__all__ = [
    "EncoderOutput",
    "SessionEncoder",
    "TrackTable",
    "TransformerLayer",
    "causal_targets",
    "cloze_inputs",
]
