"""The MSSD reader: valid spellings read exactly, every malformed input names file, line, column."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from negrec_lib.data import schema
from negrec_lib.data.mssd import (
    VALUE_COLUMNS,
    LogBlock,
    MSSDFormatError,
    ReadReport,
    find_log_files,
    find_tf_files,
    iter_log_blocks,
    read_log,
    read_track_features,
)

COLS = schema.LOG_COLUMNS
# the dtypes the API promises (LogBlock.columns; read_log uses the same)
DTYPES = {
    "session_position": np.int16,
    "session_length": np.int16,
    "hist_user_behavior_n_seekfwd": np.int32,
    "hist_user_behavior_n_seekback": np.int32,
    "hour_of_day": np.int8,
    **{c: np.bool_ for c in schema.LOG_BOOL_COLUMNS + schema.LOG_FLAG_COLUMNS},
}


# ---------------------------------------------------------------------------------------------
# Writing small MSSD files
# ---------------------------------------------------------------------------------------------
def make_sessions(lengths=(3, 4, 2), seed: int = 0, prefix: str = "s") -> list[dict]:
    """Valid rows (typed values) for sessions of the given lengths."""
    rng = random.Random(seed)
    rows = []
    for s, length in enumerate(lengths):
        ctx = rng.choice(schema.CONTEXT_TYPES)
        hour, premium, shuffle = rng.randrange(24), rng.random() < 0.8, rng.random() < 0.3
        day = dt.date(2018, 7, 15) + dt.timedelta(days=rng.randrange(60))
        for p in range(1, length + 1):
            strength = rng.randrange(4)
            rows.append(
                {
                    "session_id": f"{prefix}{s}_{seed}",
                    "session_position": p,
                    "session_length": length,
                    "track_id_clean": f"t_{rng.randrange(12)}",
                    "skip_1": strength >= 3,
                    "skip_2": strength >= 2,
                    "skip_3": strength >= 1,
                    "not_skipped": strength == 0,
                    "context_switch": rng.random() < 0.1,
                    "no_pause_before_play": p % 2 == 0,
                    "short_pause_before_play": False,
                    "long_pause_before_play": p == 1,
                    "hist_user_behavior_n_seekfwd": rng.randrange(3),
                    "hist_user_behavior_n_seekback": rng.randrange(2),
                    "hist_user_behavior_is_shuffle": shuffle,
                    "hour_of_day": hour,
                    # a session may cross midnight: the date may change inside it
                    "date": day + dt.timedelta(days=int(p == length and length > 3)),
                    "premium": premium,
                    "context_type": ctx,
                    "hist_user_behavior_reason_start": rng.choice(schema.REASONS_START),
                    "hist_user_behavior_reason_end": rng.choice(schema.REASONS_END),
                }
            )
    return rows


MISSING = object()  # a field value that render() leaves out (the row loses a field)


def render(
    rows: list[dict],
    columns=COLS,
    *,
    bools=("true", "false"),
    flags=("1", "0"),
    dates="iso",
    eol="\n",
    bom=False,
    sep=",",
) -> str:
    """CSV text of `rows`; str values are written verbatim (that is how tests corrupt them)."""

    def cell(col, v):
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            spell = flags if col in schema.LOG_FLAG_COLUMNS else bools
            return spell[0] if v else spell[1]
        if isinstance(v, dt.date):
            return v.isoformat() if dates == "iso" else v.strftime("%d-%m-%y")
        return str(v)

    lines = [sep.join(columns)] + [
        sep.join(cell(c, r[c]) for c in columns if r[c] is not MISSING) for r in rows
    ]
    return ("\ufeff" if bom else "") + eol.join(lines) + eol


def write(path: Path, text: str | bytes, gz: bool = False) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def expected_frame(rows: list[dict]) -> pd.DataFrame:
    """What read_log must return for valid `rows`."""
    df = pd.DataFrame(rows, columns=list(COLS))
    for c, d in DTYPES.items():
        df[c] = df[c].astype(d)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for c, cats in schema.LOG_CATEGORICAL_COLUMNS.items():
        df[c] = pd.Categorical(df[c], categories=list(cats))
    return df


def assert_reads_as(path, rows, **kw) -> None:
    got = read_log(path, **kw)
    pd.testing.assert_frame_equal(got, expected_frame(rows), check_dtype=True)


def raises_at(path, line, column=None, *, match=None, reader=read_log, **kw) -> MSSDFormatError:
    """Reading `path` raises MSSDFormatError naming that file, `line` and `column`."""
    with pytest.raises(MSSDFormatError, match=match) as info:
        reader(path, **kw)
    err = info.value
    assert err.path == Path(path), str(err)
    assert err.line == line, str(err)
    assert err.column == column, str(err)
    return err


ROWS = make_sessions()  # 3 sessions, lengths 3/4/2: data rows on lines 2-4, 5-8, 9-10


def corrupt(row: int, col: str, value: str, rows=None) -> list[dict]:
    rows = [dict(r) for r in (rows or ROWS)]
    rows[row][col] = value
    return rows


# ---------------------------------------------------------------------------------------------
# Valid files
# ---------------------------------------------------------------------------------------------
def test_plain_file_reads_exactly(tmp_path):
    path = write(tmp_path / "log_0.csv", render(ROWS))
    assert_reads_as(path, ROWS)
    blocks = list(iter_log_blocks(path))
    b = blocks[0]
    assert isinstance(b, LogBlock) and b.n_rows == 9 and b.n_sessions == 3
    assert list(b.session_ids) == ["s0_0", "s1_0", "s2_0"]
    assert b.session_starts.tolist() == [0, 3, 7] and b.lines.tolist() == list(range(2, 11))
    assert set(b.columns) == set(VALUE_COLUMNS) == set(COLS) - {"session_id", "track_id_clean"}
    for c, d in DTYPES.items():
        assert b.columns[c].dtype == d, c
    assert b.columns["date"].dtype == np.int32 and b.track_codes.dtype == np.int32
    assert all(b.columns[c].dtype == np.int8 for c in schema.LOG_CATEGORICAL_COLUMNS)
    assert [b.track_names[c] for c in b.track_codes] == [r["track_id_clean"] for r in ROWS]
    assert b.columns["context_type"][0] == schema.CONTEXT_TYPES.index(ROWS[0]["context_type"])
    first_day = (ROWS[3]["date"] - dt.date(1970, 1, 1)).days
    assert b.session_dates[1] == first_day and b.columns["date"][6] == first_day + 1


@pytest.mark.parametrize(
    "variant",
    [
        dict(eol="\r\n"),
        dict(bom=True),
        dict(bom=True, eol="\r\n"),
        dict(bools=("True", "False")),
        dict(bools=("TRUE", "FALSE")),
        dict(bools=("1", "0")),
        dict(flags=("true", "false")),
        dict(dates="dmy"),
    ],
    ids=lambda v: "-".join(f"{k}={v!r}" for k, v in v.items()),
)
def test_valid_spellings(tmp_path, variant):
    path = write(tmp_path / "log.csv", render(ROWS, **variant))
    assert_reads_as(path, ROWS)


def test_dmy_dates_equal_iso_dates(tmp_path):
    a = read_log(write(tmp_path / "a.csv", render(ROWS, dates="iso")))
    b = read_log(write(tmp_path / "b.csv", render(ROWS, dates="dmy")))
    pd.testing.assert_frame_equal(a, b)


def test_gzip_file(tmp_path):
    path = write(tmp_path / "log_0.csv.gz", render(ROWS, eol="\r\n"), gz=True)
    assert_reads_as(path, ROWS)


def test_folder_and_dataset_root(tmp_path):
    a, b = make_sessions((2, 3), seed=1), make_sessions((4,), seed=2)
    write(tmp_path / "root" / "training_set" / "log_1.csv.gz", render(b), gz=True)
    write(tmp_path / "root" / "training_set" / "log_0.csv", render(a))
    write(tmp_path / "root" / "training_set" / "notes.txt", "not a log")
    folder = tmp_path / "root" / "training_set"
    assert [p.name for p in find_log_files(folder)] == ["log_0.csv", "log_1.csv.gz"]
    assert find_log_files(tmp_path / "root") == find_log_files(folder)
    assert_reads_as(folder, a + b)
    assert_reads_as(tmp_path / "root", a + b)
    blocks = list(iter_log_blocks(tmp_path / "root"))
    assert [blk.path.name for blk in blocks] == ["log_0.csv", "log_1.csv.gz"]


def test_extra_column_and_shuffled_order(tmp_path):
    rows = [dict(r, extra_note="x,y" if i % 2 else "plain") for i, r in enumerate(ROWS)]
    for r in rows:
        r["extra_note"] = f'"{r["extra_note"]}"'  # a quoted field with a comma in it
    cols = list(COLS) + ["extra_note"]
    random.Random(3).shuffle(cols)
    assert_reads_as(write(tmp_path / "log.csv", render(rows, cols)), ROWS)


def test_quoted_fields(tmp_path):
    rows = [
        dict(r, context_type=f'"{r["context_type"]}"', session_id=f'"{r["session_id"]}"')
        for r in ROWS
    ]
    assert_reads_as(write(tmp_path / "log.csv", render(rows)), ROWS)


def test_sessions_straddling_blocks(tmp_path):
    rows = make_sessions((5, 1, 7, 3, 2, 6, 4), seed=5)
    path = write(tmp_path / "log.csv", render(rows))
    big = read_log(path)
    for block_size in (37, 100, 333, 1000):
        blocks = list(iter_log_blocks(path, block_size=block_size))
        assert len(blocks) > 1
        for b in blocks:  # whole sessions only
            assert (b.columns["session_length"][b.session_starts] == b.session_lengths).all()
        pd.testing.assert_frame_equal(read_log(path, block_size=block_size), big)
    pd.testing.assert_frame_equal(big, expected_frame(rows))


def test_trailing_blank_lines_and_no_final_newline(tmp_path):
    assert_reads_as(write(tmp_path / "a.csv", render(ROWS) + "\n\r\n"), ROWS)
    assert_reads_as(write(tmp_path / "b.csv", render(ROWS).rstrip("\n")), ROWS)
    assert_reads_as(
        write(tmp_path / "c.csv.gz", render(ROWS, eol="\r\n").rstrip(), gz=True),
        ROWS,
        block_size=50,
    )


def test_blocks_stay_small(tmp_path):
    rows = make_sessions((20,) * 50, seed=9)  # about 200 KB
    path = write(tmp_path / "log.csv", render(rows))
    blocks = list(iter_log_blocks(path, block_size=8 << 10))
    assert len(blocks) > 10
    assert max(b.n_rows for b in blocks) < 2 * 8192 // 150 + 20  # a block and one session
    assert sum(b.n_sessions for b in blocks) == 50
    pd.testing.assert_frame_equal(
        pd.concat([b.to_frame() for b in blocks], ignore_index=True), expected_frame(rows)
    )


def test_blocks_are_equal_and_a_multiple_of_the_workers(tmp_path):
    """A plain file is cut into blocks of nearly equal size, as many as a multiple of the
    workers: no sliver of a last block that leaves the other workers idle."""
    from negrec_lib.data.csv_blocks import CSVFile

    path = write(tmp_path / "log.csv", render(make_sessions((20,) * 50, seed=9)))
    longest = max(len(line) for line in path.read_bytes().splitlines(keepends=True))
    for workers, block_size in ((2, 8 << 10), (3, 8 << 10), (2, 30 << 10), (4, 5 << 10)):
        csvf = CSVFile(path, block_size)
        try:
            sizes = [b.size for b, _ in csvf.blocks(workers)]
        finally:
            csvf.close()
        assert len(sizes) % workers == 0 and len(sizes) >= path.stat().st_size // block_size
        assert max(sizes) - min(sizes) <= 2 * longest, sizes


def test_on_file_read_is_called_once_per_file_before_its_last_block(tmp_path):
    root = tmp_path / "root" / "training_set"
    for k in range(2):
        write(root / f"log_{k}.csv", render(make_sessions((20,) * 40, seed=k, prefix=f"f{k}_")))
    calls = []
    for block in iter_log_blocks(tmp_path / "root", block_size=4 << 10, on_file_read=calls.append):
        calls.append(("block", block.path))
    files = sorted(root.glob("log_*.csv"))
    assert [c for c in calls if not isinstance(c, tuple)] == files
    for f in files:  # called after the file's first block was read, before its last one
        where = [i for i, c in enumerate(calls) if c == ("block", f)]
        assert where[0] < calls.index(f) < where[-1]


def test_max_sessions(tmp_path):
    path = write(tmp_path / "log.csv", render(ROWS))
    report = ReadReport()
    df = read_log(path, max_sessions=2, report=report, block_size=50)
    assert df["session_id"].unique().tolist() == ["s0_0", "s1_0"]
    assert report.sessions_kept == 2 and report.rows_kept == 7 and report.rows_read == 7


# ---------------------------------------------------------------------------------------------
# Malformed files: each names the file, the exact line and the column
# ---------------------------------------------------------------------------------------------
def _drop_row(i):
    return [r for k, r in enumerate(ROWS) if k != i]


MALFORMED = {  # name: (rows, expected line, expected column)
    "bad_boolean_yes": (corrupt(4, "skip_1", "yes"), 6, "skip_1"),
    "bad_boolean_empty": (corrupt(0, "premium", ""), 2, "premium"),
    "bad_flag_value": (corrupt(2, "context_switch", "2"), 4, "context_switch"),
    "non_integer_position": (corrupt(5, "session_position", "3.0"), 7, "session_position"),
    "gap_in_positions": (_drop_row(5), 7, "session_position"),
    "duplicate_position": (corrupt(5, "session_position", "2"), 7, "session_position"),
    "position_exceeds_length": (
        ROWS[:3] + [dict(ROWS[2], session_position=4)] + ROWS[3:],
        5,
        "session_position",
    ),
    "session_length_changes": (corrupt(4, "session_length", "5"), 6, "session_length"),
    "session_ends_early": (_drop_row(6), 8, "session_id"),
    "session_ends_early_at_eof": (ROWS[:-1], 9, "session_length"),
    "session_reappears": (ROWS + ROWS[:3], 11, "session_id"),
    "skips_not_cumulative": (
        corrupt(1, "skip_2", "false", corrupt(1, "skip_1", "true")),
        3,
        "skip_2",
    ),
    "skip_3_missing": (corrupt(1, "skip_3", "false", corrupt(1, "skip_2", "true")), 3, "skip_3"),
    "unknown_context_type": (corrupt(7, "context_type", "podcast"), 9, "context_type"),
    "unknown_reason_end": (
        corrupt(8, "hist_user_behavior_reason_end", "teleport"),
        10,
        "hist_user_behavior_reason_end",
    ),
    "hour_24": (corrupt(3, "hour_of_day", "24"), 5, "hour_of_day"),
    "negative_seek": (
        corrupt(3, "hist_user_behavior_n_seekback", "-1"),
        5,
        "hist_user_behavior_n_seekback",
    ),
    "date_month_13": (corrupt(2, "date", "2018-13-45"), 4, "date"),
    "date_yesterday": (corrupt(2, "date", "yesterday"), 4, "date"),
    "empty_track_id": (corrupt(2, "track_id_clean", ""), 4, "track_id_clean"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_values_and_structure(tmp_path, name):
    rows, line, column = MALFORMED[name]
    path = write(tmp_path / "log_0.csv", render(rows))
    raises_at(path, line, column)
    # the same file gzipped, with CRLF, read in tiny blocks: the same line
    gz = write(tmp_path / "log_1.csv.gz", render(rows, eol="\r\n"), gz=True)
    raises_at(gz, line, column, block_size=64)


def test_messages_say_what_is_expected(tmp_path):
    err = raises_at(write(tmp_path / "a.csv", render(MALFORMED["bad_boolean_yes"][0])), 6, "skip_1")
    assert "expected true/false" in str(err) and "'yes'" in str(err) and "a.csv" in str(err)
    err = raises_at(
        write(tmp_path / "b.csv", render(MALFORMED["gap_in_positions"][0])), 7, "session_position"
    )
    assert "expected session_position 3 after 2 in session 's1_0'" in str(err)
    assert "consecutive and ordered" in str(err)
    err = raises_at(write(tmp_path / "c.csv", render(MALFORMED["hour_24"][0])), 5, "hour_of_day")
    assert "from 0 to 23, got 24" in str(err)


def test_duplicate_column_and_bad_option(tmp_path):
    cols = list(COLS) + ["skip_1"]
    raises_at(write(tmp_path / "log.csv", render(ROWS, cols)), 1, "skip_1", match="more than once")
    with pytest.raises(ValueError, match="on_error"):
        read_log(write(tmp_path / "ok.csv", render(ROWS)), on_error="ignore")


def test_missing_column(tmp_path):
    cols = [c for c in COLS if c != "skip_2"]
    err = raises_at(write(tmp_path / "log.csv", render(ROWS, cols)), 1, "skip_2")
    assert "missing required column" in str(err)


def test_empty_file(tmp_path):
    raises_at(write(tmp_path / "log.csv", ""), 1, match="empty")
    raises_at(write(tmp_path / "log_gz.csv.gz", "", gz=True), 1, match="empty")


def test_header_only(tmp_path):
    raises_at(write(tmp_path / "log.csv", ",".join(COLS) + "\n"), 2, match="no data rows")
    raises_at(write(tmp_path / "log2.csv", ",".join(COLS)), 2, match="no data rows")


def test_truncated_and_corrupt_gzip(tmp_path):
    data = gzip.compress(render(make_sessions((20,) * 30)).encode())
    raises_at(write(tmp_path / "log_t.csv.gz", data[: len(data) // 2]), None, match="gzip")
    bad = data[:40] + bytes(64) + data[104:]
    raises_at(write(tmp_path / "log_c.csv.gz", bad), None, match="gzip")


@pytest.mark.parametrize("sep,word", [(";", "semicolons"), ("\t", "tabs")])
def test_wrong_delimiter(tmp_path, sep, word):
    raises_at(write(tmp_path / "log.csv", render(ROWS, sep=sep)), 1, match=word)


def test_blank_line_in_the_middle(tmp_path):
    text = render(ROWS).splitlines(keepends=True)
    text.insert(5, "\n")  # becomes line 6
    err = raises_at(write(tmp_path / "log.csv", "".join(text)), 6, None, match="blank line")
    assert err.reason.startswith("blank line")
    text[5] = "\r\n"
    raises_at(write(tmp_path / "log2.csv", "".join(text)), 6, None, block_size=40)


def test_row_with_wrong_field_count(tmp_path):
    lines = render(ROWS).splitlines(keepends=True)
    lines[4] = lines[4].split(",", 3)[3]  # line 5 loses three fields
    raises_at(write(tmp_path / "log.csv", "".join(lines)), 5, None, match="fields, got 18")


def test_no_log_files_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "tf_0.csv", "track_id\n")
    raises_at(tmp_path / "empty", None, match="no session-log files")
    raises_at(tmp_path / "nope.csv", None, match="no such file")
    with pytest.raises(MSSDFormatError) as info:
        find_tf_files(tmp_path / "empty" / "training_set")
    assert info.value.path == tmp_path / "empty" / "training_set"


def test_invalid_utf8(tmp_path):
    data = render(ROWS).encode()
    lines = data.split(b"\n")
    lines[3] = lines[3].replace(b"s0_0", b"s0\xff_0")
    raises_at(write(tmp_path / "log.csv", b"\n".join(lines)), 4, "session_id", match="UTF-8")


# ---------------------------------------------------------------------------------------------
# Dropping bad sessions
# ---------------------------------------------------------------------------------------------
def test_drop_mode_keeps_good_sessions_and_reports(tmp_path):
    rows = make_sessions((3, 4, 2, 5, 3, 2), seed=7)
    # session 1 (lines 5-8) has a bad boolean on line 6; session 3 (lines 11-15) a gap at line 13
    bad = corrupt(4, "skip_1", "maybe", rows)
    bad = bad[:11] + bad[12:]
    path = write(tmp_path / "log_0.csv", render(bad))
    report = ReadReport()
    with pytest.warns(UserWarning, match="dropped 2 session"):
        df = read_log(path, on_error="drop", report=report, block_size=100)
    good = [r for r in rows if r["session_id"] not in ("s1_7", "s3_7")]
    pd.testing.assert_frame_equal(df, expected_frame(good))
    assert report.sessions_dropped == {"bad_value:skip_1": 1, "position_out_of_order": 1}
    assert report.examples == {
        "bad_value:skip_1": [f"{path}:6"],
        "position_out_of_order": [f"{path}:13"],
    }
    assert report.sessions_kept == 4 and report.rows_kept == len(good)
    assert report.rows_read == len(bad) and report.files == [str(path)]
    json.dumps(report.to_dict())
    assert "bad_value:skip_1: 1" in report.summary()


def test_drop_mode_malformed_lines(tmp_path):
    lines = render(ROWS).splitlines(keepends=True)
    lines.insert(6, "\n")  # blank line 7, inside session s1
    lines[9] = "s2_0,1,2\n"  # line 10: too few fields, first row of s2
    report = ReadReport()
    with pytest.warns(UserWarning):
        df = read_log(write(tmp_path / "log.csv", "".join(lines)), on_error="drop", report=report)
    assert df["session_id"].unique().tolist() == ["s0_0"]
    assert report.sessions_dropped["malformed_row"] == 1
    assert report.sessions_dropped["blank_line"] == 1
    assert report.examples["malformed_row"] == [f"{tmp_path / 'log.csv'}:10"]
    assert report.rows_read == 10 and report.rows_kept == 3


def test_drop_mode_malformed_one_row_session(tmp_path):
    rows = make_sessions((2, 1, 3), seed=4)
    bad = [dict(r) for r in rows]
    bad[2]["premium"] = MISSING  # the only row of session s1 (line 4) is short
    report = ReadReport()
    with pytest.warns(UserWarning, match="malformed_row: 1"):
        df = read_log(write(tmp_path / "log.csv", render(bad)), on_error="drop", report=report)
    pd.testing.assert_frame_equal(df, expected_frame(rows[:2] + rows[3:]))
    assert report.examples == {"malformed_row": [f"{tmp_path / 'log.csv'}:4"]}


def test_clean_read_does_not_warn(tmp_path):
    path = write(tmp_path / "log.csv", render(ROWS))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = ReadReport()
        read_log(path, on_error="drop", report=report)
    assert report.sessions_dropped == {} and report.rows_read == report.rows_kept == 9


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
SPELLINGS = [("true", "false"), ("True", "False"), ("TRUE", "FALSE"), ("1", "0")]


def _render_random(rows, rnd: random.Random, eol: str, bom: bool) -> str:
    """Like render() but every boolean and date spelled at random, value by value."""
    out = []
    for r in rows:
        r2 = dict(r)
        for c in schema.LOG_BOOL_COLUMNS + schema.LOG_FLAG_COLUMNS:
            if isinstance(r[c], bool):
                r2[c] = rnd.choice(SPELLINGS)[0 if r[c] else 1]
        if isinstance(r["date"], dt.date):
            r2["date"] = (
                r["date"].isoformat() if rnd.random() < 0.5 else r["date"].strftime("%d-%m-%y")
            )
        out.append(r2)
    return render(out, eol=eol, bom=bom)


sessions_strategy = st.lists(st.integers(1, 6), min_size=1, max_size=8)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(
    lengths=sessions_strategy,
    seed=st.integers(0, 10**6),
    block_size=st.integers(20, 3000),
    eol=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    gz=st.booleans(),
)
def test_property_round_trip(tmp_path, lengths, seed, block_size, eol, bom, gz):
    rows = make_sessions(lengths, seed=seed)
    text = _render_random(rows, random.Random(seed), eol, bom)
    path = write(tmp_path / f"log_{seed}.csv{'.gz' if gz else ''}", text, gz=gz)
    assert_reads_as(path, rows, block_size=block_size)


BAD_VALUES = {
    **{c: ["yes", "", "2", "tru"] for c in schema.LOG_BOOL_COLUMNS},
    **{c: ["2", "yes", "-1"] for c in schema.LOG_FLAG_COLUMNS},
    "session_position": ["x", "0", "1.5", "-3", "+1"],
    "session_length": ["x", "0", "", "1e3"],
    "track_id_clean": [""],
    "hist_user_behavior_n_seekfwd": ["-1", "x", "1.5"],
    "hist_user_behavior_n_seekback": ["-2", ""],
    "hour_of_day": ["24", "-1", "x", "99999"],
    "date": ["2018-13-45", "yesterday", "", "31-02-18", "2018/07/15"],
    "context_type": ["podcast", ""],
    "hist_user_behavior_reason_start": ["teleport", "FWDBTN"],
    "hist_user_behavior_reason_end": ["nope", " trackdone"],
    "session_id": [""],
}


def corrupt_one(rows, rnd: random.Random) -> tuple[list[dict], int, str]:
    """Corrupt one field of one row; returns (rows, 1-based line that must be reported, sid)."""
    i = rnd.randrange(len(rows))
    r = rows[i]
    first, single = r["session_position"] == 1, r["session_length"] == 1
    kind = rnd.choice(["value", "value", "structure", "fields"])
    new = dict(r)
    line = i + 2
    if kind == "value":
        col = rnd.choice(sorted(BAD_VALUES))
        new[col] = rnd.choice(BAD_VALUES[col])
    elif kind == "fields":  # one field too few or too many
        new[rnd.choice(COLS)] = rnd.choice([MISSING, "1,2"])
    else:
        what = rnd.choice(["skips", "fresh_id", "length", "position"])
        if what == "skips":
            new["skip_1" if not r["skip_2"] else "skip_3"] = "true" if not r["skip_2"] else "false"
        elif what == "fresh_id" and not single:
            new["session_id"] = "fresh"
            line += first  # the row after a lone first row is where the session breaks
        elif what == "length":
            new["session_length"] = str(r["session_length"] + 1)
            if first:  # checked against the first row: the break shows on the next row
                line += 1 if (not single or i + 1 < len(rows)) else 0
        else:
            new["session_position"] = str(r["session_position"] + rnd.choice([1, 2, -1]))
            if new["session_position"] == "0" or r["session_position"] == 1:
                new["session_position"] = str(r["session_position"] + 2)
    out = list(rows)
    out[i] = new
    return out, line, r["session_id"]


@FAST
@given(lengths=sessions_strategy, seed=st.integers(0, 10**6), block_size=st.integers(20, 3000))
def test_property_one_corruption(tmp_path, lengths, seed, block_size):
    rows = make_sessions(lengths, seed=seed)
    bad, line, sid = corrupt_one(rows, random.Random(seed))
    path = write(tmp_path / f"log_{seed}.csv", render(bad))
    with pytest.raises(MSSDFormatError) as info:
        read_log(path, block_size=block_size)
    assert (info.value.path, info.value.line) == (path, line), str(info.value)
    report = ReadReport()
    with pytest.warns(UserWarning):
        df = read_log(path, block_size=block_size, on_error="drop", report=report)
    good = [r for r in rows if r["session_id"] != sid]
    pd.testing.assert_frame_equal(df, expected_frame(good))
    assert report.sessions_kept == len(lengths) - 1
    assert report.rows_read == len(rows) and report.rows_kept == len(good)


# ---------------------------------------------------------------------------------------------
# Track features
# ---------------------------------------------------------------------------------------------
def make_tracks(n: int = 4) -> list[dict]:
    rows = []
    for i in range(n):
        r = {c: str(round(0.1 * i + k / 100, 4)) for k, c in enumerate(schema.TF_NUMERIC_COLUMNS)}
        r.update(
            track_id=f"t_{i}",
            key=str(i % 12),
            time_signature="4",
            release_year=str(1990 + i),
            mode="major" if i % 2 else "minor",
        )
        rows.append(r)
    return rows


def render_tf(rows, columns=schema.TF_COLUMNS) -> str:
    return "\n".join([",".join(columns)] + [",".join(r[c] for c in columns) for r in rows]) + "\n"


def test_track_features_valid(tmp_path):
    rows = make_tracks()
    write(tmp_path / "track_features" / "tf_000000000001.csv", render_tf(rows[2:]))
    write(tmp_path / "track_features" / "tf_000000000000.csv.gz", render_tf(rows[:2]), gz=True)
    report = ReadReport()
    df = read_track_features(tmp_path, report=report)
    assert list(df.columns) == list(schema.TF_COLUMNS)
    assert df["track_id"].tolist() == ["t_0", "t_1", "t_2", "t_3"]
    assert df["mode"].tolist() == ["minor", "major", "minor", "major"]
    assert list(df["mode"].cat.categories) == list(schema.TF_MODES)
    assert df["key"].tolist() == [0, 1, 2, 3] and df["release_year"].tolist()[-1] == 1993
    np.testing.assert_allclose(df["tempo"], [float(r["tempo"]) for r in rows], rtol=1e-6)
    assert df["duration"].dtype == np.float32 and report.rows_kept == 4


def tf_raises_at(path, line, column=None, **kw) -> MSSDFormatError:
    return raises_at(path, line, column, reader=read_track_features, **kw)


@pytest.mark.parametrize(
    "field,value,row",
    [
        ("mode", "dorian", 3),
        ("energy", "loud", 2),
        ("key", "12", 0),
        ("tempo", "", 4),
        ("release_year", "1990.5", 1),
        ("track_id", "", 2),
    ],
)
def test_track_features_bad_values(tmp_path, field, value, row):
    rows = make_tracks(5)
    rows[row][field] = value
    path = write(tmp_path / "tf_0.csv", render_tf(rows))
    tf_raises_at(path, row + 2, field, match="expected")
    report = ReadReport()
    with pytest.warns(UserWarning, match=f"bad_value:{field}: 1"):
        df = read_track_features(path, on_error="drop", report=report)
    assert len(df) == 4 and report.examples == {f"bad_value:{field}": [f"{path}:{row + 2}"]}


def test_track_features_duplicates_and_missing_column(tmp_path):
    rows = make_tracks(5)
    path = write(tmp_path / "tf_a.csv", render_tf(rows + [dict(rows[1])]))
    err = tf_raises_at(path, 7, "track_id", match="already on line 3")
    assert err.reason.startswith("duplicate track_id 't_1'")
    report = ReadReport()
    with pytest.warns(UserWarning):
        df = read_track_features(path, on_error="drop", report=report)
    assert len(df) == 5 and report.sessions_dropped == {"duplicate_track_id": 1}
    cols = [c for c in schema.TF_COLUMNS if c != "valence"]
    tf_raises_at(
        write(tmp_path / "tf_e.csv", render_tf(rows, cols)),
        1,
        "valence",
        match="missing required column",
    )
