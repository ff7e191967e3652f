"""Session-log rows in flight between blocks: a run is a stretch of rows with one session id.

A block of the file ends wherever its bytes end, so its last session may go on in the next
block. `RowBatch` holds decoded rows with their runs; the reader settles the runs that are
complete and carries the last one (the tail) over to the next block (`concat`), merging the
two blocks' track dictionaries. A line that is not a row (`BadLine`: a wrong field count, or a
blank line) is no part of any run: the rows on either side of it stay one run if their session
id is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from negrec_lib.data.csv_columns import RowErrors


class BadLine(NamedTuple):
    """A line that is not a row: a wrong field count, or a blank line."""

    line: int  # block-local until placed, then the file's line
    message: str
    reason: str  # what the session it is charged to is dropped as (report.MALFORMED, BLANK)


@dataclass
class RowBatch:
    """Decoded rows in flight: a parsed block, possibly behind the unfinished session (the
    tail) of the block before it. A run is a stretch of rows with the same session id."""

    cols: dict[str, np.ndarray]  # decoded value columns, each [n]
    track_codes: np.ndarray  # int32 [n]
    track_dict: pa.Array  # string [n_tracks], distinct
    run_starts: np.ndarray  # int64 [n_runs] rows where the session id changes
    run_ids: np.ndarray  # object [n_runs]
    lines: np.ndarray  # int64 [n] line of each row (block-local until placed)
    errors: list[RowErrors]  # row-level violations
    malformed: list[BadLine]  # lines that are not rows (wrong field count, blank), by line
    n_lines: int = 0  # lines in the parsed block (rows + malformed)

    @property
    def n(self) -> int:
        """Rows in the batch."""
        return len(self.track_codes)

    @staticmethod
    def empty(dtypes: dict[str, type]) -> RowBatch:
        """No rows, with value columns of the given dtypes."""
        return RowBatch(
            {c: np.empty(0, d) for c, d in dtypes.items()},
            np.empty(0, np.int32),
            pa.array([], pa.string()),
            np.empty(0, np.int64),
            np.empty(0, object),
            np.empty(0, np.int64),
            [],
            [],
        )

    def place(self, first_line: int) -> None:
        """Turn block-local line indices into file lines (the block starts at `first_line`)."""
        self.lines = self.lines + first_line
        self.malformed = [b._replace(line=first_line + b.line) for b in self.malformed]

    @staticmethod
    def concat(tail: RowBatch, chunk: RowBatch) -> RowBatch:
        """`tail` (an unfinished session) followed by `chunk`."""
        if tail.n == 0:
            chunk.malformed = tail.malformed + chunk.malformed
            return chunk
        hit = pc.index_in(chunk.track_dict, value_set=tail.track_dict)  # [chunk tracks]
        found = np.flatnonzero(hit.is_valid().to_numpy(zero_copy_only=False))
        pos = np.full(len(tail.track_dict), -1, np.int32)  # [tail tracks] code in the chunk
        pos[hit.fill_null(0).to_numpy()[found]] = found
        absent = np.flatnonzero(pos < 0)
        pos[absent] = len(chunk.track_dict) + np.arange(len(absent))
        same = chunk.n > 0 and tail.run_ids[-1] == chunk.run_ids[0]
        return RowBatch(
            {c: np.concatenate([tail.cols[c], chunk.cols[c]]) for c in tail.cols},
            np.concatenate([pos[tail.track_codes], chunk.track_codes]),
            pa.concat_arrays([chunk.track_dict, tail.track_dict.take(pa.array(absent))]),
            np.concatenate([tail.run_starts, chunk.run_starts[int(same) :] + tail.n]),
            np.concatenate([tail.run_ids, chunk.run_ids[int(same) :]]),
            np.concatenate([tail.lines, chunk.lines]),
            tail.errors + [e.shift(tail.n) for e in chunk.errors],
            tail.malformed + chunk.malformed,
        )

    def slice_from(self, cut: int, malformed: list[BadLine]) -> RowBatch:
        """Rows [cut:] (whole runs), their errors, and the given malformed lines."""
        used, codes = np.unique(self.track_codes[cut:], return_inverse=True)
        k = int(np.searchsorted(self.run_starts, cut))
        return RowBatch(
            {c: v[cut:] for c, v in self.cols.items()},
            codes.astype(np.int32),
            self.track_dict.take(pa.array(used)),
            self.run_starts[k:] - cut,
            self.run_ids[k:],
            self.lines[cut:],
            [e.select(e.rows >= cut).shift(-cut) for e in self.errors if (e.rows >= cut).any()],
            malformed,
        )

    def take(self, keep_runs: np.ndarray, end: int) -> tuple:
        """The runs [0, len(keep_runs)) (rows [0, end)) without those not kept: (cols,
        track_codes, track_dict, run_starts, run_ids, lines)."""
        starts, ids = self.run_starts[: len(keep_runs)], self.run_ids[: len(keep_runs)]
        if keep_runs.all():
            return (
                {c: v[:end] for c, v in self.cols.items()},
                self.track_codes[:end],
                self.track_dict,
                starts,
                ids,
                self.lines[:end],
            )
        lens = np.diff(np.append(starts, end))
        keep = np.repeat(keep_runs, lens)  # [end]
        kept_lens = lens[keep_runs]
        return (
            {c: v[:end][keep] for c, v in self.cols.items()},
            self.track_codes[:end][keep],
            self.track_dict,
            (np.cumsum(kept_lens) - kept_lens).astype(np.int64),
            ids[keep_runs],
            self.lines[:end][keep],
        )
