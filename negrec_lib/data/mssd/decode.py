"""Decode one parsed block of session-log rows to numpy (runs on a worker thread).

Booleans and integers convert natively in the parse; text columns are dictionary-encoded, so
checking and decoding them touches only their few distinct values. Every bad value becomes a
`RowErrors` with its exact row; the session structure is checked later, in file order
(`structure.py`), once the rows of a session are all read. A blank line is not a row: it is
set aside with the lines of the wrong field count (`BadLine`), so that it cannot split the
session around it into two runs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from negrec_lib.data import schema
from negrec_lib.data.csv_columns import (
    RowErrors,
    decode_categorical,
    decode_int,
    decode_map,
    encode,
    row_errors,
    value_errors,
)
from negrec_lib.data.csv_parse import BlockSpec, parse_block

from .dates import decode_date
from .report import BLANK, MALFORMED, PRIO_SKIPS, PRIO_VALUE, SKIPS
from .runs import BadLine, RowBatch

_BOOLS = schema.LOG_BOOL_COLUMNS + schema.LOG_FLAG_COLUMNS
_INT_DTYPES = {
    "session_position": np.int16,
    "session_length": np.int16,
    "hist_user_behavior_n_seekfwd": np.int32,
    "hist_user_behavior_n_seekback": np.int32,
    "hour_of_day": np.int8,
}
# LogBlock.columns: every log column but the two ids, with its dtype
VALUE_DTYPES: dict[str, type] = {
    c: (np.bool_ if c in _BOOLS else _INT_DTYPES.get(c, np.int8))
    for c in schema.LOG_COLUMNS
    if c not in ("session_id", "track_id_clean")
}
VALUE_DTYPES["date"] = np.int32
VALUE_COLUMNS: tuple[str, ...] = tuple(VALUE_DTYPES)

# Parse types: booleans and integers convert natively (if a value does not, the block is parsed
# again as text to find the exact rows); everything else is text, dictionary-encoded after.
_FAST_TYPES = (
    {c: pa.bool_() for c in _BOOLS}
    | {c: pa.from_numpy_dtype(np.dtype(d)) for c, d in _INT_DTYPES.items()}
    | {
        c: pa.string()
        for c in ("session_id", "track_id_clean", "date", *schema.LOG_CATEGORICAL_COLUMNS)
    }
)

BLANK_LINE = "blank line (empty lines between rows are not allowed; remove it)"

_TRUE = dict.fromkeys(schema.TRUE_SPELLINGS, True) | dict.fromkeys(schema.FALSE_SPELLINGS, False)


def log_spec(names: list[str]) -> BlockSpec:
    """How to parse the blocks of a log file whose (checked, unique) header is `names`."""
    return BlockSpec(
        names, list(schema.LOG_COLUMNS), _FAST_TYPES, schema.TRUE_SPELLINGS, schema.FALSE_SPELLINGS
    )


def _decode_bool(
    col: pa.ChunkedArray, column: str, prio: int
) -> tuple[np.ndarray, list[RowErrors]]:
    if pa.types.is_boolean(col.type):
        return col.to_numpy(), []
    expected = (
        "0/1 (or true/false)"
        if column in schema.LOG_FLAG_COLUMNS
        else "true/false (or True/False, TRUE/FALSE, 1/0)"
    )
    return decode_map(col, column, prio, _TRUE.get, np.bool_, expected)


def decode_log(
    data: pa.Buffer, quoted: bool, spec: BlockSpec, date_format: str = "auto"
) -> RowBatch:
    """Parse and decode one block of log rows (worker thread)."""
    parsed = parse_block(data, quoted, spec)
    t, row_lines = parsed.table, parsed.row_lines
    run_starts, run_ids = _runs(t.column("session_id"))
    blank = _blank_rows(t, run_starts, run_ids)
    bad_lines = [BadLine(i, msg, MALFORMED) for i, msg in parsed.malformed]
    if len(blank):
        bad_lines = sorted(
            bad_lines + [BadLine(int(i), BLANK_LINE, BLANK) for i in row_lines[blank]]
        )
        keep = np.ones(t.num_rows, bool)
        keep[blank] = False
        t, row_lines = t.filter(pa.array(keep)), row_lines[keep]
        run_starts, run_ids = _runs(t.column("session_id"))
    n = t.num_rows
    cols: dict[str, np.ndarray] = {}
    errs: list[RowErrors] = []
    for i, c in enumerate(schema.LOG_COLUMNS):
        col, prio = t.column(c), PRIO_VALUE + i
        if c in _BOOLS:
            cols[c], e = _decode_bool(col, c, prio)
        elif c in schema.LOG_INT_COLUMNS:
            cols[c], e = decode_int(col, c, prio, _INT_DTYPES[c], *schema.LOG_INT_COLUMNS[c])
        elif c == "date":
            cols[c], e = decode_date(col, prio, date_format)
        elif c in schema.LOG_CATEGORICAL_COLUMNS:
            values = schema.LOG_CATEGORICAL_COLUMNS[c]
            cols[c], e = decode_categorical(col, c, prio, values, f"one of {', '.join(values)}")
        elif c == "track_id_clean":
            track_codes, track_dict = encode(col)
            k = pc.index(track_dict, "").as_py()
            bad = np.flatnonzero(track_codes == k) if k >= 0 else np.empty(0, np.int64)
            e = value_errors(bad, [""] * len(bad), c, prio, "a non-empty track id")
        else:  # session_id: its runs are made above; an empty id is a bad value
            e = _empty_ids(run_starts, run_ids, n, prio)
        errs += e
    s1, s2, s3 = cols["skip_1"], cols["skip_2"], cols["skip_3"]
    for bad, col_name, before in ((s1 & ~s2, "skip_2", "skip_1"), (s2 & ~s3, "skip_3", "skip_2")):
        errs += row_errors(
            np.flatnonzero(bad),
            [before] * int(bad.sum()),
            col_name,
            SKIPS,
            PRIO_SKIPS,
            lambda b, c=col_name: (
                f"skip flags must be cumulative (skip_1 => "
                f"skip_2 => skip_3): {b} is true but {c} is false"
            ),
        )
    return RowBatch(
        cols,
        track_codes,
        track_dict,
        run_starts,
        run_ids,
        row_lines,
        errs,
        bad_lines,
        parsed.n_lines,
    )


def _runs(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each run of equal session ids int64 [n_runs], its id object [n_runs])."""
    n = len(col)
    run_starts = np.zeros(min(n, 1), np.int64)
    if n > 1:
        change = pc.not_equal(col[1:], col[:-1]).to_numpy()
        run_starts = np.concatenate([run_starts, np.flatnonzero(change) + 1])
    return run_starts, col.take(pa.array(run_starts, pa.int64())).to_numpy()


