"""`compute_losses`: a training step's next-track and skip losses, causal or bidirectional."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import LossConfig, ModelConfig
from ..model import SessionEncoder, causal_targets, cloze_inputs
from ..tokens import PAD_ID
from .next_track import EmbeddingSource, _zero, next_track_loss
from .samplers import CandidateSampler
from .skip import control_labels, skip_infonce_loss


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
    >>> from negrec_lib.losses import UniformSampler
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
