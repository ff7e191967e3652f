"""Pass 1 of preparation: stream the logs once, keep the sessions that pass the filters.

Kept sessions go into fixed-width arrays (track ids, skip strength, context type per position;
length, date, offset per session; `prepared_format.ARRAY_FILES`), a session longer than
``max_length`` keeping its last tracks. The filters are ``length >= min_length`` and, with
``require_skip``, at least one skip (skip strength ``>= skip_strength``); every session they
drop is counted by reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import DataConfig
from .mssd import ReadReport, iter_log_blocks
from .prepared_format import ARRAY_FILES
from .skips import is_skipped


@dataclass
class KeptSessions:
    """The kept sessions of one log block, rows of a session contiguous and in order."""

    codes: np.ndarray  # int [rows] track of each row, as a code into `names`
    names: pa.Array  # string [block tracks] the block's track dictionary
    skip: np.ndarray  # int8 [rows] skip strength 0..3
    context: np.ndarray  # int8 [rows] context type code
    starts: np.ndarray  # int64 [n] first row of each session
    lengths: np.ndarray  # int [n] rows of each session
    day: np.ndarray  # int [n] days since 1970 of each session
    sids: np.ndarray  # object [n] session ids


class Collector:
    """Accumulates kept sessions block by block into fixed-width arrays.

    Track ids are strings; a block's rows carry codes into the block's own dictionary. Those
    dictionaries are merged into one global, first-seen-ordered dictionary in batches, by
    Arrow's hash kernel (`dictionary_encode` of the global dictionary followed by the pending
    block dictionaries keeps every known id's index), and the pending blocks' codes are
    rewritten then: no per-row and no per-id Python work.
    """

    MERGE_EVERY = 1_000_000  # pending dictionary entries before a merge (bounds memory)

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.names = pa.array([], pa.string())  # global track ids, first-seen order
        self.pending: list[tuple[int, pa.Array]] = []  # (part index, block dictionary)
        self.n_pending = 0
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in (*ARRAY_FILES, "sid")}
        self.n = 0
        self.dropped: Counter = Counter()  # sessions dropped by the filters, by reason

    def add_block(self, kept: KeptSessions) -> None:
        """Add the kept sessions of a block (tracks as codes into the block's dictionary)."""
        self._add(kept.codes.astype(np.int32) + 1, kept)  # +1: 0 stays padding
        self.pending.append((len(self.parts["tracks"]) - 1, kept.names))
        self.n_pending += len(kept.names)
        if self.n_pending >= self.MERGE_EVERY:
            self.merge()

    def merge(self) -> None:
        """Fold the pending block dictionaries into the global one; rewrite their codes."""
        if not self.pending:
            return
        merged = pc.dictionary_encode(
            pa.concat_arrays([self.names] + [names.cast(pa.string()) for _, names in self.pending])
        )
        index = merged.indices.to_numpy()  # [G + pending]
        at = len(self.names)
        for part, names in self.pending:
            to_global = index[at : at + len(names)] + 1  # block code + 1 -> global id + 1
            at += len(names)
            grid = self.parts["tracks"][part]
            real = grid > 0
            grid[real] = to_global[grid[real] - 1]
        self.names = merged.dictionary
        self.pending, self.n_pending = [], 0

    def _add(self, tracks: np.ndarray, kept: KeptSessions) -> None:
        """Add the rows of kept sessions; `tracks` [rows]: block code + 1 of each row."""
        skip, context, starts, lengths = kept.skip, kept.context, kept.starts, kept.lengths
        day, sids = kept.day, kept.sids
        n, L = len(starts), self.max_length
        offset = np.maximum(lengths - L, 0).astype(np.int16)  # [n] tracks cut at the front
        kept_len = np.minimum(lengths, L).astype(np.int16)  # [n]
        sess = np.repeat(np.arange(n), lengths)  # [rows] session of each row
        pos = np.arange(len(tracks)) - np.repeat(starts, lengths)  # [rows] 0-based position
        col = pos - np.repeat(offset, lengths)  # [rows] column in the array
        keep = col >= 0
        grid_t = np.zeros((n, L), np.int32)
        grid_s = np.zeros((n, L), np.int8)
        grid_c = np.zeros((n, L), np.int8)
        grid_t[sess[keep], col[keep]] = tracks[keep]
        grid_s[sess[keep], col[keep]] = skip[keep]
        grid_c[sess[keep], col[keep]] = context[keep]
        for key, value in (
            ("tracks", grid_t),
            ("skip", grid_s),
            ("context", grid_c),
            ("length", kept_len),
            ("day", day.astype(np.int32)),
            ("offset", offset),
            ("sid", np.asarray(sids, dtype=object)),
        ):
            self.parts[key].append(value)
        self.n += n

    def arrays(self, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Concatenate what was collected so far under `keys` (default: all; track ids: global
        first-seen id + 1, so the tracks need `merge` first, which this does for them)."""
        keys = tuple(self.parts) if keys is None else keys
        if "tracks" in keys:
            self.merge()
        L = self.max_length
        empty = {
            "tracks": np.zeros((0, L), np.int32),
            "skip": np.zeros((0, L), np.int8),
            "context": np.zeros((0, L), np.int8),
            "length": np.zeros(0, np.int16),
            "day": np.zeros(0, np.int32),
            "offset": np.zeros(0, np.int16),
            "sid": np.zeros(0, object),
        }
        out = {}
        for key in keys:
            parts = self.parts[key]
            out[key] = np.concatenate(parts) if parts else empty[key]
            parts.clear()
        return out


def collect(
    files: list[Path],
    cfg: DataConfig,
    report: ReadReport,
    *,
    block_size: int,
    progress: bool,
    on_file_read: Callable[[Path], None] | None = None,
) -> Collector:
    """Stream every log block once; keep the sessions that pass the filters (the reader's
    counts go to `report`, the filters' to the collector's `dropped`)."""
    from ..progress import ProgressSlot

    col = Collector(cfg.max_length)
    dropped = col.dropped
    total = sum(f.stat().st_size for f in files)
    slot = ProgressSlot(progress)  # tqdm.auto: stderr in a terminal, a widget in Jupyter
    bar = slot.bar(total=total, unit="B", unit_scale=True, desc="prepare")
    done_bytes = 0
    for path in files:
        for block in iter_log_blocks(
            path,
            on_error=cfg.on_error,
            report=report,
            block_size=block_size,
            on_file_read=on_file_read,
            date_format=cfg.date_format,
            partial_sessions=cfg.partial_sessions,
        ):
            c = block.columns
            strength = c["skip_1"].astype(np.int8) + c["skip_2"] + c["skip_3"]  # [rows] 0..3
            starts = np.asarray(block.session_starts, np.int64)  # [S]
            lengths = np.diff(np.append(starts, block.n_rows))  # [S]
            skipped = is_skipped(strength, cfg.skip_strength).astype(np.int32)
            n_skips = np.add.reduceat(skipped, starts) if len(starts) else skipped[:0]
            keep = np.ones(len(starts), bool)
            short = lengths < cfg.min_length
            dropped["too_short"] += int(short.sum())
            keep &= ~short
            if cfg.require_skip:
                no_skip = keep & (n_skips == 0)
                dropped["no_skip"] += int(no_skip.sum())
                keep &= ~no_skip
            if cfg.max_sessions is not None:
                room = cfg.max_sessions - col.n
                over = np.cumsum(keep) > room
                dropped["beyond_max_sessions"] += int((keep & over).sum())
                keep &= ~over
            # The kept rows, with track codes into the block's dictionary (the collector maps
            # them to global first-seen ids when it merges the dictionaries).
            row_keep = np.repeat(keep, lengths)
            ks = starts[keep]
            new_starts = np.cumsum(np.concatenate([[0], lengths[keep][:-1]])) if len(ks) else ks
            col.add_block(
                KeptSessions(
                    block.track_codes[row_keep],
                    block.track_dict,
                    skip=strength[row_keep],
                    context=c["context_type"][row_keep],
                    starts=new_starts.astype(np.int64),
                    lengths=lengths[keep],
                    day=np.asarray(block.session_dates)[keep],
                    sids=np.asarray(block.session_ids, dtype=object)[keep],
                )
            )
            if cfg.max_sessions is not None and col.n >= cfg.max_sessions:
                break
        done_bytes += path.stat().st_size
        bar.update(done_bytes - bar.n)
        if cfg.max_sessions is not None and col.n >= cfg.max_sessions:
            break
    slot.done(bar)
    slot.close()
    return col
