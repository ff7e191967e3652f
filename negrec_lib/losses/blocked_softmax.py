"""Full-softmax cross-entropy over a [V, D] table without the [N, V] logit matrix.

The plain computation (``F.cross_entropy(h @ E.T, y)``) writes the [N, V] logits, masks them,
log-softmaxes them, and backward writes an [N, V] gradient: five or six passes over a matrix that
at 10 k tracks and a batch of 128 sessions is 100 MB, more time than its three matrix products.
`blocked_softmax_loss` takes the rows a block at a time, small enough that the block's logits
stay in the cache, and since the loss is a scalar it computes the gradients in the same pass:
for the block, ``p = softmax(h_b E^T)``, ``dh_b = (p - onehot) E / N`` and
``dE += (p - onehot)^T h_b / N``. Backward only scales them by the incoming gradient.

The same three matrix products as the plain loss, in the input's precision (bf16 under a bf16
autocast, as there), with the softmax in float32; in bf16/fp16 the rows are padded to a multiple
of 64 so that the blocks' products repeat their shapes (the CPU builds a bf16 kernel per shape).
When a block's logits fit in one chunk, one exp serves the loss and the gradient. When one
block's logits would exceed ``max_block_elems`` even at a small block of rows (catalogues of
hundreds of thousands of tracks), the columns are taken in chunks as well, with the log-sum-exp
from a first pass (one product more).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..tokens import N_RESERVED

__all__ = ["blocked_softmax_loss"]

MAX_BLOCK_ELEMS = 1 << 21  # 2 M logits (8 MB in float32) per block
MIN_ROWS = 64  # fewer rows per block and the products lose their efficiency: chunk columns
BUCKET = 64  # in fp16/bf16, row counts of the blocks' products are multiples of this
HALF = (torch.float16, torch.bfloat16)  # the reduced precisions


def _blocks(n: int, v: int, max_elems: int) -> tuple[int, int]:
    """(rows per block, columns per chunk) for an [n, v] logit matrix."""
    rows = max(1, min(n, max_elems // max(v, 1)))
    if rows >= min(n, MIN_ROWS):
        return rows, v
    rows = min(n, MIN_ROWS)
    return rows, max(1, max_elems // rows)


def _bucketed(h: Tensor, y: Tensor, rows_per: int) -> tuple[Tensor, Tensor, int]:
    """Rows padded to a multiple of `BUCKET` (zero states, target column 0), and rows per block
    rounded down to one: every block then has one of a few shapes (bf16 kernels are built per
    shape on the CPU, and N changes with every batch). The padded rows are left out below."""
    pad = -h.shape[0] % BUCKET
    if pad:
        h = torch.cat([h, h.new_zeros(pad, h.shape[1])])
        y = torch.cat([y, y.new_zeros(pad)])
    return h, y, max(BUCKET, rows_per - rows_per % BUCKET)


def _loss_and_grads(
    h: Tensor, table: Tensor, targets: Tensor, need_grad: bool, max_elems: int
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Mean cross-entropy over the columns >= N_RESERVED, and d loss / d h, d loss / d table."""
    n, v = h.shape[0], table.shape[0]
    dtype = h.dtype  # the products' precision: bf16 under autocast, else float32
    acc = torch.promote_types(dtype, torch.float32)  # the softmax: float32 (float64 stays)
    emb = table[N_RESERVED:].to(dtype)  # [V', D] the candidate columns
    y = targets - N_RESERVED  # [N] column of each row's target
    rows_per, cols_per = _blocks(n, v - N_RESERVED, max_elems)
    if dtype in HALF:  # fp32 keeps its exact shapes and rounding
        h, y, rows_per = _bucketed(h, y, rows_per)
    total = torch.zeros((), dtype=acc, device=h.device)
    grad_h = grad_e = None
    if need_grad:
        grad_h = torch.zeros(h.shape[0], h.shape[1], dtype=acc, device=h.device)
        grad_e = torch.zeros(v, h.shape[1], dtype=acc, device=h.device)
    scale = 1.0 / n
    for r0 in range(0, h.shape[0], rows_per):
        hb, yb = h[r0 : r0 + rows_per], y[r0 : r0 + rows_per]  # [b, D], [b]
        real = min(hb.shape[0], n - r0)  # rows past it are padding: left out of the loss; their
        # states are zero, so they add nothing to grad_e, and their grad_h rows are cut off
        arange = torch.arange(hb.shape[0], device=h.device)
        if cols_per >= emb.shape[0]:  # one chunk: one exp gives the loss and the softmax
            logits = (hb @ emb.T).to(acc)  # [b, V']
            target_logit = logits[arange, yb]
            top = logits.amax(dim=1)  # [b]
            e = logits.sub_(top[:, None]).exp_()  # in place: [b, V']
            total_e = e.sum(dim=1)
            lse = top + total_e.log()
            if grad_h is not None and grad_e is not None:
                g = e.mul_((scale / total_e)[:, None])  # softmax / N
                g[arange, yb] -= scale  # minus the one-hot target / N
                gc = g.to(dtype)
                grad_h[r0 : r0 + hb.shape[0]] += (gc @ emb).to(acc)  # [b, D]
                grad_e[N_RESERVED:] += (gc.T @ hb).to(acc)
            total += (lse - target_logit)[:real].sum()
            continue
        # columns in chunks: a first pass for the log-sum-exp, then the softmax chunk by chunk
        lse = torch.full((hb.shape[0],), float("-inf"), dtype=acc, device=h.device)
        for c0 in range(0, emb.shape[0], cols_per):
            part = (hb @ emb[c0 : c0 + cols_per].T).to(acc)
            lse = torch.logaddexp(lse, torch.logsumexp(part, dim=1))
        target_logit = torch.zeros_like(lse)
        for c0 in range(0, emb.shape[0], cols_per):
            ec = emb[c0 : c0 + cols_per]  # [c, D]
            logits = (hb @ ec.T).to(acc)  # [b, c]
            inside = (yb >= c0) & (yb < c0 + ec.shape[0])
            target_logit[inside] = logits[arange[inside], yb[inside] - c0]
            if grad_h is None or grad_e is None:
                continue
            g = logits.sub_(lse[:, None]).exp_()  # softmax, in place: [b, c]
            g[arange[inside], yb[inside] - c0] -= 1.0  # minus the one-hot target
            gc = g.mul_(scale).to(dtype)
            grad_h[r0 : r0 + hb.shape[0]] += (gc @ ec).to(acc)  # [b, D]
            grad_e[N_RESERVED + c0 : N_RESERVED + c0 + ec.shape[0]] += (gc.T @ hb).to(acc)
        total += (lse - target_logit)[:real].sum()
    return total * scale, None if grad_h is None else grad_h[:n], grad_e