def _empty_rows(run_starts: np.ndarray, run_ids: np.ndarray, n: int) -> np.ndarray:
    """int64 [k] the rows with an empty session id (found run by run: cheap when none)."""
    empty = np.flatnonzero(run_ids == "")
    if len(empty) == 0:
        return np.empty(0, np.int64)
    ends = np.append(run_starts[1:], n)
    return np.concatenate([np.arange(run_starts[r], ends[r]) for r in empty])


def _blank_rows(t: pa.Table, run_starts: np.ndarray, run_ids: np.ndarray) -> np.ndarray:
    """int64 [k] the rows that are blank lines (every field empty; the parser keeps them as
    rows so that line numbers stay exact)."""
    rows = _empty_rows(run_starts, run_ids, t.num_rows)
    if len(rows) == 0:
        return rows
    texts = [t.column(c).take(pa.array(rows)).to_pylist() for c in schema.LOG_COLUMNS]
    return rows[[all(col[k] == "" for col in texts) for k in range(len(rows))]]


def _empty_ids(run_starts: np.ndarray, run_ids: np.ndarray, n: int, prio: int) -> list[RowErrors]:
    """Rows with an empty session id (blank lines are no longer rows by now)."""
    rows = _empty_rows(run_starts, run_ids, n)
    return value_errors(
        rows, np.full(len(rows), "", object), "session_id", prio, "a non-empty session id"
    )
