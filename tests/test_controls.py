"""The study's controls for the skip loss (loss.skip_control): labels and losses by brute force."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_losses import random_sessions, tiny_batch, tiny_model

from negrec_lib.config import LossConfig
from negrec_lib.errors import ConfigError
from negrec_lib.losses import compute_losses, control_labels, make_sampler, skip_infonce_loss


@pytest.mark.parametrize("seed", range(5))
def test_permuted_labels_keep_each_sessions_count_and_stay_inside_it(seed):
    _, _, skipped, valid = random_sessions(16, 12, 4, seed)
    g = torch.Generator().manual_seed(seed)
    labels, negatives = control_labels(skipped, valid, "permuted", g)
    assert negatives is None
    assert torch.equal(labels.sum(1), skipped.sum(1))  # as many skips per session
    assert not (labels & ~valid).any()  # only on real positions
    again, _ = control_labels(skipped, valid, "permuted", torch.Generator().manual_seed(seed))
    assert torch.equal(labels, again)  # reproducible from the seed
    moved = [
        not torch.equal(labels[b], skipped[b])
        for b in range(16)
        if 0 < int(skipped[b].sum()) < int(valid[b].sum())
    ]
    assert any(moved)


@pytest.mark.parametrize("seed", range(5))
def test_kept_negatives_are_kept_tracks_as_many_as_the_skips(seed):
    _, _, skipped, valid = random_sessions(16, 12, 4, seed)
    labels, negatives = control_labels(
        skipped, valid, "kept_negatives", torch.Generator().manual_seed(seed)
    )
    assert torch.equal(labels, skipped)  # anchors and positives unchanged
    kept = valid & ~skipped
    assert not (negatives & ~kept).any()  # never a skipped track
    want = torch.minimum(skipped.sum(1), kept.sum(1))
    assert torch.equal(negatives.sum(1), want)


def _brute_kept_negatives(anchors, keys, skipped, valid, negatives, tau):
    B, L, _ = anchors.shape
    loss, ok = torch.zeros(B, L, dtype=torch.float64), torch.zeros(B, L, dtype=torch.bool)
    for b in range(B):
        for t in range(L):
            if not valid[b, t] or skipped[b, t]:
                continue
            later = [s for s in range(t + 1, L) if valid[b, s] and not skipped[b, s]]
            if not later:
                continue
            negs = [j for j in range(L) if negatives[b, j] and j not in (t, later[0])]
            if not negs:
                continue
            q = anchors[b, t]
            s_pos = F.cosine_similarity(q, keys[b, later[0]], dim=0).item() / tau
            s_neg = [F.cosine_similarity(q, keys[b, j], dim=0).item() / tau for j in negs]
            loss[b, t] = -s_pos + math.log(math.exp(s_pos) + sum(math.exp(s) for s in s_neg))
            ok[b, t] = True
    return loss, ok


@pytest.mark.parametrize("seed", range(4))
def test_kept_negatives_loss_equals_brute_force(seed):
    anchors, keys, skipped, valid = random_sessions(8, 10, 6, seed)
    _, negatives = control_labels(
        skipped, valid, "kept_negatives", torch.Generator().manual_seed(seed)
    )
    got, ok = skip_infonce_loss(
        anchors, keys, skipped, valid, 0.1, reduction="none", negatives=negatives
    )
    want, want_ok = _brute_kept_negatives(anchors, keys, skipped, valid, negatives, 0.1)
    assert torch.equal(ok, want_ok)
    assert torch.allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("control", ["permuted", "kept_negatives"])
def test_every_control_trains_through_compute_losses(control):
    model = tiny_model(True)
    tracks, lengths, skipped = tiny_batch()
    cfg = LossConfig(n_negatives=20, skip_weight=1.0, skip_control=control)
    out = compute_losses(
        model,
        tracks,
        lengths,
        skipped,
        None,
        cfg,
        make_sampler(cfg, 50),
        torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(out["skip"]) and int(out["n_anchors"]) > 0
    out["total"].backward()
    assert model.item_emb.weight.grad is not None


def test_an_unknown_control_is_refused():
    _, _, skipped, valid = random_sessions(2, 4, 2, 0)
    with pytest.raises(ConfigError, match="skip_control"):
        control_labels(skipped, valid, "shuffle")
