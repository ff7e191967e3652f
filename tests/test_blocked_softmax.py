"""`blocked_softmax_loss` (the full softmax without [N, V] logits) against the plain computation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from negrec_lib.losses.blocked_softmax import blocked_softmax_loss
from negrec_lib.tokens import N_RESERVED


def plain(h: torch.Tensor, y: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    logits = h @ table.T
    logits[:, :N_RESERVED] = float("-inf")
    return F.cross_entropy(logits.float() if logits.dtype != torch.float64 else logits, y)


def case(n=37, v=53, d=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=dtype)
    table = torch.randn(v, d, generator=g, dtype=dtype)
    y = torch.randint(N_RESERVED, v, (n,), generator=g)
    y[1] = y[0]  # a repeated target
    return h, table, y


@pytest.mark.parametrize("max_elems", [1 << 21, 500, 64, 7])  # one block; row blocks; chunks
def test_values_and_gradients_equal_the_plain_loss(max_elems):
    h, table, y = case()
    h1, t1 = h.clone().requires_grad_(), table.clone().requires_grad_()
    h2, t2 = h.clone().requires_grad_(), table.clone().requires_grad_()
    a = blocked_softmax_loss(h1, y, t1, max_block_elems=max_elems)
    b = plain(h2, y, t2)
    (3.0 * a).backward()  # an upstream gradient other than 1
    (3.0 * b).backward()
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(h1.grad, h2.grad)
    torch.testing.assert_close(t1.grad, t2.grad)
    assert not t1.grad[:N_RESERVED].any()  # reserved rows are never candidates


def test_bf16_autocast_matches_the_plain_bf16_loss():
    h, table, y = case(n=64, v=400, d=16, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hb = (h @ torch.eye(16)).requires_grad_()  # bf16, as the encoder's output would be
        a = blocked_softmax_loss(hb, y, table)
        b = plain(hb, y, table)
    assert a.dtype == torch.float32 and hb.dtype == torch.bfloat16
    torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-2)
    (ga,) = torch.autograd.grad(a, hb)
    (gb,) = torch.autograd.grad(b, hb)
    assert ga.dtype == torch.bfloat16
    torch.testing.assert_close(ga.float(), gb.float(), rtol=5e-2, atol=2e-3)


@pytest.mark.parametrize("n", [37, 64, 130])
@pytest.mark.parametrize("max_elems", [1 << 21, 4000])  # one block of rows; 64-row blocks, chunks
def test_bf16_padded_rows_leave_no_trace(n, max_elems, monkeypatch):
    """In bf16 the rows are padded to a multiple of 64 (kernels are built per shape): the loss and
    gradients are those of the same bf16 computation on the n real rows alone."""
    import negrec_lib.losses.blocked_softmax as bs

    h, table, y = case(n=n, v=400, d=16, dtype=torch.float32)

    def run() -> tuple[torch.Tensor, ...]:
        hb, tb = h.bfloat16().requires_grad_(), table.bfloat16().requires_grad_()
        loss = blocked_softmax_loss(hb, y, tb, max_block_elems=max_elems)
        loss.backward()
        return loss.detach(), hb.grad, tb.grad

    padded = run()
    monkeypatch.setattr(bs, "_bucketed", lambda h, y, rows: (h, y, rows))  # exact shapes
    exact = run()
    assert padded[1].shape == (n, 16) and padded[2].shape == (400, 16)
    torch.testing.assert_close(padded[0], exact[0], rtol=1e-6, atol=1e-6)
    for a, b in zip(padded[1:], exact[1:]):  # blocks may differ: bf16 partial products round
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-2, atol=2.5e-4)


def test_without_gradients_and_refusals():
    h, table, y = case()
    with torch.no_grad():
        torch.testing.assert_close(blocked_softmax_loss(h, y, table), plain(h, y, table))
    with pytest.raises(ValueError, match="every target must be a track"):
        blocked_softmax_loss(h, torch.zeros_like(y), table)


def test_trains_the_table_like_the_plain_loss():
    """A few Adam steps on each: the same tables, to rounding."""
    h, table, y = case(dtype=torch.float32)
    tables = [table.clone().requires_grad_() for _ in range(2)]
    opts = [torch.optim.Adam([t], lr=0.05) for t in tables]
    for _ in range(5):
        for fn, t, opt in zip((blocked_softmax_loss, plain), tables, opts):
            opt.zero_grad()
            fn(h, y, t).backward()
            opt.step()
    torch.testing.assert_close(tables[0], tables[1], rtol=1e-4, atol=1e-5)
