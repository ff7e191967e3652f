"""Real-file quirks: re-saved dates, samples cut mid-session, truncated gzip, `on_error="drop"`
that keeps nothing, and track-feature files under `on_error`."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import warnings
from pathlib import Path

import pytest
from test_mssd import ROWS, expected_frame, make_sessions, raises_at, render, write

from negrec_lib.config import DataConfig
from negrec_lib.data.mssd import ReadReport, read_log
from negrec_lib.data.prepare import prepare
from negrec_lib.data.sessions import SessionData
from negrec_lib.errors import MSSDFormatError, PreparedDataError
from negrec_lib.sim import simulate


def _with_dates(rows: list[dict], spell) -> list[dict]:
    return [{**r, "date": spell(r["date"])} for r in rows]


# ----------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    "spell",
    [
        lambda d: d.isoformat(),
        lambda d: f"{d.isoformat()} 00:00:00",
        lambda d: f"{d.isoformat()}T13:45:00Z",
        lambda d: d.strftime("%d/%m/%Y"),
        lambda d: d.strftime("%d-%m-%y"),
        lambda d: d.strftime("%y-%m-%d"),
    ],
    ids=["iso", "iso_time", "iso_t", "dd/mm/yyyy", "dd-mm-yy", "yy-mm-dd"],
)
def test_every_date_spelling_reads_as_the_same_day(tmp_path, spell):
    got = read_log(write(tmp_path / "log.csv", render(_with_dates(ROWS, spell))))
    assert got["date"].tolist() == expected_frame(ROWS)["date"].tolist()


def test_two_digit_dates_outside_mssd_are_refused_unless_the_format_is_given(tmp_path):
    rows = [{**r, "date": "05-07-20"} for r in ROWS]  # 2020-07-05 or 2005-07-20?
    path = write(tmp_path / "log.csv", render(rows))
    err = raises_at(path, 2, "date", match="ambiguous")
    assert "2020-07-05" in str(err) and "2005-07-20" in str(err) and "date_format" in str(err)
    as_dmy = read_log(path, date_format="dd-mm-yy")["date"].iloc[0]
    as_ymd = read_log(path, date_format="yy-mm-dd")["date"].iloc[0]
    assert (as_dmy.date(), as_ymd.date()) == (dt.date(2020, 7, 5), dt.date(2005, 7, 20))


def test_a_two_digit_date_with_one_reading_outside_mssd_is_not_taken_silently(tmp_path):
    rows = [{**r, "date": "31-02-18"} for r in ROWS]  # no 31 February: only 2031-02-18
    path = write(tmp_path / "log.csv", render(rows))
    err = raises_at(path, 2, "date", match="MSSD's range")
    assert "date_format" in str(err)
    assert read_log(path, date_format="yy-mm-dd")["date"].iloc[0].date() == dt.date(2031, 2, 18)


def test_a_named_date_format_refuses_other_spellings(tmp_path):
    path = write(tmp_path / "log.csv", render(ROWS))  # ISO
    raises_at(path, 2, "date", match="dd-mm-yy", date_format="dd-mm-yy")


# ----------------------------------------------------------------------------- cut samples
def _cut(rows: list[dict], front: int = 0, back: int = 0) -> list[dict]:
    return rows[front : len(rows) - back]


def test_a_file_that_ends_inside_a_session_says_so(tmp_path):
    path = write(tmp_path / "log.csv", render(_cut(ROWS, back=1)))  # session 3: 1 of 2 rows
    err = raises_at(path, 9, "session_length", match="ends after 1 of the 2 rows")
    assert "partial_sessions" in str(err) and "ordered" not in str(err)


def test_a_file_that_starts_inside_a_session_says_so(tmp_path):
    path = write(tmp_path / "log.csv", render(_cut(ROWS, front=1)))  # session 1 from row 2
    raises_at(path, 2, "session_position", match="starts inside session")


@pytest.mark.parametrize("block_size", [1 << 20, 200])
def test_partial_sessions_drop_and_keep(tmp_path, block_size):
    rows = make_sessions((3, 4, 2, 5))
    cut = _cut(rows, front=1, back=2)  # sessions 1 and 4 cut
    path = write(tmp_path / "log.csv", render(cut))
    report = ReadReport()
    dropped = read_log(path, partial_sessions="drop", report=report, block_size=block_size)
    assert dropped.equals(expected_frame(rows[3:9]))
    assert report.sessions_dropped == {"partial_session": 2}
    kept = read_log(path, partial_sessions="keep", block_size=block_size)
    assert kept.equals(expected_frame(cut))


def test_partial_sessions_under_on_error_drop_are_counted_as_partial(tmp_path):
    path = write(tmp_path / "log.csv", render(_cut(ROWS, back=1)))
    report = ReadReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = read_log(path, on_error="drop", report=report)
    assert got.equals(expected_frame(ROWS[:7]))
    assert report.sessions_dropped == {"partial_session": 1}


# ----------------------------------------------------------------------------- gzip
def test_truncated_gzip_names_the_last_complete_line(tmp_path):
    text = render(make_sessions((20,) * 40))
    data = gzip.compress(text.encode(), compresslevel=1)
    err = raises_at(
        write(tmp_path / "log.csv.gz", data[: len(data) // 2]), None, match="after line"
    )
    last = int(str(err).split("after line ")[1].split(",")[0])
    # every line up to `last` was decompressed: it is a prefix of the file
    assert 1 <= last < text.count("\n")


def test_concatenated_gzip_members_read_as_one_file(tmp_path):
    text = render(ROWS).encode()
    path = write(tmp_path / "log.csv.gz", gzip.compress(text[:150]) + gzip.compress(text[150:]))
    assert read_log(path).equals(expected_frame(ROWS))


# ----------------------------------------------------------------------------- prepare
@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "mssd"
    simulate(out, sessions=300, tracks=150, skip_signal=0.8, seed=5, days=4, progress=False)
    return out


def test_drop_that_keeps_nothing_fails_with_the_reasons(raw, tmp_path):
    src = tmp_path / "bad"
    shutil.copytree(raw, src)
    for f in (src / "training_set").glob("log_*.csv"):
        lines = f.read_text().splitlines()
        f.write_text(
            "\n".join([lines[0]] + [ln.replace("true", "maybe") for ln in lines[1:]]) + "\n"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PreparedDataError, match="no session was kept") as err:
            prepare(src, tmp_path / "p", DataConfig(on_error="drop"), progress=False)
    assert "bad_value" in str(err.value)
    assert not (tmp_path / "p").exists()


def _break_features(src: Path, how: str) -> None:
    tf = next((src / "track_features").glob("tf_*.csv"))
    lines = tf.read_text().splitlines()
    if how == "row":
        fields = lines[3].split(",")
        fields[1] = "not-a-number"
        lines[3] = ",".join(fields)
        tf.write_text("\n".join(lines) + "\n")
    else:
        tf.write_text("this,is,not\na,feature,file\n")


def test_bad_feature_rows_fail_by_default_and_are_dropped_under_drop(raw, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(raw, src)
    _break_features(src, "row")
    with pytest.raises(MSSDFormatError) as err:
        prepare(src, tmp_path / "a", DataConfig(), progress=False)
    assert err.value.line == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        man = prepare(src, tmp_path / "b", DataConfig(on_error="drop"), progress=False)
    assert man["features"]["available"] and sum(man["features"]["rows_dropped"].values()) == 1
    assert SessionData.load(tmp_path / "b").features is not None


def test_an_unreadable_feature_file_disables_features_under_drop(raw, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(raw, src)
    _break_features(src, "file")
    with pytest.raises(MSSDFormatError):
        prepare(src, tmp_path / "a", DataConfig(), progress=False)
    with pytest.warns(UserWarning, match="track features disabled"):
        man = prepare(src, tmp_path / "b", DataConfig(on_error="drop"), progress=False)
    assert man["features"]["available"] is False and "error" in man["features"]
    assert SessionData.load(tmp_path / "b").features is None
