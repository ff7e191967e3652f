"""Read MSSD session logs: validated, streamed in `LogBlock`s of whole sessions.

Blocks of a file are parsed and decoded on worker threads (`decode.py`); here, in file order,
the last, possibly incomplete session of a block waits for the next block, the complete ones
are checked for the session structure (`structure.py`), and every violation either raises
`MSSDFormatError` (``on_error="raise"``) or drops its session and counts it in the
`ReadReport` (``on_error="drop"``). Session ids must be unique within a file (a check across
files would need memory that grows with the dataset).
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from negrec_lib.data import schema
from negrec_lib.data.csv_parse import n_threads, pipelined
from negrec_lib.errors import ConfigError

from .dates import DATE_FORMATS
from .decode import VALUE_DTYPES, decode_log, log_spec
from .files import find_log_files, open_csv, raise_first
from .report import PARTIAL, ReadReport
from .runs import RowBatch
from .structure import assign_drops, structure_errors

PARTIAL_SESSIONS = ("error", "drop", "keep")


@dataclass
class LogBlock:
    """Whole sessions from one file, rows in file order, values decoded to numpy.

    `columns` has the keys of VALUE_DTYPES: session_position, session_length int16; booleans
    and 0/1 flags bool; hist_user_behavior_n_seekfwd/_n_seekback int32; hour_of_day int8; date
    int32 days since 1970-01-01 (per row, as in the file: see `session_dates`); context_type,
    hist_user_behavior_reason_start/_end int8 codes (index in the schema's tuples).
    `track_dict` may also hold a few ids that only rows of the next block use.
    """

    path: Path
    columns: dict[str, np.ndarray]  # each [n_rows]
    track_codes: np.ndarray  # int32 [n_rows] index into track_dict
    track_dict: pa.Array  # string [n_tracks] distinct track_id_clean values
    session_starts: np.ndarray  # int64 [n_sessions] first row of each session
    session_ids: np.ndarray  # object [n_sessions]
    lines: np.ndarray  # int64 [n_rows] 1-based line in the (decompressed) file

    @functools.cached_property
    def track_names(self) -> np.ndarray:
        """object [n_tracks] `track_dict` as Python strings (made on first use: preparation
        works on `track_dict` and never needs them)."""
        return self.track_dict.to_numpy(zero_copy_only=False)

    @property
    def n_rows(self) -> int:
        """Rows (track plays) in the block."""
        return len(self.track_codes)

    @property
    def n_sessions(self) -> int:
        """Sessions in the block."""
        return len(self.session_starts)

    @property
    def session_lengths(self) -> np.ndarray:
        """int64 [n_sessions] rows of each session."""
        return np.diff(np.append(self.session_starts, self.n_rows))

    @property
    def session_dates(self) -> np.ndarray:
        """int32 [n_sessions] date of each session's first row (sessions may cross midnight)."""
        return self.columns["date"][self.session_starts]

    def to_frame(self) -> pd.DataFrame:
        """The block as a DataFrame with the file's columns and natural dtypes."""
        return _frame([self])


@dataclass(frozen=True)
class _Options:
    """The keywords of `iter_log_blocks` that every file's reader follows."""

    on_error: str
    block_size: int
    date_format: str
    partial_sessions: str
    on_file_read: Callable[[Path], None] | None


class _FileReader:
    """Reads one log file: blocks decoded on the pool, settled here in file order."""

    def __init__(
        self, path: Path, pool: ThreadPoolExecutor, opts: _Options, report: ReadReport, budget: list
    ) -> None:
        self.path, self.pool, self.opts, self.report, self.budget = path, pool, opts, report, budget
        self.seen: dict[str, int] = {}  # session id -> line of its first row
        self.started = False  # a session of the file has been settled

    def blocks(self) -> Iterator[LogBlock]:
        """Yield the file's blocks; warn once at the end if sessions were dropped."""
        before = Counter(self.report.sessions_dropped)
        self.report.files.append(str(self.path))
        csvf, names = open_csv(self.path, self.opts.block_size, schema.LOG_COLUMNS)
        try:
            tail = RowBatch.empty(VALUE_DTYPES)
            hook = self.opts.on_file_read
            on_read = None if hook is None else (lambda: hook(self.path))
            for chunk, first_line, final in pipelined(
                csvf,
                self.pool,
                decode_log,
                log_spec(names),
                self.opts.date_format,
                on_exhausted=on_read,
            ):
                chunk.place(first_line)
                block, tail = self._settle(RowBatch.concat(tail, chunk), final)
                if block.n_rows:
                    yield block
                if self.budget[0] <= 0:
                    break
        finally:
            csvf.close()
        dropped = self.report.sessions_dropped - before
        if dropped:
            detail = ", ".join(f"{k}: {v}" for k, v in dropped.most_common())
            warnings.warn(
                f"{self.path}: dropped {sum(dropped.values())} session(s) that break "
                f"the MSSD format ({detail}); see the ReadReport for examples",
                stacklevel=3,
            )

    def _settle(self, rows: RowBatch, final: bool) -> tuple[LogBlock, RowBatch]:
        """Validate the complete sessions of `rows`; return them as a block, and the rest."""
        n_runs = len(rows.run_starts)
        m = n_runs if final else max(n_runs - 1, 0)  # runs complete by now
        cut = int(rows.run_starts[m]) if m < n_runs else rows.n
        limit = np.inf if final else (float(rows.lines[cut]) if cut < rows.n else -np.inf)
        errs = [e.select(e.rows < cut) for e in rows.errors]
        eof_line = 0  # the file's last line, once known
        if final:
            eof_line = max(
                [int(x) for x in rows.lines[-1:]] + [x.line for x in rows.malformed], default=0
            )
        structure, partial = structure_errors(
            rows, m, cut, self.seen, eof_line, file_start=not self.started
        )
        self.started = self.started or m > 0
        if self.opts.partial_sessions == "error":  # a cut session is a violation like any other
            structure += partial
        errs = [e for e in errs + structure if len(e.rows)]
        if self.opts.on_error == "raise":
            before = [(x.line, x.message) for x in rows.malformed if x.line < limit]
            raise_first(errs, before, rows.lines, self.path)
            keep, drops = np.ones(m, bool), []
            carry = [x for x in rows.malformed if x.line >= limit]
        else:
            keep, drops, carry = assign_drops(rows, m, cut, errs, limit)
        if self.opts.partial_sessions == "drop":
            for e in partial:
                r = int(e.runs[0])
                if keep[r]:
                    keep[r] = False
                    drops.append((r, PARTIAL, int(e.where(rows.lines)[0])))
        m_eff = self._budgeted(keep)
        end = int(rows.run_starts[m_eff]) if m_eff < n_runs else rows.n
        for run, reason, line in drops:
            if run is None or run < m_eff:
                self.report.count_drop(reason, self.path, line)
        block = LogBlock(self.path, *rows.take(keep[:m_eff], end))
        self.report.rows_read += end + len(rows.malformed) - len(carry)
        self.report.rows_kept += block.n_rows
        self.report.sessions_kept += block.n_sessions
        self.budget[0] -= block.n_sessions
        return block, rows.slice_from(cut, carry)

    def _budgeted(self, keep: np.ndarray) -> int:
        """How many runs to settle so that no more sessions are kept than the budget allows."""
        kept = np.flatnonzero(keep)
        if len(kept) <= self.budget[0]:
            return len(keep)
        return int(kept[int(self.budget[0]) - 1]) + 1 if self.budget[0] > 0 else 0


def iter_log_blocks(
    path: str | Path,
    *,
    on_error: str = "raise",
    report: ReadReport | None = None,
    block_size: int = 16 << 20,
    max_sessions: int | None = None,
    on_file_read: Callable[[Path], None] | None = None,
    date_format: str = "auto",
    partial_sessions: str = "error",
) -> Iterator[LogBlock]:
    """Stream validated `LogBlock`s of whole sessions from a log file or folder.

    Parameters
    ----------
    path : a log file, a folder of `log_*.csv[.gz]` files, or the dataset root
    on_error : "raise" stops at the first violation; "drop" drops each session that has one,
        counts it in `report` and warns once per file
    report : a ReadReport to fill (files, rows, sessions kept and dropped by reason)
    block_size : bytes per block; memory stays a few blocks whatever the file size
    max_sessions : stop after this many kept sessions
    on_file_read : called with a file's path as soon as its last block has been read (its
        blocks may still be parsing): the moment to start other work on the file, such as a
        checksum, that would otherwise compete with the parsing for the cores
    date_format : "auto" (every spelling of DATE_FORMATS; a two-digit date is read the way
        that falls in MSSD's range, and refused when the range does not decide) or one of
        "yyyy-mm-dd", "dd/mm/yyyy", "dd-mm-yy", "yy-mm-dd"
    partial_sessions : a session the file starts or ends inside (a sample cut mid-session):
        "error" (a violation, as under `on_error`), "drop" (drop and count it as
        ``partial_session``) or "keep" (keep the rows the file has)
    """
    if on_error not in ("raise", "drop"):
        raise ConfigError(f"on_error must be 'raise' or 'drop', got {on_error!r}")
    if date_format not in DATE_FORMATS:
        raise ConfigError(f"date_format must be one of {list(DATE_FORMATS)}, got {date_format!r}")
    if partial_sessions not in PARTIAL_SESSIONS:
        raise ConfigError(
            f"partial_sessions must be one of {list(PARTIAL_SESSIONS)}, got {partial_sessions!r}"
        )
    files = find_log_files(path)
    report = report if report is not None else ReadReport()
    budget = [np.inf if max_sessions is None else int(max_sessions)]
    opts = _Options(on_error, block_size, date_format, partial_sessions, on_file_read)
    pool = ThreadPoolExecutor(n_threads(), thread_name_prefix="mssd")
    try:
        for f in files:
            if budget[0] <= 0:
                break
            yield from _FileReader(f, pool, opts, report, budget).blocks()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_log(path: str | Path, **kw) -> pd.DataFrame:
    """All sessions of a log file or folder as one DataFrame (file columns, natural dtypes;
    keywords as for `iter_log_blocks`)."""
    return _frame(list(iter_log_blocks(path, **kw)))


def _frame(blocks: list[LogBlock]) -> pd.DataFrame:
    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.empty(0, dtype)

    data: dict[str, object] = {}
    for c in schema.LOG_COLUMNS:
        if c == "session_id":
            data[c] = cat([np.repeat(b.session_ids, b.session_lengths) for b in blocks], object)
        elif c == "track_id_clean":
            data[c] = cat(
                [np.asarray(b.track_names, object)[b.track_codes] for b in blocks], object
            )
        elif c == "date":
            days = cat([b.columns[c] for b in blocks], np.int32)
            data[c] = days.astype("datetime64[D]").astype("datetime64[ns]")
        elif c in schema.LOG_CATEGORICAL_COLUMNS:
            data[c] = pd.Categorical.from_codes(
                cat([b.columns[c] for b in blocks], np.int8),
                categories=list(schema.LOG_CATEGORICAL_COLUMNS[c]),
            )
        else:
            data[c] = cat([b.columns[c] for b in blocks], VALUE_DTYPES[c])
    return pd.DataFrame(data)
