"""Parse the blocks of a `CSVFile` into Arrow tables on worker threads, in file order.

`parse_block` reads one block with `pyarrow.csv.read_csv`, keeping every line a row so that
line numbers stay exact: blank lines are kept (``ignore_empty_lines=False``; they arrive as
all-empty rows) and lines with the wrong number of fields are recorded, not parsed. No value
is ever null (``null_values=[]``): an empty field is a value for the caller to judge. Columns
with a fast type (booleans, integers) convert natively; if a value does not convert, the block
is parsed again with every column as text, so that the caller's decoders find the exact rows.
A block that is not valid UTF-8 is checked line by line first (`_undecodable_lines`): pyarrow
cannot hand such a line to the invalid-row handler (it fails to decode the text before calling
it, and swallows the error), so a line that matters is refused here with its own line number.

`pipelined` keeps a few blocks in flight on a thread pool (pyarrow releases the GIL, so the
parse uses every core) and hands them back in file order with their first line.
"""

from __future__ import annotations

import csv
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from negrec_lib.data.csv_blocks import CSVFile

_PARSE_BLOCK = 1 << 20  # pyarrow's internal block: 1 MiB at a time is cache-friendly
_LINE_END = re.compile(rb"\r\n|\r|\n")  # what pyarrow's parser takes for the end of a line
_ENCODING_HINT = (
    "is the file in another encoding, such as latin-1 or cp1252? Convert it to UTF-8 "
    "(for example: iconv -f latin1 -t utf-8 in.csv > out.csv)"
)


@dataclass(frozen=True)
class BlockSpec:
    """How to parse the blocks of one file."""

    names: list[str]  # every header field in file order (unique names)
    include: list[str]  # the columns to read
    types: dict[str, pa.DataType]  # the fast type of each included column
    true_values: tuple[str, ...]  # spellings of booleans
    false_values: tuple[str, ...]


@dataclass
class ParsedBlock:
    """One block parsed: the rows with the right field count, and the lines that were not."""

    table: pa.Table  # possibly several chunks per column
    row_lines: np.ndarray  # int64 [table.num_rows] 0-based line of each row
    n_lines: int  # lines in the block (rows + malformed lines)
    malformed: list[tuple[int, str]]  # (0-based line, message): wrong number of fields


class _BlockError(Exception):
    """A problem inside a block at a block-local line (0-based); `pipelined` adds the file
    and the block's first line."""

    def __init__(self, message: str, local_line: int, column: str | None = None) -> None:
        super().__init__(message)
        self.message, self.local_line, self.column = message, local_line, column


def parse_block(data: pa.Buffer, quoted: bool, spec: BlockSpec) -> ParsedBlock:
    """Parse one block with `spec.types`; if a value does not convert, parse it again with
    every column as text so the caller can find the exact offending rows. `quoted`: the block
    has a quote character (else quote handling is switched off, which is faster).

    A line that is not valid UTF-8 raises `_BlockError` naming it (with its field count when
    that is wrong too, or the column read that holds the bytes), whatever the caller's error
    policy: the file is in another encoding. Bytes in columns that are not read are let be."""
    if not _is_utf8_buffer(data):
        data = _undecodable_lines(data, quoted, spec)
    invalid: list[tuple[int, int, str]] = []  # (0-based line, number of fields, text)
    lost: list[str] = []  # rows the handler could not record (never expected)

    def on_invalid(row: pcsv.InvalidRow) -> str:
        # pyarrow swallows what is raised here (and "skip" would then lose the row): never raise
        try:
            invalid.append((row.number - 1, row.actual_columns, row.text))
        except Exception as e:  # recorded, and raised after the parse
            lost.append(f"{type(e).__name__}: {e}")
        return "skip"

    def read(types: dict[str, pa.DataType]) -> pa.Table:
        invalid.clear()
        lost.clear()
        return pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(
                column_names=spec.names, use_threads=False, block_size=_PARSE_BLOCK
            ),
            parse_options=pcsv.ParseOptions(
                ignore_empty_lines=False,
                quote_char='"' if quoted else False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=spec.include,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                true_values=list(spec.true_values),
                false_values=list(spec.false_values),
            ),
        )

    try:
        table = read(spec.types)
    except pa.ArrowInvalid:
        try:
            table = read({c: pa.string() for c in spec.include})
        except pa.ArrowInvalid as e:
            raise _BlockError(f"unparseable block ({e})", 0) from None
    if lost:
        raise _BlockError(
            f"a line in the block that starts here has the wrong number of fields but could "
            f"not be read ({lost[0]})",
            0,
        )
    n_lines = table.num_rows + len(invalid)
    row_lines = np.arange(n_lines, dtype=np.int64)
    if invalid:
        row_lines = np.delete(row_lines, [i for i, _, _ in invalid])
    n_fields = len(spec.names)
    malformed = [
        (i, f"expected {n_fields} comma-separated fields, got {k}: {text[:80]!r}")
        for i, k, text in invalid
    ]
    return ParsedBlock(table, row_lines, n_lines, malformed)


