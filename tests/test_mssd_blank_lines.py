"""A blank line in a session log is a line that is not a row: it belongs to no session, so it
cannot split the session around it into two (found by test_fuzz: a finished session, a blank
line, then a repeated copy of the session's last row was kept under ``on_error="drop"``)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from test_mssd import expected_frame, make_sessions, raises_at, render, write

from negrec_lib.data.mssd import ReadReport, read_log

BLOCK_SIZES = [40, 64, 300, 1 << 20]  # small blocks put the blank line at a cut, or next to one
# sessions s0_0 (lines 2-4), s1_0 (5-6), s2_0 (7-11), s3_0 (12-15)
ROWS = make_sessions((3, 2, 5, 4), seed=0)


def _lines() -> list[str]:
    return render(ROWS).splitlines(keepends=True)  # [0] is the header (line 1)


def _drop(path, block_size: int) -> tuple[pd.DataFrame, ReadReport]:
    report = ReadReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read_log(path, on_error="drop", report=report, block_size=block_size)
    return df, report


def _without(*sids: str) -> pd.DataFrame:
    return expected_frame([r for r in ROWS if r["session_id"] not in sids])


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_a_repeated_row_after_a_blank_line_damages_the_finished_session(tmp_path, block_size):
    lines = _lines()
    lines[11:11] = ["\n", lines[10]]  # line 12 blank, line 13 repeats s2_0's last row (line 11)
    path = write(tmp_path / "log.csv", "".join(lines))
    raises_at(path, 12, None, match="blank line", block_size=block_size)
    df, report = _drop(path, block_size)
    pd.testing.assert_frame_equal(df, _without("s2_0"))
    # one damaged session, charged its earliest violation: the blank line
    assert report.sessions_dropped == {"blank_line": 1}
    assert report.examples == {"blank_line": [f"{path}:12"]}
    assert report.rows_read == len(lines) - 1 and report.rows_kept == len(ROWS) - 5


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_a_repeated_row_after_a_finished_session_damages_it(tmp_path, block_size):
    lines = _lines()
    lines[11:11] = [lines[10]]  # the same without the blank line: line 12 repeats line 11
    path = write(tmp_path / "log.csv", "".join(lines))
    raises_at(path, 12, "session_position", match="expected session_position 6 after 5")
    df, report = _drop(path, block_size)
    pd.testing.assert_frame_equal(df, _without("s2_0"))
    assert report.sessions_dropped == {"position_out_of_order": 1}


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_a_blank_line_inside_a_session_drops_it_once(tmp_path, block_size):
    lines = _lines()
    lines.insert(8, "\n")  # line 9 blank, between s2_0's rows 2 and 3
    path = write(tmp_path / "log.csv", "".join(lines))
    raises_at(path, 9, None, match="blank line", block_size=block_size)
    df, report = _drop(path, block_size)
    pd.testing.assert_frame_equal(df, _without("s2_0"))
    # not also "session_ends_early" and "session_not_contiguous": there are no two sessions
    assert report.sessions_dropped == {"blank_line": 1}
    assert report.examples == {"blank_line": [f"{path}:9"]}


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("at", [1, 4, 6, 11])  # after the header, between two sessions
def test_a_blank_line_between_sessions_drops_nothing_but_itself(tmp_path, block_size, at):
    lines = _lines()
    lines.insert(at, "\n")
    path = write(tmp_path / "log.csv", "".join(lines))
    raises_at(path, at + 1, None, match="blank line", block_size=block_size)
    df, report = _drop(path, block_size)
    pd.testing.assert_frame_equal(df, expected_frame(ROWS))
    assert report.sessions_dropped == {"blank_line": 1}
    assert report.examples == {"blank_line": [f"{path}:{at + 1}"]}
    assert report.sessions_kept == 4


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize("blank", [False, True])
def test_a_row_that_reappears_after_another_session_is_dropped_alone(tmp_path, block_size, blank):
    lines = _lines()
    lines += ["\n"] * blank + [lines[10], lines[11]]  # after s3_0: s2_0's last row, s3_0's first
    path = write(tmp_path / "log.csv", "".join(lines))
    if blank:
        raises_at(path, 16, None, match="blank line", block_size=block_size)
    else:
        raises_at(path, 16, "session_id", match="appears again", block_size=block_size)
    df, report = _drop(path, block_size)
    # s2_0 was finished and valid before s3_0 began (a streaming reader has kept it by then):
    # only the stray rows go, each a run of its own; the blank line is charged to the first
    pd.testing.assert_frame_equal(df, expected_frame(ROWS))
    if blank:
        assert report.sessions_dropped == {"blank_line": 1, "session_not_contiguous": 1}
        assert report.examples["blank_line"] == [f"{path}:16"]
    else:
        assert report.sessions_dropped == {"session_not_contiguous": 2}
