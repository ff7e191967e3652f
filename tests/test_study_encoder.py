"""The encoder chapter's measurements (`negrec_lib.study.encoder`): output changes and
parameter counts."""

from __future__ import annotations

import dataclasses

import torch

from negrec_lib.config import ModelConfig
from negrec_lib.model import SessionEncoder
from negrec_lib.study import encoder as se
from negrec_lib.tokens import N_RESERVED, PAD_ID

V = N_RESERVED + 40
CFG = ModelConfig(d_model=8, n_heads=2, n_layers=2, d_ff=8, dropout=0.0, max_length=10)


def _model(seed: int, causal: bool = True) -> SessionEncoder:
    torch.manual_seed(seed)
    return SessionEncoder(dataclasses.replace(CFG, causal=causal), V).eval()


def test_output_change_is_zero_before_the_edit_only_for_the_causal_model():
    toy = torch.tensor([[12, 7, 30, 21, 5, 16, PAD_ID, PAD_ID]])
    causal = se.output_change(_model(1), toy, position=3, new_track=33)
    bidir = se.output_change(_model(1, causal=False), toy, position=3, new_track=33)
    assert list(causal["position"]) == list(range(6))
    assert (causal["abs"][:3] == 0).all() and (causal["abs"][3:] > 0).all()
    assert (bidir["abs"] > 0).all()


def test_parameter_counts_on_the_meta_device_match_a_real_model():
    table = se.count_parameters(CFG, 40).set_index("component")["parameters"]
    real = sum(p.numel() for p in _model(0).parameters())
    assert table["total"] == real
    assert table["track table (item_emb)"] == V * CFG.d_model


def test_parameter_scaling_rows_are_count_parameters():
    table = se.parameter_scaling(CFG, [10, 1000], marks={"small": 40}, points=5)
    grid = table[table["mark"] == ""]
    assert grid["tracks"].tolist() == [10, 32, 100, 316, 1000]
    row = table[table["mark"] == "small"].iloc[0]
    counts = se.count_parameters(CFG, 40).set_index("component")["parameters"]
    assert (row["tracks"], row["total"], row["track_table"]) == (
        40,
        counts["total"],
        counts["track table (item_emb)"],
    )


def test_token_labels_and_mask_matrix():
    assert [se.token_label(t) for t in (0, 1, 2, 7)] == ["PAD", "MASK", "OOV", "7"]
    mask = torch.ones(1, 1, 3, 3, dtype=torch.bool).tril()
    assert se.mask_matrix(mask).tolist() == mask[0, 0].tolist()