def _is_utf8_buffer(data: pa.Buffer) -> bool:
    """Whether the whole block is valid UTF-8 (Arrow's vectorised check: about a millisecond
    for 16 MB, against some 70 ms to parse it)."""
    offsets = pa.py_buffer(np.array([0, data.size], np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, data).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _undecodable_lines(data: pa.Buffer, quoted: bool, spec: BlockSpec) -> pa.Buffer:
    """Raise `_BlockError` at the first line that is not valid UTF-8 and has the wrong number
    of fields, or holds such bytes in a column that is read. If every such line only has them
    in columns that are not read, return the block with them replaced by U+FFFD (lines and
    fields unchanged), so that no text pyarrow decodes can fail."""
    raw = data.to_pybytes()
    n_fields, include = len(spec.names), set(spec.include)
    for i, line in enumerate(_LINE_END.split(raw)):
        if _is_utf8(line):
            continue
        fields = _fields(line, quoted)
        if len(fields) != n_fields:
            raise _BlockError(
                f"the line is not valid UTF-8 text ({_first_bad_byte(line)}), and it has "
                f"{len(fields)} comma-separated fields where {n_fields} are expected: "
                f"{_shown(line)}; {_ENCODING_HINT}",
                i,
            )
        for name, field in zip(spec.names, fields):
            if name in include and not _is_utf8(field):
                raise _BlockError(
                    f"the value is not valid UTF-8 text ({_first_bad_byte(field)}): "
                    f"{_shown(field)}; {_ENCODING_HINT}",
                    i,
                    name,
                )
    return pa.py_buffer(raw.decode("utf-8", "replace").encode("utf-8"))


def _fields(line: bytes, quoted: bool) -> list[bytes]:
    """The fields of one line as pyarrow splits them (quotes only if the block has any)."""
    if not quoted:
        return line.split(b",")
    row = next(csv.reader([line.decode("latin-1")]), [""])  # latin-1: byte for byte
    return [f.encode("latin-1") for f in row]


def _shown(text: bytes) -> str:
    """Bytes for a message, quoted: what decodes as text, the rest as escapes ('caf\\xe9')."""
    return "'" + text[:80].decode("utf-8", "backslashreplace") + "'"


def _first_bad_byte(text: bytes) -> str:
    """Where the UTF-8 of `text` first fails, for a message: 'byte 0xe9 at byte 4'."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"byte 0x{text[e.start]:02x} at byte {e.start + 1}"
    return "valid"


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def n_threads() -> int:
    """Worker threads for parsing: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def pipelined(
    csvf: CSVFile,
    pool: ThreadPoolExecutor,
    decode: Callable,
    *args,
    on_exhausted: Callable[[], None] | None = None,
) -> Iterator[tuple[object, int, bool]]:
    """(decoded block, its first line, is it the last) in file order.

    ``decode(data, quoted, *args)`` runs on the pool for each block of `csvf` (it calls
    `parse_block`, then decodes the columns) and returns an object with the block's line
    count as ``n_lines``. `on_exhausted` is called once the last block has been read (and
    handed to the pool). Errors are raised as ``csvf.error``.
    """
    raw = csvf.blocks(n_threads())
    pending: deque[tuple[object, Future]] = deque()  # (block's buffer, its decode) in file order
    state = {"exhausted": False}

    def submit() -> None:
        block = next(raw, None)
        if block is None:
            state["exhausted"] = True
            if on_exhausted is not None:
                on_exhausted()
        else:
            pending.append((block[0], pool.submit(decode, *block, *args)))

    for _ in range(n_threads() + 1):  # blocks in flight
        if not state["exhausted"]:
            submit()
    if not pending:
        raise csvf.error("the file has a header but no data rows", csvf.path, 2)
    next_line = 2
    try:
        while pending:
            data, fut = pending.popleft()
            if not state["exhausted"]:
                submit()
            try:
                chunk = fut.result()
            except _BlockError as e:
                raise csvf.error(e.message, csvf.path, next_line + e.local_line, e.column) from None
            csvf.release(data)
            yield chunk, next_line, state["exhausted"] and not pending
            next_line += chunk.n_lines
    finally:
        for _, fut in pending:
            fut.cancel()
