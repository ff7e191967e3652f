"""A line that is not valid UTF-8 (a file saved as latin-1, say) is refused with the file, its
line and what to do, whether or not its field count is right, under both error policies.

Found by test_fuzz: pyarrow decodes an invalid row's text before it calls the
`invalid_row_handler`, strictly, so for such a line the handler was never called; the
UnicodeDecodeError was swallowed (an "Exception ignored" on stderr, a
PytestUnraisableExceptionWarning under pytest) and the row taken as an error. The reader then
named the first undecodable line of the block, which could be another line (one whose bytes
lie in a column that is not read) and an internal column name, and never said that the field
count was wrong. A file in another encoding is refused as a whole, as the fuzz reference reader
expects (it has no valid session): nothing of it is kept, nothing is dropped unseen.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd
import pyarrow as pa
import pytest
from test_mssd import (
    expected_frame,
    make_sessions,
    make_tracks,
    raises_at,
    render,
    render_tf,
    tf_raises_at,
    write,
)

from negrec_lib.config import DataConfig
from negrec_lib.data import schema
from negrec_lib.data.csv_parse import BlockSpec, _BlockError, parse_block
from negrec_lib.data.mssd import ReadReport, read_log
from negrec_lib.data.prepare import prepare
from negrec_lib.errors import MSSDFormatError

ROWS = make_sessions((3, 2, 4), seed=0)  # s0_0 on lines 2-4, s1_0 on 5-6, s2_0 on 7-10
N = len(schema.LOG_COLUMNS)
BLOCK_SIZES = [64, 300, 1 << 20]  # the bad line alone in a block, at a cut, in the only block
MODES = ["raise", "drop"]


@pytest.fixture(autouse=True)
def no_unraisable(monkeypatch):
    """Fail on any exception Python could only report as unraisable (one raised in pyarrow's
    invalid-row callback, for instance)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    yield
    assert not seen, [f"{u.exc_type.__name__}: {u.exc_value}" for u in seen]


def _lines() -> list[bytes]:
    """The file's lines as bytes, without line ends; [0] is the header (line 1)."""
    return render(ROWS).encode().split(b"\n")[:-1]


def _with_note(latin1_on: int) -> list[bytes]:
    """`_lines` with a last column "note" (not an MSSD column: not read), latin-1 on one line."""
    lines = _lines()
    return [lines[0] + b",note"] + [
        ln + (b",caf\xe9" if i == latin1_on else b",x") for i, ln in enumerate(lines) if i
    ]


def _file(tmp_path, lines: list[bytes], eol: bytes = b"\n", gz: bool = False):
    name = "log.csv.gz" if gz else "log.csv"
    return write(tmp_path / name, eol.join(lines) + eol, gz=gz)


def _read(path, on_error: str, block_size: int, **kw) -> tuple[pd.DataFrame, ReadReport]:
    report = ReadReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read_log(path, on_error=on_error, report=report, block_size=block_size, **kw)
    return df, report


def _with_extra_field(line: bytes) -> bytes:
    return line + b",caf\xe9"  # latin-1 for 'café'


def _without_last_field(line: bytes) -> bytes:
    return b",".join(line.split(b",")[:-1]).replace(b"t_", b"t\xe9_", 1)


# ---------------------------------------------------------------------------------------------
# Through the reader
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("on_error", MODES)
@pytest.mark.parametrize(
    ("damage", "got"), [(_with_extra_field, N + 1), (_without_last_field, N - 1)]
)
def test_wrong_field_count_and_not_utf8(tmp_path, damage, got, on_error, block_size, eol, gz):
    lines = _lines()
    lines[5] = damage(lines[5])  # line 6, in session s1_0
    path = _file(tmp_path, lines, eol, gz)
    err = raises_at(
        path,
        6,
        None,
        match="not valid UTF-8",
        on_error=on_error,
        block_size=block_size,
    )
    text = str(err)
    assert str(path) in text and "line 6" in text
    assert f"it has {got} comma-separated fields where {N} are expected" in text
    assert "byte 0xe9" in text and "Convert it to UTF-8" in text


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("on_error", MODES)
def test_right_field_count_but_not_utf8(tmp_path, on_error, block_size):
    lines = _lines()
    lines[5] = lines[5].replace(b"s1_0", b"s1\xe9_0", 1)
    path = _file(tmp_path, lines)
    err = raises_at(
        path,
        6,
        "session_id",
        match=r"not valid UTF-8 text \(byte 0xe9 at byte 3\): 's1\\xe9_0'",
        on_error=on_error,
        block_size=block_size,
    )
    assert "another encoding" in str(err)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("on_error", MODES)
