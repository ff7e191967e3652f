"""Full-catalogue ranks from hidden states and the track table, column chunk by column chunk.

`target_ranks` needs the [N, V] score matrix; at MSSD's scale (V in the hundreds of thousands)
that matrix is written, compared and summed in separate passes over main memory, which costs
more than the matrix product itself. `table_target_ranks` computes the same ranks for a model
whose score is a dot product with a [V, D] table, one [rows, chunk] block at a time, so each
block is compared and counted while it is still in the cache and nothing [N, V] is allocated.

The target's own score comes from the same matrix product as its competitors: every block
multiplies the hidden states with the chunk's rows *and* the block's target rows, so a track
whose embedding equals the target's gets the target's score to the last bit and counts above it
(ties stay pessimistic). Scores are float32.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..tokens import N_RESERVED
from .ranking import _check_targets

__all__ = ["table_target_ranks"]


def _cleared_cells(targets: Tensor, seen: Tensor | None) -> tuple[Tensor, Tensor]:
    """(row, column) pairs never counted: each row's target and, if given, its seen tracks.

    Unique and sorted by column, so that each chunk's pairs are one slice (``searchsorted``).
    """
    n = targets.shape[0]
    rows = torch.arange(n, device=targets.device)
    cols = targets[:, None]
    if seen is not None:
        cols = torch.cat([cols, seen.to(targets.device, torch.long)], dim=1)  # [N, 1 + L]
    rows = rows[:, None].expand_as(cols).reshape(-1)
    cols = cols.reshape(-1)
    keep = cols >= N_RESERVED  # reserved ids (PAD padding) are never counted anyway
    # each cell once (a track repeated in the prefix, or equal to the target), sorted by column
    key = torch.unique(cols[keep] * n + rows[keep])
    return key % n, key // n


@torch.no_grad()
def table_target_ranks(
    hidden: Tensor,
    table: Tensor,
    targets: Tensor,
    seen: Tensor | None = None,
    chunk: int | None = None,
    row_block: int | None = None,
) -> Tensor:
    """`target_ranks` of ``hidden @ table.T`` without the [N, V] matrix (same rules).

    Parameters
    ----------
    hidden : [N, D] states; computed in float32.
    table : [V, D] the track table (reserved ids included); score = hidden @ table.T.
    targets : [N] long held-out ids.
    seen : optional [N, L] long ids removed from each row's ranking (the tracks of the input
        prefix, padded with reserved ids); the target itself is never removed.
    chunk, row_block : the block of columns and rows scored at once (memory ~ 8 row_block chunk
        bytes); the ranks do not depend on them. Default: 8192 and 128 on the CPU (the best of
        a sweep on two cores, benchmarks/evaluate.py), 65536 and 1024 on a GPU (larger products
        for its many cores; not yet timed on one).

    Returns
    -------
    [N] long: 1 + the number of other non-reserved, not-removed tracks whose score is >= the
    target's (NaN counts as above); rank V + 1 for a reserved target or a NaN target score.

    Examples
    --------
    >>> from negrec_lib.metrics import target_ranks
    >>> table = torch.tensor([[0.0], [0.0], [0.0], [1.0], [3.0], [2.0]])  # ids 0-2 reserved
    >>> hidden, targets = torch.tensor([[1.0], [-1.0]]), torch.tensor([5, 5])
    >>> table_target_ranks(hidden, table, targets).tolist()
    [2, 2]
    >>> target_ranks(hidden @ table.T, targets).tolist()  # the same, with the [N, V] matrix
    [2, 2]
    >>> table_target_ranks(hidden, table, targets, seen=torch.tensor([[4], [3]])).tolist()
    [1, 1]
    """
    if hidden.dim() != 2 or table.dim() != 2 or hidden.shape[1] != table.shape[1]:
        raise ValueError(
            f"hidden [N, D] and table [V, D] must share D; got {tuple(hidden.shape)} and "
            f"{tuple(table.shape)}"
        )
    big = hidden.device.type != "cpu"
    chunk = (65536 if big else 8192) if chunk is None else chunk
    row_block = (1024 if big else 128) if row_block is None else row_block
    if chunk < 1 or row_block < 1:
        raise ValueError(f"chunk and row_block must be >= 1, got {chunk} and {row_block}")
    n, v = hidden.shape[0], table.shape[0]
    device = hidden.device
    valid = _check_targets(targets, n, v).to(device)
    targets = targets.to(device)
    if seen is not None and (seen.dim() != 2 or seen.shape[0] != n):
        raise ValueError(f"seen must have shape [{n}, L], got {tuple(seen.shape)}")
    h_all = hidden.float()
    tab = table.to(device=device, dtype=torch.float32)
    counts = torch.zeros(n, dtype=torch.long, device=device)
    target_score = torch.empty(n, dtype=torch.float32, device=device)
    starts = list(range(0, n, row_block))
    # per row block: its target rows (appended to every chunk), its cleared cells by column, and
    # where each chunk's cells start (one host sync per row block, none per chunk)
    edges = torch.arange(0, v + chunk, chunk, device=device).clamp(max=v)
    blocks = []
    for r0 in starts:
        r1 = min(r0 + row_block, n)
        tgt = torch.where(valid[r0:r1], targets[r0:r1], torch.zeros_like(targets[r0:r1]))
        cells = _cleared_cells(tgt, None if seen is None else seen[r0:r1])
        bounds = torch.searchsorted(cells[1], edges).tolist()
        blocks.append((r0, r1, tab[tgt], cells, bounds))
    width_max, rows_max = min(chunk, v), min(row_block, n)
    buffer = torch.empty(width_max + rows_max, tab.shape[1], device=device)
    below = torch.empty(rows_max, width_max, device=device)  # 1.0 where a score < the target's
    for k, c0 in enumerate(range(0, v, chunk)):
        c1 = min(c0 + chunk, v)
        width = c1 - c0
        buffer[:width] = tab[c0:c1]
        for r0, r1, t_rows, (cell_rows, cell_cols), bounds in blocks:
            b = r1 - r0
            buffer[width : width + b] = t_rows
            scores = h_all[r0:r1] @ buffer[: width + b].T  # [b, width + b]: one product
            t = scores[:, width:].diagonal()  # [b] each row's target score, same product
            if c0 == 0:
                target_score[r0:r1] = t
            # not (s < t): s >= t, and NaN competitors count above; a float 0/1 buffer and a
            # float sum (exact below 2^24) are the cheapest count on the CPU
            lt = torch.lt(scores[:, :width], t[:, None], out=below[:b, :width])
            counted = width - lt.sum(dim=1).to(torch.long)  # [b]
            if c0 < N_RESERVED:  # reserved ids are never ranked
                counted -= (lt[:, : N_RESERVED - c0] == 0).sum(dim=1)
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo:  # the target itself and the removed tracks do not compete
                r, c = cell_rows[lo:hi], cell_cols[lo:hi] - c0
                was_counted = (lt[r, c] == 0).to(torch.long)
                counted.index_add_(0, r, was_counted, alpha=-1)
            counts[r0:r1] += counted
    ranks = 1 + counts
    miss = ~valid | torch.isnan(target_score)
    return torch.where(miss, torch.full_like(ranks, v + 1), ranks)
