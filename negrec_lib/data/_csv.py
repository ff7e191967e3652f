"""Block-wise, parallel CSV parsing with exact line numbers: the machinery under `mssd.py`.

A file (plain, or gzip detected by its magic bytes) is cut into blocks of about `block_size`
bytes that end at line ends; each block is parsed by `pyarrow.csv.read_csv` on a worker thread
(pyarrow releases the GIL), so parsing uses every core while blocks stay in file order and
memory stays a few blocks. (`pyarrow.csv.open_csv` streams too, but parses on one thread: on
two cores it measured about a third of `read_csv`'s throughput.) Plain files are memory-mapped,
so a block is a zero-copy slice; gzip files are decompressed block by block.

Line numbers stay exact because every line of a block is a row: blank lines are kept
(`ignore_empty_lines=False`; they arrive as all-empty rows) and lines with the wrong number of
fields go to an invalid-row handler that records them. No value is ever null
(`null_values=[]`): an empty field is a value for the caller to judge.

Text columns are read as plain strings and dictionary-encoded afterwards (cheaper than the CSV
reader's dictionary conversion), so a column's checks run once per distinct value.
Pages of a parsed block are handed back to the OS (`madvise`), so the memory a large file takes
stays a few blocks.
"""
from __future__ import annotations

import csv
import mmap
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from negrec_lib.data import schema
from negrec_lib.errors import MSSDFormatError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_PARSE_BLOCK = 1 << 20   # pyarrow's internal block: 1 MiB at a time is cache-friendly
_MAX_HEADER = 16 << 20


class ChunkError(Exception):
    """A problem inside a block at a block-local line (0-based); the caller adds file and offset."""

    def __init__(self, message: str, local_line: int, column: str | None = None) -> None:
        super().__init__(message)
        self.message, self.local_line, self.column = message, local_line, column


@dataclass
class ParsedChunk:
    """One block parsed: the rows with the right field count, and the lines that were not."""

    table: pa.Table            # possibly several chunks per column
    row_lines: np.ndarray      # int64 [table.num_rows] 0-based line of each row in the block
    n_lines: int               # lines in the block (rows + invalid lines)
    invalid: list[tuple[int, int, str]]  # (0-based line, number of fields, text)
    slow: bool                 # True when the typed parse failed and every column was read as text


