"""`table_target_ranks` (chunked full-catalogue ranks) against `target_ranks` on the full matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_metrics import FakeData, TableModel, brute_full, make_model

from negrec_lib.metrics import evaluate, table_target_ranks, target_ranks
from negrec_lib.tokens import MASK_ID, N_RESERVED, OOV_ID, PAD_ID


def integer_case(seed: int, n: int, v: int, d: int, levels: int):
    """Small integer embeddings: every dot product is exact in float32, whatever the blocking,
    so the chunked and the full-matrix ranks must agree to the last tie."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randint(-levels, levels + 1, (n, d), generator=g).float()
    table = torch.randint(-levels, levels + 1, (v, d), generator=g).float()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[0] = OOV_ID
    targets[-1] = MASK_ID
    seen = torch.randint(0, v, (n, 4), generator=g)
    seen[:, -1] = PAD_ID  # padding
    seen[1::3, 0] = targets[1::3]  # the target in its own prefix: never removed
    seen[2::5, 1] = seen[2::5, 0]  # a track repeated in the prefix
    return hidden, table, targets, seen


def seen_mask(seen: torch.Tensor, v: int) -> torch.Tensor:
    mask = torch.zeros(seen.shape[0], v, dtype=torch.bool).scatter_(1, seen, True)
    mask[:, :N_RESERVED] = False
    return mask


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 40),
    v=st.integers(N_RESERVED + 1, 60),
    levels=st.integers(0, 2),
    chunk=st.integers(1, 70),
    row_block=st.integers(1, 45),
    use_seen=st.booleans(),
)
def test_chunked_ranks_equal_full_matrix_ranks(seed, n, v, levels, chunk, row_block, use_seen):
    hidden, table, targets, seen = integer_case(seed, n, v, d=5, levels=levels)
    seen_arg = seen if use_seen else None
    exclude = seen_mask(seen, v) if use_seen else None
    expected = target_ranks(hidden @ table.T, targets, exclude)
    got = table_target_ranks(hidden, table, targets, seen_arg, chunk=chunk, row_block=row_block)
    assert got.tolist() == expected.tolist()
    assert got.tolist() == brute_full(hidden @ table.T, targets, exclude)


def test_equal_embeddings_tie_pessimistically_with_float_data():
    """Tracks whose embedding equals the target's tie with it, and count above it, even with
    values whose dot products round (the target's score comes from the same product)."""
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(300, 64, generator=g)
    table = torch.randn(1, 64, generator=g).repeat(5000, 1)  # every track the same
    targets = torch.randint(N_RESERVED, 5000, (300,), generator=g)
    ranks = table_target_ranks(hidden, table, targets, chunk=777, row_block=64)
    assert ranks.tolist() == [5000 - N_RESERVED] * 300  # last among every track


def test_nan_scores_never_help():
    hidden = torch.tensor([[1.0], [float("nan")]])
    table = torch.tensor([[0.0], [0.0], [0.0], [1.0], [float("nan")], [2.0]])
    targets = torch.tensor([3, 3])
    # row 0: the NaN track counts above, track 5 too; row 1: a NaN target is a miss (V + 1)
    assert table_target_ranks(hidden, table, targets, chunk=2).tolist() == [3, 7]
    assert target_ranks(hidden @ table.T, targets).tolist() == [3, 7]


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="share D"):
        table_target_ranks(torch.zeros(2, 3), torch.zeros(5, 4), torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="target ids must lie"):
        table_target_ranks(torch.zeros(2, 3), torch.zeros(5, 3), torch.tensor([3, 9]))
    with pytest.raises(ValueError, match="seen must have shape"):
        table_target_ranks(
            torch.zeros(2, 3), torch.zeros(5, 3), torch.tensor([3, 4]), torch.zeros(3, 1).long()
        )
    with pytest.raises(ValueError, match="chunk and row_block"):
        table_target_ranks(torch.zeros(2, 3), torch.zeros(5, 3), torch.tensor([3, 4]), chunk=0)


class DotTableModel(TableModel):
    """The same scores as `TableModel`, declared as a dot product with a table (`dot_table`),
    so that `evaluate` takes the chunked path."""

    def dot_table(self) -> torch.Tensor:
        return self.table.T  # hidden is one-hot [B, V]: hidden @ table = table[last]


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_evaluate_takes_the_chunked_path_with_the_same_ranks(exclude_seen, monkeypatch):
    data = FakeData()
    plain, dotted = make_model(), DotTableModel(make_model().table)
    calls = []
    import negrec_lib.metrics.evaluation as evaluation

    original = evaluation.table_target_ranks
    monkeypatch.setattr(
        evaluation, "table_target_ranks", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    a = evaluate(plain, data, batch_size=10, exclude_seen=exclude_seen)
    b = evaluate(dotted, data, batch_size=10, exclude_seen=exclude_seen)
    assert calls, "evaluate did not use table_target_ranks for a model with dot_table"
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert a.metrics == b.metrics


def test_encoder_dot_table_is_its_score():
    from negrec_lib.config import ModelConfig
    from negrec_lib.model import SessionEncoder

    model = SessionEncoder(ModelConfig(d_model=8, n_heads=2, d_ff=8), vocab_size=30)
    h = torch.randn(4, 8)
    torch.testing.assert_close(model.score(h), h @ model.dot_table().T)
