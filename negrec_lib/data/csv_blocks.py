"""A CSV file cut into blocks of whole lines, plain or gzip: the bottom of the block reader.

Why a hand-written reader, and not `pandas.read_csv` or `pyarrow.csv.open_csv`:

- **exact line numbers**: every error names the 1-based line of the (decompressed) file, so
  blank lines are kept and a line with the wrong field count is recorded, not skipped;
- **streaming**: memory stays a few blocks whatever the file size (plain files are
  memory-mapped and each parsed block's pages handed back to the OS; gzip files are
  decompressed block by block, and a truncated stream still yields every complete line);
- **parallel parse**: blocks are parsed by `pyarrow.csv.read_csv` on worker threads (it
  releases the GIL) in file order (`csv_parse.pipelined`). `pyarrow.csv.open_csv` streams
  too, but parses on one thread: on two cores it measured about a third of the throughput.

This module knows nothing of any particular format: `csv_parse` parses a block into a table,
`csv_columns` decodes its columns with row-exact errors, and `mssd/` applies the MSSD schema.
Errors are raised as the `error` class the caller passes (a `NegrecFileError` subclass).
"""

from __future__ import annotations

import csv
import mmap
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from negrec_lib.errors import NegrecFileError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_MAX_HEADER = 16 << 20


class _GzipStream:
    """Decompresses a gzip file (one or more members) into caller buffers. Unlike a stream that
    fails a whole read, it hands over every byte decoded before a truncation or corruption,
    and raises only on the read after them, so the caller knows the last complete line."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # closed in close()
        self._z = zlib.decompressobj(wbits=31)
        self._buf, self._pos, self._end = b"", 0, False

    def readinto(self, view: memoryview) -> int:
        out = 0
        while out < len(view):
            if self._pos < len(self._buf):
                k = min(len(view) - out, len(self._buf) - self._pos)
                view[out : out + k] = self._buf[self._pos : self._pos + k]
                self._pos += k
                out += k
                continue
            if self._end:
                break
            if out:  # hand over what there is before decoding further
                break
            chunk = self._file.read(1 << 20)
            if not chunk:
                self._end = True
                if not self._z.eof:
                    raise EOFError("the compressed stream ends before its end marker")
                break
            buf = self._z.decompress(chunk)
            while self._z.eof and self._z.unused_data:  # the next gzip member
                rest = self._z.unused_data
                self._z = zlib.decompressobj(wbits=31)
                buf += self._z.decompress(rest)
            self._buf, self._pos = buf, 0
        return out

    def close(self) -> None:
        self._file.close()


class CSVFile:
    """A CSV file opened for block-wise reading: header parsed, body cut at line ends.

    Parameters
    ----------
    path : a plain or gzip-compressed CSV file (gzip is recognised by its magic bytes)
    block_size : about how many bytes each block of `blocks` holds
    error : the exception class raised for a missing, empty or unreadable file

    Attributes
    ----------
    names : the header's fields, in file order (a UTF-8 byte-order mark is dropped)
    compressed : whether the file is gzip
    """

    def __init__(
        self, path: Path, block_size: int, error: type[NegrecFileError] = NegrecFileError
    ) -> None:
        self.path = Path(path)
        self.error = error
        self.block_size = max(int(block_size), 1)
        if not self.path.is_file():
            raise self.error("file not found", self.path)
        if self.path.stat().st_size == 0:
            raise self.error("the file is empty (0 bytes); expected a header line", self.path, 1)
        self._newlines = 0  # line ends decompressed so far (gzip files)
        try:
            self._file = open(self.path, "rb")  # closed in close()
        except OSError as exc:
            raise self.error(f"cannot open the file ({exc.strerror or exc})", self.path) from None
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
                    raise self.error("the first line is longer than 16 MiB", self.path, 1)
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
                self._newlines += int(
                    np.count_nonzero(np.frombuffer(view[got : got + n], np.uint8) == 10)
                )
                got += n
        except (OSError, pa.ArrowException, EOFError, ValueError, zlib.error) as e:
            done = self._newlines
            where = (
                f"after line {done}, the last complete line (the header is line 1)"
                if done
                else "before the end of the header line"
            )
            raise self.error(
                f"cannot decompress the file: the gzip data is truncated or "
                f"corrupt {where}; what follows is lost ({e}). Re-download "
                "or re-compress the file",
                self.path,
            ) from None
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
                raise self.error("the first line is longer than 16 MiB", self.path, 1)
        if not data:
            raise self.error("the file is empty (no header line)", self.path, 1)
        if end < 0:
            self._rest = b""
            return data
        self._rest = data[end + 1 :]
        return data[:end]

    def _parse_header(self, head: bytes) -> list[str]:
        if head.startswith(UTF8_BOM):
            head = head[len(UTF8_BOM) :]
        try:
            text = head.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("the header is not valid UTF-8", self.path, 1) from None
        return next(csv.reader([text]), [])

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
        n_blocks = -(-max(n - start, 1) // self.block_size)  # ceil
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
                buf[: len(rest)] = rest
                n = len(rest) + self._fill(memoryview(buf)[len(rest) :])
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
    return j + 2 if buf[j : j + 2] == b"\r\n" else j + 1