# ---------------------------------------------------------------------------------------------
# Files and blocks
# ---------------------------------------------------------------------------------------------
class _GzipStream:
    """Decompresses a gzip file (one or more members) into caller buffers. Unlike a stream that
    fails a whole read, it hands over every byte decoded before a truncation or corruption,
    and raises only on the read after them, so the caller knows the last complete line."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed in close())
        self._z = zlib.decompressobj(wbits=31)
        self._buf, self._pos, self._end = b"", 0, False

    def readinto(self, view: memoryview) -> int:
        out = 0
        while out < len(view):
            if self._pos < len(self._buf):
                k = min(len(view) - out, len(self._buf) - self._pos)
                view[out:out + k] = self._buf[self._pos:self._pos + k]
                self._pos += k
                out += k
                continue
            if self._end:
                break
            if out:                   # hand over what there is before decoding further
                break
            chunk = self._file.read(1 << 20)
            if not chunk:
                self._end = True
                if not self._z.eof:
                    raise EOFError("the compressed stream ends before its end marker")
                break
            buf = self._z.decompress(chunk)
            while self._z.eof and self._z.unused_data:    # the next gzip member
                rest = self._z.unused_data
                self._z = zlib.decompressobj(wbits=31)
                buf += self._z.decompress(rest)
            self._buf, self._pos = buf, 0
        return out

    def close(self) -> None:
        self._file.close()


class CSVFile:
    """A CSV file opened for block-wise reading: header parsed, body cut at line ends."""

    def __init__(self, path: Path, block_size: int) -> None:
        self.path = Path(path)
        self.block_size = max(int(block_size), 1)
        if not self.path.is_file():
            raise MSSDFormatError("file not found", self.path)
        if self.path.stat().st_size == 0:
            raise MSSDFormatError("the file is empty (0 bytes); expected a header line", self.path, 1)
        self._newlines = 0       # line ends decompressed so far (gzip files)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise MSSDFormatError(f"cannot open the file ({exc.strerror or exc})",
                                  self.path) from None
        self.compressed = self._file.read(2) == GZIP_MAGIC
        self._mm: mmap.mmap | None = None
        try:
            if self.compressed:
                self._stream = _GzipStream(self.path)
                head = self._stream_head()
            else:
                self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
                end = self._mm.find(b"\n", 0, _MAX_HEADER)
                if end < 0 and len(self._mm) > _MAX_HEADER:
                    raise MSSDFormatError("the first line is longer than 16 MiB", self.path, 1)
                end = len(self._mm) if end < 0 else end
                head, self._body = self._mm[:end], end + 1
            self.names = self._parse_header(head)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the file (a mapping still used by a parsed block is released by its owner)."""
        if self.compressed:
            self._stream.close()
        elif self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass
        self._file.close()

    def _fill(self, view: memoryview) -> int:
        """Read decompressed bytes into `view` until it is full or the data ends."""
        got = 0
        try:
            while got < len(view):
                n = self._stream.readinto(view[got:])
                if not n:
                    break
                self._newlines += int(np.count_nonzero(
                    np.frombuffer(view[got:got + n], np.uint8) == 10))
                got += n
        except (OSError, pa.ArrowException, EOFError, ValueError, zlib.error) as e:
            done = self._newlines
            where = (f"after line {done}, the last complete line (the header is line 1)"
                     if done else "before the end of the header line")
            raise MSSDFormatError(f"cannot decompress the file: the gzip data is truncated or "
                                  f"corrupt {where}; what follows is lost ({e}). Re-download "
                                  "or re-compress the file", self.path) from None
        return got

    def _stream_head(self) -> bytes:
        """Read up to the first line end; keep the rest for `blocks()`."""
        data = b""
        while True:
            buf = bytearray(64 << 10)
            n = self._fill(memoryview(buf))
            data += bytes(buf[:n])
            end = data.find(b"\n")
            self._eof = n < len(buf)
            if end >= 0 or self._eof:
                break
            if len(data) > _MAX_HEADER:
                raise MSSDFormatError("the first line is longer than 16 MiB", self.path, 1)
        if not data:
            raise MSSDFormatError("the file is empty (no header line)", self.path, 1)
        if end < 0:
            self._rest = b""
            return data
        self._rest = data[end + 1:]
        return data[:end]

    def _parse_header(self, head: bytes) -> list[str]:
        if head.startswith(UTF8_BOM):
            head = head[len(UTF8_BOM):]
        try:
            text = head.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise MSSDFormatError("the header is not valid UTF-8", self.path, 1) from None
        names = next(csv.reader([text]), [])
        if len(names) == 1:
            for sep, word in ((";", "semicolons"), ("\t", "tabs")):
                if sep in names[0]:
                    raise MSSDFormatError(
                        f"wrong delimiter: the header is one field separated by {word}; MSSD "
                        "files are comma-separated (re-save the file with ',' as delimiter)",
                        self.path, 1)
        return names

    def blocks(self, workers: int = 1) -> Iterator[tuple[pa.Buffer, bool]]:
        """The body in blocks of at most about `block_size` bytes ending at line ends, in file
        order, each with whether it contains a quote character (parsing without is faster).

        For a plain file of several blocks their number is a multiple of `workers`, so that no
        worker idles at the end. Blank lines at a cut go with the next block; blank lines at the
        very end are dropped; blank lines anywhere else stay (the caller reports them).
        """
        if self.compressed:
            yield from self._stream_blocks()
            return
        mm, n, start = self._mm, len(self._mm), self._body
        n_blocks = -(-max(n - start, 1) // self.block_size)   # ceil
        if n_blocks > 1:
            n_blocks = -(-n_blocks // workers) * workers
        size = -(-max(n - start, 1) // n_blocks)
        whole = pa.py_buffer(mm)
        self._base = whole.address
        k = 0
        while start < n:
            # Block k ends at the last line end before body + k * size: the blocks stay equal
            # (a cut relative to the previous one would leave a sliver of a last block, and a
            # worker idle while another parses a whole one).
            k, cut = k + 1, start
            if k < n_blocks and n - start > size // 2:
                cut = _cut(mm, start, max(self._body + k * size, start + 1), n)
            if cut == start:  # the last block
                cut = _end_of_content(mm, start, n, final=True)
                if cut > start:
                    yield whole.slice(start, cut - start), mm.find(b'"', start, cut) >= 0
                return
            yield whole.slice(start, cut - start), mm.find(b'"', start, cut) >= 0
            start = cut

    def release(self, block: pa.Buffer) -> None:
        """Tell the OS a parsed block's pages are no longer needed, so that the mapping of a
        large file does not pile up in this process's memory (they stay in the page cache)."""
        if self._mm is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = block.address - self._base
        aligned = start - start % mmap.PAGESIZE
        self._mm.madvise(mmap.MADV_DONTNEED, aligned, start + block.size - aligned)

    def _stream_blocks(self) -> Iterator[tuple[pa.Buffer, bool]]:
        rest, eof, grow = self._rest, self._eof, False
        while True:
            if not eof and (grow or len(rest) < self.block_size):
                buf = bytearray(len(rest) + self.block_size)
                buf[:len(rest)] = rest
                n = len(rest) + self._fill(memoryview(buf)[len(rest):])
                eof = n < len(buf)
            else:
                buf, n = bytearray(rest), len(rest)
            cut = 0
            if not (eof and n <= self.block_size):
                cut = _cut(buf, 0, min(n, self.block_size), n)
            if cut == 0:
                if eof:  # the last block
                    cut = _end_of_content(buf, 0, n, final=True)
                    if cut:
                        yield pa.py_buffer(buf)[:cut], buf.find(b'"', 0, cut) >= 0
                    return
                grow, rest = True, bytes(buf[:n])  # no line end yet: read more
                continue
            grow, rest = False, bytes(buf[cut:n])
            yield pa.py_buffer(buf)[:cut], buf.find(b'"', 0, cut) >= 0


def _cut(buf, lo: int, window_end: int, n: int) -> int:
    """Where to end a block that starts at `lo`: after the last line end before `window_end`
    (or the first after it, for long lines), before trailing blank lines; `lo` if none."""
    nl = buf.rfind(b"\n", lo, window_end)
    cut = _end_of_content(buf, lo, nl + 1, final=False) if nl >= 0 else lo
    start = window_end
    while cut == lo:
        nl = buf.find(b"\n", start, n)
        if nl < 0:
            return lo
        cut, start = _end_of_content(buf, lo, nl + 1, final=False), nl + 1
    return cut


def _end_of_content(buf, lo: int, end: int, final: bool) -> int:
    """End of the last non-blank line in buf[lo:end], with its line break unless `final`."""
    j = end
    while j > lo and buf[j - 1] in (10, 13):
        j -= 1
    if j == lo or final:
        return j
    return j + 2 if buf[j:j + 2] == b"\r\n" else j + 1


# ---------------------------------------------------------------------------------------------
# Parsing a block
# ---------------------------------------------------------------------------------------------
def parse_block(data: pa.Buffer, quoted: bool, names: list[str], include: list[str],
                fast_types: dict[str, pa.DataType]) -> ParsedChunk:
    """Parse one block with `fast_types`; if a value does not convert, parse it again with
    every column as text so the caller can find the exact offending rows. `quoted`: the block
    has a quote character (else quote handling is switched off, which is faster)."""
    invalid: list[tuple[int, int, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        invalid.append((row.number - 1, row.actual_columns, row.text))
        return "skip"

    def read(types: dict[str, pa.DataType]) -> pa.Table:
        invalid.clear()
        return pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False,
                                          block_size=_PARSE_BLOCK),
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False,
                                            quote_char='"' if quoted else False,
                                            invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types=types, include_columns=include, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                true_values=list(schema.TRUE_SPELLINGS),
                false_values=list(schema.FALSE_SPELLINGS)))

    slow = False
    try:
        table = read(fast_types)
    except pa.ArrowInvalid:
        slow = True
        try:
            table = read({c: pa.string() for c in include})
        except pa.ArrowInvalid as e:
            raise _locate_bad_text(data, names, str(e)) from None
    n_lines = table.num_rows + len(invalid)
    row_lines = np.arange(n_lines, dtype=np.int64)
    if invalid:
        row_lines = np.delete(row_lines, [i for i, _, _ in invalid])
    return ParsedChunk(table, row_lines, n_lines, invalid, slow)


def _locate_bad_text(data: pa.Buffer, names: list[str], arrow_message: str) -> ChunkError:
    """The first line that is not valid UTF-8 (the only way text columns fail to parse)."""
    for i, line in enumerate(data.to_pybytes().split(b"\n")):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fields = line.split(b",")
            column = next((names[k] for k, f in enumerate(fields[:len(names)])
                           if not _is_utf8(f)), None)
            return ChunkError("invalid UTF-8 text (is the file in another encoding?)", i, column)
    return ChunkError(f"unparseable block ({arrow_message})", 0)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def malformed_lines(parsed: ParsedChunk, n_fields: int) -> list[tuple[int, str]]:
    """(block-local line, message) for each line with the wrong number of fields."""
    return [(i, f"expected {n_fields} comma-separated fields, got {k}: {text[:80]!r}")
            for i, k, text in parsed.invalid]


# ---------------------------------------------------------------------------------------------
# Rows in flight, errors, and the pipeline
# ---------------------------------------------------------------------------------------------
PRIO_MALFORMED = 0  # a line with the wrong field count outranks any other violation on it


@dataclass
class RowErrors:
    """Rows that break one rule, with what each row held (made into a message on demand)."""

    rows: np.ndarray            # int64 [k] row indices in the owning batch of rows
    payload: np.ndarray         # object [k] what `describe` turns into a message
    column: str | None
    reason: str                 # key of ReadReport.sessions_dropped
    prio: int                   # order among violations reported on the same line
    describe: Callable[[object], str]
    runs: np.ndarray | None = None  # int64 [k] session run charged (default: the row's own)
    at: np.ndarray | None = None    # int64 [k] line reported (default: the row's line)

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
        return RowErrors(self.rows[mask], self.payload[mask], self.column, self.reason,
                         self.prio, self.describe, runs, at)

    def shift(self, delta: int) -> RowErrors:
        """The same errors with row indices moved by `delta`."""
        return RowErrors(self.rows + delta, self.payload, self.column, self.reason, self.prio,
                         self.describe, self.runs, self.at)


def row_errors(rows, payload, column: str | None, reason: str, prio: int,
               describe: Callable[[object], str]) -> list[RowErrors]:
    """[RowErrors] if any row offends, else []."""
    if len(rows) == 0:
        return []
    out = np.empty(len(payload), object)
    out[:] = list(payload)
    return [RowErrors(np.asarray(rows, np.int64), out, column, reason, prio, describe)]


def value_errors(rows, payload, column: str, prio: int, expected: str) -> list[RowErrors]:
    """`row_errors` for values that break their column's format: reason ``bad_value:<column>``,
    message "expected <expected>, got <value>"."""
    return row_errors(rows, payload, column, f"bad_value:{column}", prio,
                      lambda v: f"expected {expected}, got {v!r}")


@dataclass
class RowBatch:
    """Decoded rows in flight: a parsed block, possibly behind the unfinished session (the
    tail) of the block before it. A run is a stretch of rows with the same session id."""

    cols: dict[str, np.ndarray]     # decoded value columns, each [n]
    track_codes: np.ndarray         # int32 [n]
    track_dict: pa.Array            # string [n_tracks], distinct
    run_starts: np.ndarray          # int64 [n_runs] rows where the session id changes
    run_ids: np.ndarray             # object [n_runs]
    lines: np.ndarray               # int64 [n] line of each row (block-local until placed)
    errors: list[RowErrors]         # row-level violations
    malformed: list[tuple[int, str]]  # (line, message) lines with the wrong field count
    n_lines: int = 0                # lines in the parsed block (rows + malformed)

    @property
    def n(self) -> int:
        """Rows in the batch."""
        return len(self.track_codes)

    @staticmethod
    def empty(dtypes: dict[str, type]) -> RowBatch:
        """No rows, with value columns of the given dtypes."""
        return RowBatch({c: np.empty(0, d) for c, d in dtypes.items()},
                        np.empty(0, np.int32), pa.array([], pa.string()),
                        np.empty(0, np.int64), np.empty(0, object), np.empty(0, np.int64), [], [])

    def place(self, first_line: int) -> None:
        """Turn block-local line indices into file lines (the block starts at `first_line`)."""
        self.lines = self.lines + first_line
        self.malformed = [(first_line + i, msg) for i, msg in self.malformed]

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
            np.concatenate([tail.run_starts, chunk.run_starts[int(same):] + tail.n]),
            np.concatenate([tail.run_ids, chunk.run_ids[int(same):]]),
            np.concatenate([tail.lines, chunk.lines]),
            tail.errors + [e.shift(tail.n) for e in chunk.errors],
            tail.malformed + chunk.malformed)

    def slice_from(self, cut: int, malformed: list[tuple[int, str]]) -> RowBatch:
        """Rows [cut:] (whole runs), their errors, and the given malformed lines."""
        used, codes = np.unique(self.track_codes[cut:], return_inverse=True)
        k = int(np.searchsorted(self.run_starts, cut))
        return RowBatch({c: v[cut:] for c, v in self.cols.items()}, codes.astype(np.int32),
                        self.track_dict.take(pa.array(used)),
                        self.run_starts[k:] - cut, self.run_ids[k:], self.lines[cut:],
                        [e.select(e.rows >= cut).shift(-cut) for e in self.errors
                         if (e.rows >= cut).any()], malformed)

    def take(self, keep_runs: np.ndarray, end: int) -> tuple:
        """The runs [0, len(keep_runs)) (rows [0, end)) without those not kept: (cols,
        track_codes, track_dict, run_starts, run_ids, lines)."""
        starts, ids = self.run_starts[:len(keep_runs)], self.run_ids[:len(keep_runs)]
        if keep_runs.all():
            return ({c: v[:end] for c, v in self.cols.items()}, self.track_codes[:end],
                    self.track_dict, starts, ids, self.lines[:end])
        lens = np.diff(np.append(starts, end))
        keep = np.repeat(keep_runs, lens)  # [end]
        kept_lens = lens[keep_runs]
        return ({c: v[:end][keep] for c, v in self.cols.items()}, self.track_codes[:end][keep],
                self.track_dict, (np.cumsum(kept_lens) - kept_lens).astype(np.int64),
                ids[keep_runs], self.lines[:end][keep])


def check_header(names: list[str], path: Path, required: tuple[str, ...]) -> list[str]:
    """Check the header; return unique column names for the parser (extras renamed)."""
    missing = [c for c in required if c not in names]
    if missing:
        raise MSSDFormatError(f"missing required column(s) {', '.join(map(repr, missing))}; "
                              f"the header has {', '.join(map(repr, names))}", path, 1,
                              missing[0])
    dup = next((c for c in required if names.count(c) > 1), None)
    if dup is not None:
        raise MSSDFormatError("the column appears more than once in the header", path, 1, dup)
    return [c if c in required else f"__extra_{i}" for i, c in enumerate(names)]


def raise_first(errs: list[RowErrors], malformed: list[tuple[int, str]], lines: np.ndarray,
                path: Path) -> None:
    """Raise the earliest violation (by line, then priority), if there is one."""
    best = None
    for e in errs:
        at = e.where(lines)
        k = int(np.argmin(at))
        if best is None or (int(at[k]), e.prio) < best[0]:
            best = ((int(at[k]), e.prio), e.column, e.message(k))
    for line, message in malformed:
        if best is None or (line, PRIO_MALFORMED) < best[0]:
            best = ((line, PRIO_MALFORMED), None, message)
    if best is not None:
        raise MSSDFormatError(best[2], path, best[0][0], best[1])


def n_threads() -> int:
    """Worker threads for parsing: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def pipelined(csvf: CSVFile, pool: ThreadPoolExecutor, decode: Callable, *args,
              on_exhausted: Callable[[], None] | None = None
              ) -> Iterator[tuple[object, int, bool]]:
    """(decoded block, its first line, is it the last) in file order, decoded on the pool;
    `on_exhausted` is called once the last block has been read (and handed to the pool)."""
    raw, pending = csvf.blocks(n_threads()), deque()
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
        raise MSSDFormatError("the file has a header but no data rows", csvf.path, 2)
    next_line = 2
    try:
        while pending:
            data, fut = pending.popleft()
            if not state["exhausted"]:
                submit()
            try:
                chunk = fut.result()
            except ChunkError as e:
                raise MSSDFormatError(e.message, csvf.path, next_line + e.local_line,
                                      e.column) from None
            csvf.release(data)
            yield chunk, next_line, state["exhausted"] and not pending
            next_line += chunk.n_lines
    finally:
        for _, fut in pending:
            fut.cancel()


# ---------------------------------------------------------------------------------------------
# Decoding columns
# ---------------------------------------------------------------------------------------------
def encode(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode a text column: (indices int32 [n], distinct values [d])."""
    enc = pc.dictionary_encode(col)
    if enc.num_chunks == 0:
        return np.empty(0, np.int32), pa.array([], pa.string())
    idx = [c.indices.to_numpy(zero_copy_only=False) for c in enc.chunks]
    return (idx[0] if len(idx) == 1 else np.concatenate(idx)), enc.chunk(0).dictionary


def decode_map(col: pa.ChunkedArray, column: str, prio: int, fn: Callable[[str], object | None],
               dtype: type, expected: str) -> tuple[np.ndarray, list[RowErrors]]:
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


def decode_categorical(col: pa.ChunkedArray, column: str, prio: int, values: tuple[str, ...],
                       expected: str) -> tuple[np.ndarray, list[RowErrors]]:
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


def bad_casts(texts: pa.Array, typ: pa.DataType) -> np.ndarray:
    """Indices of `texts` that do not cast to `typ` (by bisection: few casts when few are bad)."""
    try:
        pc.cast(texts, typ)
        return np.empty(0, np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(texts) == 1:
            return np.zeros(1, np.int64)
    mid = len(texts) // 2
    return np.concatenate([bad_casts(texts[:mid], typ), mid + bad_casts(texts[mid:], typ)])


def cast_texts(texts: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Parse text as numbers like the CSV reader does (spaces and tabs trimmed): (values [n]
    of `dtype`, 0 where bad; bad indices int64 [k])."""
    trimmed = pc.utf8_trim(texts, characters=" \t")
    typ = pa.from_numpy_dtype(np.dtype(dtype))
    bad = bad_casts(trimmed, typ)
    out = np.zeros(len(texts), dtype)
    good = np.ones(len(texts), bool)
    good[bad] = False
    if good.any():
        out[good] = pc.cast(trimmed.filter(pa.array(good)), typ).to_numpy(zero_copy_only=False)
    return out, bad


def decode_int(col: pa.ChunkedArray, column: str, prio: int, dtype: type, lo: int,
               hi: int | None) -> tuple[np.ndarray, list[RowErrors]]:
    """An integer column (typed, or text to parse) checked against lo..hi and its dtype."""
    hi = int(np.iinfo(dtype).max) if hi is None else min(hi, int(np.iinfo(dtype).max))
    expected = f"an integer from {lo} to {hi}"
    if pa.types.is_integer(col.type):
        vals = col.to_numpy().astype(dtype, copy=False)
        bad = np.flatnonzero((vals < lo) | (vals > hi))
        return vals, value_errors(bad, vals[bad].tolist(), column, prio, expected)
    idx, uniq = encode(col)
    nums, bad_u = cast_texts(uniq, dtype)
    ok = (nums >= lo) & (nums <= hi)
    ok[bad_u] = False
    vals = nums[idx] if len(nums) else np.zeros(len(idx), dtype)
    if ok.all():
        return vals, []
    bad = np.flatnonzero(~ok[idx])
    texts = np.asarray(uniq.to_pylist(), object)[idx[bad]]
    return vals, value_errors(bad, texts, column, prio, expected)


def decode_float(col: pa.ChunkedArray, column: str, prio: int
                 ) -> tuple[np.ndarray, list[RowErrors]]:
    """A float column (typed, or text to parse) as float32."""
    if pa.types.is_floating(col.type):
        return col.to_numpy().astype(np.float32), []
    texts = col.combine_chunks() if col.num_chunks else pa.array([], pa.string())
    vals, bad = cast_texts(texts, np.float64)
    return vals.astype(np.float32), value_errors(
        bad, texts.take(pa.array(bad, pa.int64())).to_pylist(), column, prio, "a number")
