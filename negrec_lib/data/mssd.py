"""Read MSSD session logs and track features: validated, streamed in blocks of whole sessions.

The layout is book/paper.md section 6; column names and value sets come from `schema.py`. A log is a
file (`.csv` or `.csv.gz`) or a folder of `log_*.csv[.gz]` files (or the dataset root, with a
`training_set/` folder). Every violation of the format raises `MSSDFormatError` naming the file,
the 1-based line of the decompressed file (the header is line 1) and the column; with
`on_error="drop"` every session that contains a violation is dropped instead and counted, by
reason, in a `ReadReport`.

How it stays fast: `_csv.py` parses blocks of the file on worker threads; booleans and
integers convert natively, text columns are dictionary-encoded so that checking and decoding
them touches only their few distinct values, and the session structure is checked with
vectorised numpy. A value that does not convert sends its block through a text-only parse that
finds the exact rows. The last, possibly incomplete session of a block waits for the next
block, so every `LogBlock` holds whole sessions. Session ids must be unique within a file (a
check across files would need memory that grows with the dataset).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from negrec_lib.data import schema
from negrec_lib.data._csv import (PRIO_MALFORMED, CSVFile, RowBatch, RowErrors, check_header,
                                  decode_categorical, decode_float, decode_int, decode_map,
                                  encode, malformed_lines, n_threads, parse_block, pipelined,
                                  raise_first, row_errors, value_errors)
from negrec_lib.errors import ConfigError, MSSDFormatError

__all__ = ["MSSDFormatError", "ReadReport", "LogBlock", "iter_log_blocks", "read_log",
           "read_track_features", "find_log_files", "find_tf_files", "VALUE_COLUMNS"]

MAX_EXAMPLES = 5
_BOOLS = schema.LOG_BOOL_COLUMNS + schema.LOG_FLAG_COLUMNS
_INT_DTYPES = {"session_position": np.int16, "session_length": np.int16,
               "hist_user_behavior_n_seekfwd": np.int32, "hist_user_behavior_n_seekback": np.int32,
               "hour_of_day": np.int8}
# LogBlock.columns: every log column but the two ids, with its dtype
VALUE_DTYPES: dict[str, type] = {c: (np.bool_ if c in _BOOLS else _INT_DTYPES.get(c, np.int8))
                                 for c in schema.LOG_COLUMNS
                                 if c not in ("session_id", "track_id_clean")}
VALUE_DTYPES["date"] = np.int32
VALUE_COLUMNS: tuple[str, ...] = tuple(VALUE_DTYPES)

# Parse types: booleans and integers convert natively (if a value does not, the block is parsed
# again as text to find the exact rows); everything else is text, dictionary-encoded after.
_FAST_TYPES = {c: pa.bool_() for c in _BOOLS} | {
    c: pa.from_numpy_dtype(np.dtype(d)) for c, d in _INT_DTYPES.items()} | {
    c: pa.string() for c in ("session_id", "track_id_clean", "date",
                             *schema.LOG_CATEGORICAL_COLUMNS)}

# Drop reasons (keys of ReadReport.sessions_dropped); bad values are "bad_value:<column>".
MALFORMED, BLANK = "malformed_row", "blank_line"
POSITION, OVER, LENGTH = "position_out_of_order", "position_exceeds_length", "length_changes"
SHORT, REAPPEARS, SKIPS = "session_ends_early", "session_not_contiguous", "skips_not_cumulative"
PARTIAL = "partial_session"     # the file starts or ends inside a session
PARTIAL_SESSIONS = ("error", "drop", "keep")
# Which message wins when several violations sit on one line (lower first).
_PRIO_BLANK, _PRIO_VALUE = 1, 10  # + column index (0 is a malformed line)
_PRIO_SHORT, _PRIO_REAPPEARS, _PRIO_POSITION, _PRIO_LENGTH = 50, 51, 52, 53
_PRIO_OVER, _PRIO_SKIPS, _PRIO_SHORT_EOF = 54, 55, 60

_TRUE = dict.fromkeys(schema.TRUE_SPELLINGS, True) | dict.fromkeys(schema.FALSE_SPELLINGS, False)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                       r"(?:Z|[+-]\d{2}:?\d{2})?)?\Z")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\Z")
_TWO_DIGIT_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{2})\Z")
_EPOCH = dt.date(1970, 1, 1)


# ---------------------------------------------------------------------------------------------
# Finding files
# ---------------------------------------------------------------------------------------------
def _find(path: str | Path, prefix: str, subfolder: str, what: str) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise MSSDFormatError("no such file or folder", path)
    for folder in (path, path / subfolder):
        files = sorted(p for p in folder.glob(f"{prefix}*") if p.is_file()
                       and (p.name.endswith(".csv") or p.name.endswith(".csv.gz")))
        if files:
            return files
    raise MSSDFormatError(f"no {what} files ({prefix}*.csv or {prefix}*.csv.gz) in this folder "
                          f"or in its '{subfolder}/' subfolder", path)


def find_log_files(path: str | Path) -> list[Path]:
    """The log files at `path`: the file itself, or the sorted `log_*.csv[.gz]` of a folder
    (or of its `training_set/`)."""
    return _find(path, "log_", "training_set", "session-log")


def find_tf_files(path: str | Path) -> list[Path]:
    """The track-feature files at `path`: the file itself, or the sorted `tf_*.csv[.gz]` of a
    folder (or of its `track_features/`)."""
    return _find(path, "tf_", "track_features", "track-feature")


# ---------------------------------------------------------------------------------------------
# Report and blocks
# ---------------------------------------------------------------------------------------------
@dataclass
class ReadReport:
    """What a read saw and kept, and what it dropped (with `on_error="drop"`) by reason.

    For track features the session counters count tracks (rows).
    """

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    sessions_kept: int = 0
    sessions_dropped: Counter = field(default_factory=Counter)    # reason -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["file:line", ...]

    def _drop(self, reason: str, path: Path, line: int) -> None:
        self.sessions_dropped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(f"{path}:{line}")

    def summary(self) -> str:
        """A human-readable, multi-line account of the read."""
        n_drop = sum(self.sessions_dropped.values())
        out = [f"files read: {len(self.files)}",
               f"rows read: {self.rows_read:,}, kept: {self.rows_kept:,}",
               f"sessions kept: {self.sessions_kept:,}, dropped: {n_drop:,}"]
        for reason, count in self.sessions_dropped.most_common():
            out.append(f"  {reason}: {count:,} (e.g. {', '.join(self.examples.get(reason, []))})")
        return "\n".join(out)

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return {"files": list(self.files), "rows_read": int(self.rows_read),
                "rows_kept": int(self.rows_kept), "sessions_kept": int(self.sessions_kept),
                "sessions_dropped": {k: int(v) for k, v in self.sessions_dropped.items()},
                "examples": {k: list(v) for k, v in self.examples.items()}}


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
    track_codes: np.ndarray         # int32 [n_rows] index into track_dict
    track_dict: pa.Array            # string [n_tracks] distinct track_id_clean values
    session_starts: np.ndarray      # int64 [n_sessions] first row of each session
    session_ids: np.ndarray         # object [n_sessions]
    lines: np.ndarray               # int64 [n_rows] 1-based line in the (decompressed) file

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


# ---------------------------------------------------------------------------------------------
# Decoding one parsed block (runs on a worker thread)
# ---------------------------------------------------------------------------------------------
DATE_FORMATS = ("auto", "yyyy-mm-dd", "dd/mm/yyyy", "dd-mm-yy", "yy-mm-dd")
MSSD_FIRST_DAY, MSSD_LAST_DAY = dt.date(2018, 7, 15), dt.date(2018, 9, 18)


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _parse_date(text: str, fmt: str = "auto") -> int | tuple[str, str] | None:
    """Days since 1970-01-01 of one `date` value; None when it is not a date in `fmt`; for
    `dd-mm-yy` vs `yy-mm-dd` under "auto", the pair of readings when MSSD's date range does
    not decide between them.

    Spellings: `YYYY-MM-DD` (optionally with a time: `2018-07-15 00:00:00`, ISO `T...`),
    `dd/mm/yyyy`, and two digits each, `dd-mm-yy` or `yy-mm-dd` (20yy). Under "auto" a
    two-digit date is read the way that falls in MSSD's range (2018-07-15 to 2018-09-18) when
    exactly one does; one outside the range is not a date there (pass the format instead).
    """
    day: dt.date | None = None
    if m := _ISO_DATE.match(text):
        if fmt in ("auto", "yyyy-mm-dd"):
            day = _date(*map(int, m.groups()))
    elif m := _SLASH_DATE.match(text):
        if fmt in ("auto", "dd/mm/yyyy"):
            d, mo, y = map(int, m.groups())
            day = _date(y, mo, d)
    elif m := _TWO_DIGIT_DATE.match(text):
        a, b, c = map(int, m.groups())
        dmy, ymd = _date(2000 + c, b, a), _date(2000 + a, b, c)
        if fmt == "dd-mm-yy":
            day = dmy
        elif fmt == "yy-mm-dd":
            day = ymd
        elif fmt == "auto":
            readings = {x for x in (dmy, ymd) if x is not None}
            in_range = {x for x in readings if MSSD_FIRST_DAY <= x <= MSSD_LAST_DAY}
            if len(in_range) == 1:
                day = in_range.pop()
            elif len(readings) == 2:
                return (dmy.isoformat(), ymd.isoformat())
            # one valid reading outside MSSD's range (31-02-18 can only be 2031-02-18), or none:
            # not taken silently; date_format= says how to read it
    return None if day is None else (day - _EPOCH).days


def _decode_date(col: pa.ChunkedArray, prio: int, fmt: str
                 ) -> tuple[np.ndarray, list[RowErrors]]:
    """The `date` column as int32 days since 1970; errors for bad and ambiguous values."""
    idx, uniq = encode(col)
    texts = uniq.to_pylist()
    parsed = [_parse_date(t, fmt) for t in texts]
    ok = [isinstance(x, int) for x in parsed]
    lut = np.array([x if k else 0 for x, k in zip(parsed, ok)], np.int32)
    vals = lut[idx] if len(texts) else np.zeros(len(idx), np.int32)
    errs: list[RowErrors] = []
    bad_codes = [i for i, x in enumerate(parsed) if x is None]
    if bad_codes:
        bad = np.flatnonzero(np.isin(idx, bad_codes))
        spelled = ("a date YYYY-MM-DD (optionally with a time), dd/mm/yyyy, or dd-mm-yy or "
                   f"yy-mm-dd within MSSD's range ({MSSD_FIRST_DAY} to {MSSD_LAST_DAY}; "
                   "otherwise pass date_format / --date-format)" if fmt == "auto"
                   else f"a date in the format {fmt}")
        errs += value_errors(bad, np.asarray(texts, object)[idx[bad]], "date", prio, spelled)
    amb_codes = [i for i, x in enumerate(parsed) if isinstance(x, tuple)]
    if amb_codes:
        bad = np.flatnonzero(np.isin(idx, amb_codes))
        payload = [(texts[c], *parsed[c]) for c in idx[bad]]
        errs += row_errors(bad, payload, "date", "bad_value:date", prio,
                           lambda p: f"ambiguous date {p[0]!r}: read as dd-mm-yy it is {p[1]}, "
                                     f"as yy-mm-dd {p[2]}, and MSSD's range "
                                     f"({MSSD_FIRST_DAY} to {MSSD_LAST_DAY}) does not decide; "
                                     "pass date_format='dd-mm-yy' or 'yy-mm-dd' "
                                     "(--date-format)")
    return vals, errs


def _decode_bool(col: pa.ChunkedArray, column: str, prio: int
                 ) -> tuple[np.ndarray, list[RowErrors]]:
    if pa.types.is_boolean(col.type):
        return col.to_numpy(), []
    expected = ("0/1 (or true/false)" if column in schema.LOG_FLAG_COLUMNS
                else "true/false (or True/False, TRUE/FALSE, 1/0)")
    return decode_map(col, column, prio, _TRUE.get, np.bool_, expected)


def _decode_log(data: pa.Buffer, quoted: bool, names: list[str], date_format: str = "auto"
                ) -> RowBatch:
    """Parse and decode one block of log rows (worker thread)."""
    parsed = parse_block(data, quoted, names, list(schema.LOG_COLUMNS), _FAST_TYPES)
    t, n = parsed.table, parsed.table.num_rows
    cols: dict[str, np.ndarray] = {}
    errs: list[RowErrors] = []
    for i, c in enumerate(schema.LOG_COLUMNS):
        col, prio = t.column(c), _PRIO_VALUE + i
        if c in _BOOLS:
            cols[c], e = _decode_bool(col, c, prio)
        elif c in schema.LOG_INT_COLUMNS:
            cols[c], e = decode_int(col, c, prio, _INT_DTYPES[c], *schema.LOG_INT_COLUMNS[c])
        elif c == "date":
            cols[c], e = _decode_date(col, prio, date_format)
        elif c in schema.LOG_CATEGORICAL_COLUMNS:
            values = schema.LOG_CATEGORICAL_COLUMNS[c]
            cols[c], e = decode_categorical(col, c, prio, values, f"one of {', '.join(values)}")
        elif c == "track_id_clean":
            track_codes, track_dict = encode(col)
            k = pc.index(track_dict, "").as_py()
            bad = np.flatnonzero(track_codes == k) if k >= 0 else np.empty(0, np.int64)
            e = value_errors(bad, [""] * len(bad), c, prio, "a non-empty track id")
        else:  # session_id: runs of equal ids
            run_starts = np.zeros(min(n, 1), np.int64)
            if n > 1:
                change = pc.not_equal(col[1:], col[:-1]).to_numpy()
                run_starts = np.concatenate([run_starts, np.flatnonzero(change) + 1])
            run_ids = col.take(pa.array(run_starts, pa.int64())).to_numpy()
            e = _empty_ids(t, run_starts, run_ids, n, prio)
        errs += e
    s1, s2, s3 = cols["skip_1"], cols["skip_2"], cols["skip_3"]
    for bad, col_name, before in ((s1 & ~s2, "skip_2", "skip_1"), (s2 & ~s3, "skip_3", "skip_2")):
        errs += row_errors(np.flatnonzero(bad), [before] * int(bad.sum()), col_name, SKIPS,
                           _PRIO_SKIPS,
                           lambda b, c=col_name: f"skip flags must be cumulative (skip_1 => "
                                                 f"skip_2 => skip_3): {b} is true but {c} is false")
    return RowBatch(cols, track_codes, track_dict, run_starts, run_ids, parsed.row_lines, errs,
                    malformed_lines(parsed, len(names)), parsed.n_lines)


def _empty_ids(t: pa.Table, run_starts: np.ndarray, run_ids: np.ndarray, n: int, prio: int
               ) -> list[RowErrors]:
    """Rows with an empty session id: blank lines, or a missing id."""
    empty = np.flatnonzero(run_ids == "")
    if len(empty) == 0:
        return []
    ends = np.append(run_starts[1:], n)
    rows = np.concatenate([np.arange(run_starts[r], ends[r]) for r in empty])
    texts = [t.column(c).take(pa.array(rows)).to_pylist() for c in schema.LOG_COLUMNS]
    blank = np.array([all(col[k] == "" for col in texts) for k in range(len(rows))])
    return (row_errors(rows[blank], np.full(int(blank.sum()), "", object), None, BLANK,
                       _PRIO_BLANK, lambda v: "blank line (empty lines between rows are not "
                                              "allowed; remove it)")
            + value_errors(rows[~blank], np.full(int((~blank).sum()), "", object), "session_id",
                           prio, "a non-empty session id"))


# ---------------------------------------------------------------------------------------------
# Session structure (main thread, vectorised)
# ---------------------------------------------------------------------------------------------
def _structure_errors(rows: RowBatch, m: int, cut: int, seen: dict[str, int], eof_line: int,
                      file_start: bool = False) -> tuple[list[RowErrors], list[RowErrors]]:
    """Violations of the session structure in runs [0, m), i.e. rows [0, cut); `eof_line`: the
    file's last line if these are its last rows, else 0; `file_start`: run 0 is the file's
    first session. Returns (violations, partial sessions): a session the file starts inside
    (its first row's position is above 1) or ends inside (fewer rows than its length) is a
    partial session, not a violation; the caller decides what to do with it."""
    if m == 0:
        return [], []
    starts = rows.run_starts[:m]
    lens = np.diff(np.append(starts, cut))                # [m]
    ids, lines = rows.run_ids, rows.lines
    pos = rows.cols["session_position"][:cut]             # [cut] int16
    length = rows.cols["session_length"][:cut]            # [cut] int16
    length0 = length[starts]                              # [m] length on each first row
    expect = length0.astype(np.int64)                     # [m] rows each session should have
    # a session's positions run 1, 2, ...: each row one more than the row before
    bad_pos = np.empty(cut, bool)
    bad_pos[1:] = pos[1:] != pos[:-1].astype(np.int32) + 1
    bad_pos[starts] = pos[starts] != 1
    partial: list[RowErrors] = []
    first = int(starts[0])
    if file_start and ids[0] != "" and 1 < pos[first] <= length[first]:
        bad_pos[first] = False                            # the file starts inside a session
        expect[0] -= int(pos[first]) - 1
        partial.append(RowErrors(
            np.array([first]), np.array([(ids[0], int(pos[first]), int(length[first]))], object),
            "session_position", PARTIAL, _PRIO_SHORT_EOF,
            lambda p: f"the file starts inside session '{p[0]}': its first row here has "
                      f"session_position {p[1]} of {p[2]} (rows 1 to {p[1] - 1} are not in "
                      "the file; a sample cut mid-session?); pass partial_sessions='drop' or "
                      "'keep' (--partial-sessions drop|keep) to accept cut sessions",
            np.array([0])))
    bad_len = np.empty(cut, bool)
    bad_len[1:] = length[1:] != length[:-1]
    bad_len[starts] = False
    errs: list[RowErrors] = []
    if bad_pos.any():
        bad = np.flatnonzero(bad_pos)
        run = _run_of(rows, bad)
        errs += row_errors(bad, [(ids[r], 1 if i == rows.run_starts[r] else int(pos[i - 1]) + 1,
                                  int(pos[i - 1]), int(pos[i])) for i, r in zip(bad, run)],
                           "session_position", POSITION, _PRIO_POSITION, _describe_position)
    if bad_len.any():
        bad = np.flatnonzero(bad_len)
        run = _run_of(rows, bad)
        payload = [(ids[r], int(length[i]), int(length0[r]), int(lines[starts[r]]))
                   for i, r in zip(bad, run)]
        errs += row_errors(bad, payload, "session_length", LENGTH, _PRIO_LENGTH,
                           lambda p: f"session_length {p[1]} differs from {p[2]} on the first "
                                     f"row of session '{p[0]}' (line {p[3]}); it must be "
                                     "constant within a session")
    over = pos > length
    if over.any():
        bad = np.flatnonzero(over)
        errs += row_errors(bad, [(ids[r], int(pos[i]), int(length[i]))
                                 for i, r in zip(bad, _run_of(rows, bad))],
                           "session_position", OVER, _PRIO_OVER,
                           lambda p: f"session_position {p[1]} exceeds session_length {p[2]} "
                                     f"in session '{p[0]}'")
    for r in np.flatnonzero(lens < expect):   # shown where the next session begins, or at EOF
        nxt = r + 1 < len(rows.run_starts)
        at = int(rows.run_starts[r + 1]) if nxt else cut - 1
        payload = (ids[r], int(lens[r]) + int(length0[r] - expect[r]), int(length0[r]),
                   ids[r + 1] if nxt else None)
        e = RowErrors(np.array([at]), np.array([payload], object),
                      "session_id" if nxt else "session_length", SHORT if nxt else PARTIAL,
                      _PRIO_SHORT if nxt else _PRIO_SHORT_EOF, _describe_short,
                      np.array([r]), None if nxt else np.array([eof_line]))
        (errs if nxt else partial).append(e)
    return errs + _reappearing(ids[:m], starts, lines, seen), partial


def _run_of(rows: RowBatch, row_idx: np.ndarray) -> np.ndarray:
    """The run (session) of each given row."""
    return np.searchsorted(rows.run_starts, row_idx, side="right") - 1


def _describe_position(p: tuple) -> str:
    sid, exp, prev, got = p
    if exp == 1:
        return f"expected session_position 1 at the start of session '{sid}', got {got}"
    return (f"expected session_position {exp} after {prev} in session '{sid}', got {got} "
            "(rows of a session must be consecutive and ordered by position)")


def _describe_short(p: tuple) -> str:
    sid, k, length, nxt = p
    if nxt is None:
        return (f"the file ends after {k} of the {length} rows of session '{sid}' (its "
                "session_length); a sample cut mid-session? pass partial_sessions='drop' or "
                "'keep' (--partial-sessions drop|keep) to accept cut sessions")
    return (f"session '{sid}' ends after {k} of its {length} rows: expected its "
            f"session_position {k + 1} here, got a row of session '{nxt}' (rows of a session "
            "must be consecutive and ordered by position)")


def _reappearing(ids: np.ndarray, starts: np.ndarray, lines: np.ndarray, seen: dict[str, int]
                 ) -> list[RowErrors]:
    """Runs whose session id already appeared earlier in the file; updates `seen`."""
    id_list, first_lines = ids.tolist(), lines[starts].tolist()
    unique = set(id_list)
    unique.discard("")
    if len(unique) == len(id_list) and seen.keys().isdisjoint(unique):
        seen.update(zip(id_list, first_lines))
        return []
    bad, payload = [], []
    for r, (sid, line) in enumerate(zip(id_list, first_lines)):
        if sid in seen and sid != "":
            bad.append(starts[r])
            payload.append((sid, seen[sid]))
        else:
            seen[sid] = line
    return row_errors(np.array(bad, np.int64), payload, "session_id", REAPPEARS, _PRIO_REAPPEARS,
                      lambda p: f"session '{p[0]}' appears again after other sessions (its "
                                f"first row is on line {p[1]}); rows of a session must be "
                                "contiguous")


def _assign_drops(rows: RowBatch, m: int, cut: int, errs: list[RowErrors], limit: float
                  ) -> tuple[np.ndarray, list[tuple[int | None, str, int]], list]:
    """Runs to keep [m], drops (run or None, reason, line), malformed lines to carry on.

    A session is charged its earliest violation; a malformed line is charged to the session it
    interrupts (the previous row's, if unfinished, else the next row's if that is not a first
    row), else it counts as a session of its own.
    """
    runs, lines, prios, reasons = [], [], [], []
    for e in errs:
        runs.append(_run_of(rows, e.rows) if e.runs is None else e.runs)
        lines.append(e.where(rows.lines))
        prios.append(np.full(len(e.rows), e.prio))
        reasons += [e.reason] * len(e.rows)
    carry, standalone = [], []
    pos, length = rows.cols["session_position"], rows.cols["session_length"]
    for line, msg in rows.malformed:  # charged to the session it interrupts
        r = int(np.searchsorted(rows.lines, line)) - 1
        if line >= limit:
            carry.append((line, msg))
            continue
        if r >= 0 and pos[r] < length[r]:
            run = _run_of(rows, r)
        elif r + 1 < rows.n and pos[r + 1] != 1:
            if r + 1 >= cut:  # that session is not complete yet: decide with it
                carry.append((line, msg))
                continue
            run = _run_of(rows, r + 1)
        else:
            standalone.append((None, MALFORMED, line))
            continue
        runs.append(np.array([run]))
        lines.append(np.array([line]))
        prios.append(np.array([PRIO_MALFORMED]))
        reasons.append(MALFORMED)
    keep = np.ones(m, bool)
    drops: list[tuple[int | None, str, int]] = []
    if runs:
        runs_a, lines_a, prios_a = map(np.concatenate, (runs, lines, prios))
        order = np.lexsort((prios_a, lines_a))
        first_runs, k = np.unique(runs_a[order], return_index=True)
        keep[first_runs] = False
        drops = [(int(r), reasons[order[i]], int(lines_a[order[i]]))
                 for r, i in zip(first_runs, k)]
    return keep, drops + standalone, carry


# ---------------------------------------------------------------------------------------------
# Reading logs
# ---------------------------------------------------------------------------------------------
class _FileReader:
    """Reads one log file: blocks decoded on the pool, settled here in file order."""

    def __init__(self, path: Path, pool: ThreadPoolExecutor, on_error: str, report: ReadReport,
                 block_size: int, budget: list,
                 on_read: Callable[[Path], None] | None = None, date_format: str = "auto",
                 partial_sessions: str = "error") -> None:
        self.path, self.pool, self.on_error, self.report = path, pool, on_error, report
        self.block_size, self.budget, self.on_read = block_size, budget, on_read
        self.date_format, self.partial = date_format, partial_sessions
        self.seen: dict[str, int] = {}  # session id -> line of its first row
        self.started = False            # a session of the file has been settled

    def blocks(self) -> Iterator[LogBlock]:
        """Yield the file's blocks; warn once at the end if sessions were dropped."""
        before = Counter(self.report.sessions_dropped)
        self.report.files.append(str(self.path))
        csvf = CSVFile(self.path, self.block_size)
        try:
            names = check_header(csvf.names, self.path, schema.LOG_COLUMNS)
            tail = RowBatch.empty(VALUE_DTYPES)
            on_read = None if self.on_read is None else (lambda: self.on_read(self.path))
            for chunk, first_line, final in pipelined(csvf, self.pool, _decode_log, names,
                                                      self.date_format, on_exhausted=on_read):
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
            warnings.warn(f"{self.path}: dropped {sum(dropped.values())} session(s) that break "
                          f"the MSSD format ({detail}); see the ReadReport for examples",
                          stacklevel=3)

    def _settle(self, rows: RowBatch, final: bool) -> tuple[LogBlock, RowBatch]:
        """Validate the complete sessions of `rows`; return them as a block, and the rest."""
        n_runs = len(rows.run_starts)
        m = n_runs if final else max(n_runs - 1, 0)  # runs complete by now
        cut = int(rows.run_starts[m]) if m < n_runs else rows.n
        limit = np.inf if final else (float(rows.lines[cut]) if cut < rows.n else -np.inf)
        errs = [e.select(e.rows < cut) for e in rows.errors]
        eof_line = 0  # the file's last line, once known
        if final:
            eof_line = max([int(x) for x in rows.lines[-1:]] + [x[0] for x in rows.malformed],
                           default=0)
        structure, partial = _structure_errors(rows, m, cut, self.seen, eof_line,
                                               file_start=not self.started)
        self.started = self.started or m > 0
        if self.partial == "error":      # a cut session is a violation like any other
            structure += partial
        errs = [e for e in errs + structure if len(e.rows)]
        if self.on_error == "raise":
            raise_first(errs, [x for x in rows.malformed if x[0] < limit], rows.lines,
                        self.path)
            keep, drops, carry = np.ones(m, bool), [], [x for x in rows.malformed
                                                       if x[0] >= limit]
        else:
            keep, drops, carry = _assign_drops(rows, m, cut, errs, limit)
        if self.partial == "drop":
            for e in partial:
                r = int(e.runs[0])
                if keep[r]:
                    keep[r] = False
                    drops.append((r, PARTIAL, int(e.where(rows.lines)[0])))
        m_eff = self._budgeted(keep)
        end = int(rows.run_starts[m_eff]) if m_eff < n_runs else rows.n
        for run, reason, line in drops:
            if run is None or run < m_eff:
                self.report._drop(reason, self.path, line)
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


def iter_log_blocks(path: str | Path, *, on_error: str = "raise", report: ReadReport | None = None,
                    block_size: int = 16 << 20, max_sessions: int | None = None,
                    on_file_read: Callable[[Path], None] | None = None,
                    date_format: str = "auto", partial_sessions: str = "error"
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
        raise ConfigError(f"partial_sessions must be one of {list(PARTIAL_SESSIONS)}, got "
                          f"{partial_sessions!r}")
    files = find_log_files(path)
    report = report if report is not None else ReadReport()
    budget = [np.inf if max_sessions is None else int(max_sessions)]
    pool = ThreadPoolExecutor(n_threads(), thread_name_prefix="mssd")
    try:
        for f in files:
            if budget[0] <= 0:
                break
            yield from _FileReader(f, pool, on_error, report, block_size, budget,
                                   on_file_read, date_format, partial_sessions).blocks()
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
            data[c] = cat([np.asarray(b.track_names, object)[b.track_codes] for b in blocks],
                          object)
        elif c == "date":
            days = cat([b.columns[c] for b in blocks], np.int32)
            data[c] = days.astype("datetime64[D]").astype("datetime64[ns]")
        elif c in schema.LOG_CATEGORICAL_COLUMNS:
            data[c] = pd.Categorical.from_codes(cat([b.columns[c] for b in blocks], np.int8),
                                                categories=list(schema.LOG_CATEGORICAL_COLUMNS[c]))
        else:
            data[c] = cat([b.columns[c] for b in blocks], VALUE_DTYPES[c])
    return pd.DataFrame(data)


# ---------------------------------------------------------------------------------------------
# Track features
# ---------------------------------------------------------------------------------------------
_TF_INTS = {"key": (np.int8, 0, 11), "time_signature": (np.int8, 0, None),
            "release_year": (np.int16, 0, None)}
_TF_FAST = {c: pa.float64() for c in schema.TF_NUMERIC_COLUMNS} | {
    c: pa.from_numpy_dtype(np.dtype(d)) for c, (d, _, _) in _TF_INTS.items()} | {
    "track_id": pa.string(), "mode": pa.string()}


@dataclass
class _TfRows:
    cols: dict[str, np.ndarray]
    lines: np.ndarray
    errors: list[RowErrors]
    malformed: list[tuple[int, str]]
    n_lines: int


def _decode_tf(data: pa.Buffer, quoted: bool, names: list[str]) -> _TfRows:
    """Parse and decode one block of track features (worker thread)."""
    parsed = parse_block(data, quoted, names, list(schema.TF_COLUMNS), _TF_FAST)
    cols, errs = {}, []
    for i, c in enumerate(schema.TF_COLUMNS):
        arr, prio = parsed.table.column(c), _PRIO_VALUE + i
        if c == "track_id":
            cols[c] = arr.to_numpy()
            bad = np.flatnonzero(cols[c] == "")
            e = value_errors(bad, cols[c][bad].tolist(), c, prio, "a non-empty track id")
        elif c == "mode":
            modes = {v: k for k, v in enumerate(schema.TF_MODES)}
            cols[c], e = decode_map(arr, c, prio, modes.get, np.int8, "major or minor")
        elif c in _TF_INTS:
            dtype, lo, hi = _TF_INTS[c]
            cols[c], e = decode_int(arr, c, prio, dtype, lo, hi)
        else:
            cols[c], e = decode_float(arr, c, prio)
        errs += e
    return _TfRows(cols, parsed.row_lines, errs, malformed_lines(parsed, len(names)),
                   parsed.n_lines)


def _read_tf_file(path: Path, pool: ThreadPoolExecutor, on_error: str, report: ReadReport,
                  block_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns and row lines of one validated tf file."""
    csvf = CSVFile(path, block_size)
    parts, line_parts = [], []
    try:
        names = check_header(csvf.names, path, schema.TF_COLUMNS)
        for chunk, first_line, _ in pipelined(csvf, pool, _decode_tf, names):
            lines = chunk.lines + first_line
            malformed = [(first_line + i, msg) for i, msg in chunk.malformed]
            report.rows_read += len(lines) + len(malformed)
            if on_error == "raise":
                raise_first(chunk.errors, malformed, lines, path)
                keep = np.ones(len(lines), bool)
            else:
                keep = np.ones(len(lines), bool)
                first: dict[int, tuple[int, str]] = {}
                for e in sorted(chunk.errors, key=lambda e: e.prio):
                    for r in e.rows.tolist():
                        first.setdefault(r, (e.prio, e.reason))
                for r, (_, reason) in sorted(first.items()):
                    keep[r] = False
                    report._drop(reason, path, int(lines[r]))
                for line, _ in malformed:
                    report._drop(MALFORMED, path, line)
            parts.append({c: v[keep] for c, v in chunk.cols.items()})
            line_parts.append(lines[keep])
    finally:
        csvf.close()
    cols = {c: np.concatenate([p[c] for p in parts]) for c in schema.TF_COLUMNS}
    return cols, np.concatenate(line_parts)


def read_track_features(path: str | Path, *, on_error: str = "raise",
                        report: ReadReport | None = None, block_size: int = 16 << 20
                        ) -> pd.DataFrame:
    """Validated track features of a tf file or folder: track_id str, features float32, key and
    time_signature int8, release_year int16, mode categorical (major/minor)."""
    if on_error not in ("raise", "drop"):
        raise ConfigError(f"on_error must be 'raise' or 'drop', got {on_error!r}")
    report = report if report is not None else ReadReport()
    parts, where = [], []
    with ThreadPoolExecutor(n_threads(), thread_name_prefix="mssd-tf") as pool:
        for i, f in enumerate(find_tf_files(path)):
            report.files.append(str(f))
            before = Counter(report.sessions_dropped)
            cols, lines = _read_tf_file(f, pool, on_error, report, block_size)
            parts.append(cols)
            where.append((np.full(len(lines), i, np.int32), lines, f))
            _warn_dropped(f, report.sessions_dropped - before)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in schema.TF_COLUMNS}
    file_idx = np.concatenate([w[0] for w in where])
    lines = np.concatenate([w[1] for w in where])
    files = [w[2] for w in where]
    ids = pd.Series(cols["track_id"], dtype=object)
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        first_row = dict(zip(ids[~dup].tolist(), np.flatnonzero(~dup).tolist()))
        later = np.flatnonzero(dup)
        if on_error == "raise":
            i = int(later[0])
            j = first_row[ids.iat[i]]
            raise MSSDFormatError(f"duplicate track_id {ids.iat[i]!r}: already on line "
                                  f"{lines[j]} of {files[file_idx[j]]}", files[file_idx[i]],
                                  int(lines[i]), "track_id")
        before = Counter(report.sessions_dropped)
        for i in later:
            report._drop("duplicate_track_id", files[file_idx[i]], int(lines[i]))
        _warn_dropped(path, report.sessions_dropped - before)
        cols = {c: v[~dup] for c, v in cols.items()}
    report.rows_kept += len(cols["track_id"])
    report.sessions_kept += len(cols["track_id"])
    df = pd.DataFrame({c: cols[c] for c in schema.TF_COLUMNS})
    df["mode"] = pd.Categorical.from_codes(cols["mode"], categories=list(schema.TF_MODES))
    return df


def _warn_dropped(path: Path | str, dropped: Counter) -> None:
    if dropped:
        detail = ", ".join(f"{k}: {v}" for k, v in dropped.most_common())
        warnings.warn(f"{path}: dropped {sum(dropped.values())} track(s) that break the MSSD "
                      f"format ({detail}); see the ReadReport for examples", stacklevel=3)