class _BlockedSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: Tensor, table: Tensor, targets: Tensor, max_elems: int) -> Tensor:
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        with torch.autocast(h.device.type, enabled=False):
            loss, gh, ge = _loss_and_grads(h, table, targets, need, max_elems)
        ctx.h_dtype, ctx.e_dtype = h.dtype, table.dtype
        ctx.save_for_backward(*(t for t in (gh, ge) if t is not None))
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        gh, ge = ctx.saved_tensors
        dh = (gh * grad).to(ctx.h_dtype) if ctx.needs_input_grad[0] else None
        de = (ge * grad).to(ctx.e_dtype) if ctx.needs_input_grad[1] else None
        return dh, de, None, None


def blocked_softmax_loss(
    hidden: Tensor, targets: Tensor, table: Tensor, max_block_elems: int = MAX_BLOCK_ELEMS
) -> Tensor:
    """Mean cross-entropy of ``targets`` [N] under ``softmax(hidden @ table.T)`` over the tracks.

    ``hidden`` [N, D] and ``targets`` [N] hold only rows with a real target (ids >= N_RESERVED);
    reserved columns are not candidates. Equals ``F.cross_entropy`` on the [N, V] logits with the
    reserved columns at -inf (values and gradients, to rounding), without forming them: see the
    module docstring. ``max_block_elems`` bounds the logits held at once.

    Examples
    --------
    >>> import torch.nn.functional as F
    >>> _ = torch.manual_seed(0)
    >>> h, table, y = torch.randn(6, 4), torch.randn(12, 4), torch.tensor([3, 4, 4, 7, 11, 5])
    >>> logits = h @ table.T
    >>> logits[:, :N_RESERVED] = float("-inf")
    >>> plain = F.cross_entropy(logits, y)
    >>> torch.allclose(blocked_softmax_loss(h, y, table, max_block_elems=10), plain)
    True
    """
    if targets.numel() and int(targets.min()) < N_RESERVED:
        raise ValueError("blocked_softmax_loss: every target must be a track (id >= N_RESERVED)")
    return _BlockedSoftmax.apply(hidden, table, targets, max_block_elems)
