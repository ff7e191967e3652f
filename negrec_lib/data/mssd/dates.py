"""The `date` column: the spellings MSSD files use, read as days since 1970-01-01.

`YYYY-MM-DD` (optionally with a time), `dd/mm/yyyy`, and two digits each, `dd-mm-yy` or
`yy-mm-dd`. Under ``date_format="auto"`` a two-digit date is read the way that falls in MSSD's
range (2018-07-15 to 2018-09-18) when exactly one does, and refused as ambiguous otherwise.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa

from negrec_lib.data.csv_columns import RowErrors, encode, row_errors, value_errors

DATE_FORMATS = ("auto", "yyyy-mm-dd", "dd/mm/yyyy", "dd-mm-yy", "yy-mm-dd")
MSSD_FIRST_DAY, MSSD_LAST_DAY = dt.date(2018, 7, 15), dt.date(2018, 9, 18)
_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?\Z"
)
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\Z")
_TWO_DIGIT_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{2})\Z")
_EPOCH = dt.date(1970, 1, 1)


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


def decode_date(col: pa.ChunkedArray, prio: int, fmt: str) -> tuple[np.ndarray, list[RowErrors]]:
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
        spelled = (
            "a date YYYY-MM-DD (optionally with a time), dd/mm/yyyy, or dd-mm-yy or "
            f"yy-mm-dd within MSSD's range ({MSSD_FIRST_DAY} to {MSSD_LAST_DAY}; "
            "otherwise pass date_format / --date-format)"
            if fmt == "auto"
            else f"a date in the format {fmt}"
        )
        errs += value_errors(bad, np.asarray(texts, object)[idx[bad]], "date", prio, spelled)
    amb_codes = [i for i, x in enumerate(parsed) if isinstance(x, tuple)]
    if amb_codes:
        bad = np.flatnonzero(np.isin(idx, amb_codes))
        payload = [(texts[c], *parsed[c]) for c in idx[bad]]
        errs += row_errors(
            bad,
            payload,
            "date",
            "bad_value:date",
            prio,
            lambda p: (
                f"ambiguous date {p[0]!r}: read as dd-mm-yy it is {p[1]}, "
                f"as yy-mm-dd {p[2]}, and MSSD's range "
                f"({MSSD_FIRST_DAY} to {MSSD_LAST_DAY}) does not decide; "
                "pass date_format='dd-mm-yy' or 'yy-mm-dd' "
                "(--date-format)"
            ),
        )
    return vals, errs