def test_quoted_comma_counts_as_one_field(tmp_path, on_error, block_size):
    lines = _lines()
    fields = lines[5].split(b",")
    fields[3] = b'"t\xe9,1"'  # track_id_clean: one field with a comma, so the count is right
    lines[5] = b",".join(fields)
    path = _file(tmp_path, lines)
    raises_at(
        path, 6, "track_id_clean", match="not valid UTF-8", on_error=on_error, block_size=block_size
    )


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("on_error", MODES)
def test_bytes_in_a_column_not_read_are_let_be(tmp_path, on_error, block_size):
    path = _file(tmp_path, _with_note(latin1_on=3))
    df, report = _read(path, on_error, block_size)
    pd.testing.assert_frame_equal(df, expected_frame(ROWS))
    assert report.rows_read == report.rows_kept == len(ROWS) and not report.sessions_dropped


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("on_error", MODES)
def test_the_line_named_is_the_bad_one(tmp_path, on_error, block_size):
    """Line 4 holds latin-1 in a column not read (harmless), line 7 has a field too many and
    latin-1: line 7 is named (it was line 4, column '__extra_21', before)."""
    lines = _with_note(latin1_on=3)
    lines[6] = _with_extra_field(lines[6])
    path = _file(tmp_path, lines)
    err = raises_at(
        path, 7, None, match="not valid UTF-8", on_error=on_error, block_size=block_size
    )
    assert f"it has {N + 2} comma-separated fields where {N + 1} are expected" in str(err)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_a_wrong_field_count_in_utf8_is_still_dropped_and_counted(tmp_path, block_size):
    lines = _lines()
    lines[5] = lines[5] + ",café".encode()  # valid UTF-8: a malformed row like any other
    path = _file(tmp_path, lines)
    raises_at(path, 6, None, match=f"expected {N} comma-separated fields, got {N + 1}")
    df, report = _read(path, "drop", block_size)
    pd.testing.assert_frame_equal(
        df, expected_frame([r for r in ROWS if r["session_id"] != "s1_0"])
    )
    assert report.sessions_dropped == {"malformed_row": 1}
    assert report.examples == {"malformed_row": [f"{path}:6"]}
    assert report.rows_read == len(ROWS) and report.rows_kept == len(ROWS) - 2


def test_track_features(tmp_path):
    lines = render_tf(make_tracks()).encode().split(b"\n")[:-1]
    lines[3] = _with_extra_field(lines[3])
    path = write(tmp_path / "tf_0.csv", b"\n".join(lines) + b"\n")
    for on_error in MODES:
        tf_raises_at(path, 4, None, match="not valid UTF-8.*fields where", on_error=on_error)


def test_prepare_with_drop_names_the_file_and_line(tmp_path):
    lines = _lines()
    lines[5] = _with_extra_field(lines[5])
    path = _file(tmp_path, lines)
    with pytest.raises(MSSDFormatError, match="not valid UTF-8") as info:
        prepare(path, tmp_path / "out", DataConfig(on_error="drop"), progress=False)
    assert info.value.path == path and info.value.line == 6


# ---------------------------------------------------------------------------------------------
# parse_block itself
# ---------------------------------------------------------------------------------------------
SPEC = BlockSpec(["a", "b", "c"], ["a", "b"], {"a": pa.int64(), "b": pa.string()}, (), ())


def _parse(data: bytes, quoted: bool = False):
    return parse_block(pa.py_buffer(data), quoted, SPEC)


def test_parse_block_names_the_undecodable_line():
    with pytest.raises(_BlockError) as info:
        _parse(b"1,x,y\n2,x\n3,caf\xe9\n4,x,y\n")  # line 2: 2 fields; line 3: 2 and latin-1
    e = info.value
    assert (e.local_line, e.column) == (2, None)
    assert "not valid UTF-8 text (byte 0xe9 at byte 6)" in e.message
    assert "it has 2 comma-separated fields where 3 are expected: '3,caf\\xe9'" in e.message
    with pytest.raises(_BlockError) as info:
        _parse(b"1,x,y\r\n2,caf\xe9,y\r\n")
    assert (info.value.local_line, info.value.column) == (1, "b")
    with pytest.raises(_BlockError) as info:
        _parse(b'1,x,y\r\n2,"\xe9,",y\r\n', quoted=True)  # the quoted comma is no separator
    assert (info.value.local_line, info.value.column) == (1, "b")
    with pytest.raises(_BlockError) as info:
        _parse(b"1,x,y\r2,x,y\n3,\xe9\n")  # a lone \r ends a line too
    assert info.value.local_line == 2


def test_parse_block_keeps_rows_whose_bad_bytes_are_not_read():
    p = _parse(b"1,x,\xe9\n2,y\n3,z,caf\xe9\n")
    assert p.table.column("a").to_pylist() == [1, 3] and p.table.column("b").to_pylist() == [
        "x",
        "z",
    ]
    assert p.row_lines.tolist() == [0, 2] and p.n_lines == 3
    assert p.malformed == [(1, "expected 3 comma-separated fields, got 2: '2,y'")]
