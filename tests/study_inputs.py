"""Small synthetic inputs shared by the analysis tests (tests/test_study_*.py) and the figure tests
(tests/test_viz_*.py) that draw the same analysis: one definition each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from negrec_lib.config import ModelConfig
from negrec_lib.metrics import RankAccumulator
from negrec_lib.model import SessionEncoder
from negrec_lib.study import attention as sa
from negrec_lib.tokens import N_RESERVED, PAD_ID

V = N_RESERVED + 40
CFG = ModelConfig(d_model=8, n_heads=2, n_layers=2, d_ff=8, dropout=0.0, max_length=10)


def peaked_model(seed: int, causal: bool = True) -> SessionEncoder:
    """A tiny encoder with larger attention weights than the default init: peaked attention."""
    torch.manual_seed(seed)
    model = SessionEncoder(dataclasses.replace(CFG, causal=causal), V).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.qkv.weight.mul_(40)
    return model


def random_prefixes(n: int = 12, L: int = 10, seed: int = 0) -> sa.Prefixes:
    """``n`` random prefixes of up to ``L`` tracks, about 45% of them skipped; the first is full."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, L + 1, (n,), generator=g)
    lengths[0] = L
    real = torch.arange(L)[None, :] < lengths[:, None]
    tracks = torch.where(real, torch.randint(N_RESERVED, V, (n, L), generator=g), PAD_ID)
    skipped = real & (torch.rand(n, L, generator=g) < 0.45)
    return sa.Prefixes(tracks, skipped, lengths, torch.arange(n))


def rank_examples(seed: int) -> pd.DataFrame:
    """300 evaluation examples with random ranks, contexts, positions and skip flags."""
    rng = np.random.default_rng(seed)
    acc = RankAccumulator()
    acc.add(
        rng.integers(1, 50, 300),
        context=rng.integers(0, 6, 300),
        position=rng.integers(6, 21, 300),
        target_skipped=rng.integers(0, 2, 300),
    )
    return acc.examples()
