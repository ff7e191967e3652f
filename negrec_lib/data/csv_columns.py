"""Decode the text columns of a parsed block to numpy, with every bad value's exact row.

A decoder returns (values, errors): values of the column's dtype (0 where a value is bad) and
`RowErrors`, the rows that break the column's rule with what each held. Text columns are
dictionary-encoded first (cheaper than the CSV reader's own dictionary conversion), so a
column's checks run once per distinct value, not once per row. The messages are made only for
the errors a caller reports (`first_error`), never for every bad row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PRIO_MALFORMED = 0  # a line with the wrong field count outranks any other violation on it


@dataclass
class RowErrors:
    """Rows that break one rule, with what each row held (made into a message on demand)."""

    rows: np.ndarray  # int64 [k] row indices in the owning batch of rows
    payload: np.ndarray  # object [k] what `describe` turns into a message
    column: str | None
    reason: str  # what a dropped record is counted as
    prio: int  # order among violations reported on the same line
    describe: Callable[[object], str]
    runs: np.ndarray | None = None  # int64 [k] run of rows charged (default: the row's own)
    at: np.ndarray | None = None  # int64 [k] line reported (default: the row's line)

    def where(self, row_lines: np.ndarray) -> np.ndarray:
        """int64 [k] the line each violation is reported on."""
        return row_lines[self.rows] if self.at is None else self.at

    def message(self, k: int) -> str:
        """The message for the k-th offending row."""
        return self.describe(self.payload[k])

    def select(self, mask: np.ndarray) -> RowErrors:
        """The offending rows where `mask` [k] is True."""
        runs = None if self.runs is None else self.runs[mask]
        at = None if self.at is None else self.at[mask]
        return RowErrors(
            self.rows[mask],
            self.payload[mask],
            self.column,
            self.reason,
            self.prio,
            self.describe,
            runs,
            at,
        )

    def shift(self, delta: int) -> RowErrors:
        """The same errors with row indices moved by `delta`."""
        return RowErrors(
            self.rows + delta,
            self.payload,
            self.column,
            self.reason,
            self.prio,
            self.describe,
            self.runs,
            self.at,
        )


def row_errors(
    rows, payload, column: str | None, reason: str, prio: int, describe: Callable[[object], str]
) -> list[RowErrors]:
    """[RowErrors] if any row offends, else []."""
    if len(rows) == 0:
        return []
    out = np.empty(len(payload), object)
    out[:] = list(payload)
    return [RowErrors(np.asarray(rows, np.int64), out, column, reason, prio, describe)]


def value_errors(rows, payload, column: str, prio: int, expected: str) -> list[RowErrors]:
    """`row_errors` for values that break their column's format: reason ``bad_value:<column>``,
    message "expected <expected>, got <value>"."""
    return row_errors(
        rows,
        payload,
        column,
        f"bad_value:{column}",
        prio,
        lambda v: f"expected {expected}, got {v!r}",
    )


def first_error(
    errs: list[RowErrors], malformed: list[tuple[int, str]], lines: np.ndarray
) -> tuple[int, str | None, str] | None:
    """(line, column, message) of the earliest violation (by line, then priority), or None;
    `lines` [n] is the line of each row the errors index, `malformed` (line, message) pairs."""
    best = None
    for e in errs:
        at = e.where(lines)
        k = int(np.argmin(at))
        if best is None or (int(at[k]), e.prio) < best[0]:
            best = ((int(at[k]), e.prio), e.column, e.message(k))
    for line, message in malformed:
        if best is None or (line, PRIO_MALFORMED) < best[0]:
            best = ((line, PRIO_MALFORMED), None, message)
    return None if best is None else (best[0][0], best[1], best[2])


def encode(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode a text column: (indices int32 [n], distinct values [d])."""
    enc = pc.dictionary_encode(col)
    if enc.num_chunks == 0:
        return np.empty(0, np.int32), pa.array([], pa.string())
    idx = [c.indices.to_numpy(zero_copy_only=False) for c in enc.chunks]
    return (idx[0] if len(idx) == 1 else np.concatenate(idx)), enc.chunk(0).dictionary


def decode_map(
    col: pa.ChunkedArray,
    column: str,
    prio: int,
    fn: Callable[[str], object | None],
    dtype: type,
    expected: str,
) -> tuple[np.ndarray, list[RowErrors]]:
    """A text column mapped value by value through `fn` (called once per distinct value;
    None = invalid); returns (values [n] of `dtype`, 0 where invalid; errors)."""
    idx, uniq = encode(col)
    texts = uniq.to_pylist()
    mapped = [fn(u) for u in texts]
    lut = np.array([0 if m is None else m for m in mapped], dtype=dtype)
    vals = lut[idx] if len(texts) else np.zeros(len(idx), dtype)
    bad_codes = [i for i, m in enumerate(mapped) if m is None]
    if not bad_codes:
        return vals, []
    bad = np.flatnonzero(np.isin(idx, bad_codes))
    return vals, value_errors(bad, np.asarray(texts, object)[idx[bad]], column, prio, expected)


def decode_categorical(
    col: pa.ChunkedArray, column: str, prio: int, values: tuple[str, ...], expected: str
) -> tuple[np.ndarray, list[RowErrors]]:
    """A text column whose every value must be one of `values`: (int8 codes [n], the index in
    `values`, 0 where invalid; errors). One hash lookup a row, with no dictionary built."""
    if len(col) == 0:
        return np.zeros(0, np.int8), []
    codes = pc.index_in(col, value_set=pa.array(values, pa.string()))
    vals = codes.fill_null(0).to_numpy().astype(np.int8)
    if codes.null_count == 0:
        return vals, []
    bad = np.flatnonzero(codes.is_null().to_numpy())
    texts = np.asarray(col.take(pa.array(bad, pa.int64())).to_pylist(), object)
    return vals, value_errors(bad, texts, column, prio, expected)


def _bad_casts(texts: pa.Array, typ: pa.DataType) -> np.ndarray:
    """Indices of `texts` that do not cast to `typ` (by bisection: few casts when few are bad)."""
    try:
        pc.cast(texts, typ)
        return np.empty(0, np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(texts) == 1:
            return np.zeros(1, np.int64)
    mid = len(texts) // 2
    return np.concatenate([_bad_casts(texts[:mid], typ), mid + _bad_casts(texts[mid:], typ)])


def _cast_texts(texts: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Parse text as numbers like the CSV reader does (spaces and tabs trimmed): (values [n]
    of `dtype`, 0 where bad; bad indices int64 [k])."""
    trimmed = pc.utf8_trim(texts, characters=" \t")
    typ = pa.from_numpy_dtype(np.dtype(dtype))
    bad = _bad_casts(trimmed, typ)
    out = np.zeros(len(texts), dtype)
    good = np.ones(len(texts), bool)
    good[bad] = False
    if good.any():
        out[good] = pc.cast(trimmed.filter(pa.array(good)), typ).to_numpy(zero_copy_only=False)
    return out, bad


def decode_int(
    col: pa.ChunkedArray, column: str, prio: int, dtype: type, lo: int, hi: int | None
) -> tuple[np.ndarray, list[RowErrors]]:
    """An integer column (typed, or text to parse) checked against lo..hi and its dtype."""
    hi = int(np.iinfo(dtype).max) if hi is None else min(hi, int(np.iinfo(dtype).max))
    expected = f"an integer from {lo} to {hi}"
    if pa.types.is_integer(col.type):
        vals = col.to_numpy().astype(dtype, copy=False)
        bad = np.flatnonzero((vals < lo) | (vals > hi))
        return vals, value_errors(bad, vals[bad].tolist(), column, prio, expected)
    idx, uniq = encode(col)
    nums, bad_u = _cast_texts(uniq, dtype)
    ok = (nums >= lo) & (nums <= hi)
    ok[bad_u] = False
    vals = nums[idx] if len(nums) else np.zeros(len(idx), dtype)
    if ok.all():
        return vals, []
    bad = np.flatnonzero(~ok[idx])
    texts = np.asarray(uniq.to_pylist(), object)[idx[bad]]
    return vals, value_errors(bad, texts, column, prio, expected)


def decode_float(
    col: pa.ChunkedArray, column: str, prio: int
) -> tuple[np.ndarray, list[RowErrors]]:
    """A float column (typed, or text to parse) as float32."""
    if pa.types.is_floating(col.type):
        return col.to_numpy().astype(np.float32), []
    texts = col.combine_chunks() if col.num_chunks else pa.array([], pa.string())
    vals, bad = _cast_texts(texts, np.float64)
    return vals.astype(np.float32), value_errors(
        bad, texts.take(pa.array(bad, pa.int64())).to_pylist(), column, prio, "a number"
    )
