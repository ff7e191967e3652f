"""The session structure of a log, checked in file order (main thread, vectorised).

A session's rows are contiguous, its positions run 1, 2, ..., its length stays the same on every
row, and it has as many rows as that length; its id appears in one stretch of the file only.
`structure_errors` finds what breaks this; `assign_drops` charges every violation to the
session it belongs to, for ``on_error="drop"``. A line that is not a row (a wrong field count,
or a blank line) belongs to no session: it breaks the file, not the session around it, and is
charged to the session it interrupts.
"""

from __future__ import annotations

import numpy as np

from negrec_lib.data.csv_columns import PRIO_MALFORMED, RowErrors, row_errors

from .report import (
    BLANK,
    LENGTH,
    OVER,
    PARTIAL,
    POSITION,
    PRIO_BLANK,
    PRIO_LENGTH,
    PRIO_OVER,
    PRIO_POSITION,
    PRIO_REAPPEARS,
    PRIO_SHORT,
    PRIO_SHORT_EOF,
    REAPPEARS,
    SHORT,
)
from .runs import BadLine, RowBatch


def structure_errors(
    rows: RowBatch, m: int, cut: int, seen: dict[str, int], eof_line: int, file_start: bool = False
) -> tuple[list[RowErrors], list[RowErrors]]:
    """Violations of the session structure in runs [0, m), i.e. rows [0, cut); `eof_line`: the
    file's last line if these are its last rows, else 0; `file_start`: run 0 is the file's
    first session. Returns (violations, partial sessions): a session the file starts inside
    (its first row's position is above 1) or ends inside (fewer rows than its length) is a
    partial session, not a violation; the caller decides what to do with it."""
    if m == 0:
        return [], []
    starts = rows.run_starts[:m]
    lens = np.diff(np.append(starts, cut))  # [m]
    ids, lines = rows.run_ids, rows.lines
    pos = rows.cols["session_position"][:cut]  # [cut] int16
    length = rows.cols["session_length"][:cut]  # [cut] int16
    length0 = length[starts]  # [m] length on each first row
    expect = length0.astype(np.int64)  # [m] rows each session should have
    # a session's positions run 1, 2, ...: each row one more than the row before
    bad_pos = np.empty(cut, bool)
    bad_pos[1:] = pos[1:] != pos[:-1].astype(np.int32) + 1
    bad_pos[starts] = pos[starts] != 1
    partial: list[RowErrors] = []
    first = int(starts[0])
    if file_start and ids[0] != "" and 1 < pos[first] <= length[first]:
        bad_pos[first] = False  # the file starts inside a session
        expect[0] -= int(pos[first]) - 1
        partial.append(
            RowErrors(
                np.array([first]),
                np.array([(ids[0], int(pos[first]), int(length[first]))], object),
                "session_position",
                PARTIAL,
                PRIO_SHORT_EOF,
                lambda p: (
                    f"the file starts inside session '{p[0]}': its first row here has "
                    f"session_position {p[1]} of {p[2]} (rows 1 to {p[1] - 1} are not in "
                    "the file; a sample cut mid-session?); pass partial_sessions='drop' or "
                    "'keep' (--partial-sessions drop|keep) to accept cut sessions"
                ),
                np.array([0]),
            )
        )
    bad_len = np.empty(cut, bool)
    bad_len[1:] = length[1:] != length[:-1]
    bad_len[starts] = False
    errs: list[RowErrors] = []
    if bad_pos.any():
        bad = np.flatnonzero(bad_pos)
        run = _run_of(rows, bad)
        errs += row_errors(
            bad,
            [
                (
                    ids[r],
                    1 if i == rows.run_starts[r] else int(pos[i - 1]) + 1,
                    int(pos[i - 1]),
                    int(pos[i]),
                )
                for i, r in zip(bad, run)
            ],
            "session_position",
            POSITION,
            PRIO_POSITION,
            _describe_position,
        )
    if bad_len.any():
        bad = np.flatnonzero(bad_len)
        run = _run_of(rows, bad)
        payload = [
            (ids[r], int(length[i]), int(length0[r]), int(lines[starts[r]]))
            for i, r in zip(bad, run)
        ]
        errs += row_errors(
            bad,
            payload,
            "session_length",
            LENGTH,
            PRIO_LENGTH,
            lambda p: (
                f"session_length {p[1]} differs from {p[2]} on the first "
                f"row of session '{p[0]}' (line {p[3]}); it must be "
                "constant within a session"
            ),
        )
    over = pos > length
    if over.any():
        bad = np.flatnonzero(over)
        errs += row_errors(
            bad,
            [(ids[r], int(pos[i]), int(length[i])) for i, r in zip(bad, _run_of(rows, bad))],
            "session_position",
            OVER,
            PRIO_OVER,
            lambda p: f"session_position {p[1]} exceeds session_length {p[2]} in session '{p[0]}'",
        )
    for r in np.flatnonzero(lens < expect):  # shown where the next session begins, or at EOF
        nxt = r + 1 < len(rows.run_starts)
        at = int(rows.run_starts[r + 1]) if nxt else cut - 1
        payload = (
            ids[r],
            int(lens[r]) + int(length0[r] - expect[r]),
            int(length0[r]),
            ids[r + 1] if nxt else None,
        )
        e = RowErrors(
            np.array([at]),
            np.array([payload], object),
            "session_id" if nxt else "session_length",
            SHORT if nxt else PARTIAL,
            PRIO_SHORT if nxt else PRIO_SHORT_EOF,
            _describe_short,
            np.array([r]),
            None if nxt else np.array([eof_line]),
        )
        (errs if nxt else partial).append(e)
    return errs + _reappearing(ids[:m], starts, lines, seen), partial


def _run_of(rows: RowBatch, row_idx: np.ndarray) -> np.ndarray:
    """The run (session) of each given row."""
    return np.searchsorted(rows.run_starts, row_idx, side="right") - 1


def _describe_position(p: tuple) -> str:
    sid, exp, prev, got = p
    if exp == 1:
        return f"expected session_position 1 at the start of session '{sid}', got {got}"
    return (
        f"expected session_position {exp} after {prev} in session '{sid}', got {got} "
        "(rows of a session must be consecutive and ordered by position)"
    )


def _describe_short(p: tuple) -> str:
    sid, k, length, nxt = p
    if nxt is None:
        return (
            f"the file ends after {k} of the {length} rows of session '{sid}' (its "
            "session_length); a sample cut mid-session? pass partial_sessions='drop' or "
            "'keep' (--partial-sessions drop|keep) to accept cut sessions"
        )
    return (
        f"session '{sid}' ends after {k} of its {length} rows: expected its "
        f"session_position {k + 1} here, got a row of session '{nxt}' (rows of a session "
        "must be consecutive and ordered by position)"
    )


def _reappearing(
    ids: np.ndarray, starts: np.ndarray, lines: np.ndarray, seen: dict[str, int]
) -> list[RowErrors]:
    """Runs whose session id already appeared earlier in the file; updates `seen`."""
    id_list, first_lines = ids.tolist(), lines[starts].tolist()
    unique = set(id_list)
    unique.discard("")
    if len(unique) == len(id_list) and seen.keys().isdisjoint(unique):
        seen.update(zip(id_list, first_lines))
        return []
    bad, payload = [], []
    for r, (sid, line) in enumerate(zip(id_list, first_lines)):
        if sid in seen and sid != "":
            bad.append(starts[r])
            payload.append((sid, seen[sid]))
        else:
            seen[sid] = line
    return row_errors(
        np.array(bad, np.int64),
        payload,
        "session_id",
        REAPPEARS,
        PRIO_REAPPEARS,
        lambda p: (
            f"session '{p[0]}' appears again after other sessions (its "
            f"first row is on line {p[1]}); rows of a session must be "
            "contiguous"
        ),
    )


def assign_drops(
    rows: RowBatch, m: int, cut: int, errs: list[RowErrors], limit: float
) -> tuple[np.ndarray, list[tuple[int | None, str, int]], list[BadLine]]:
    """Runs to keep [m], drops (run or None, reason, line), lines that are not rows to carry on.

    A session is charged its earliest violation; a line that is not a row (malformed or blank)
    is charged to the session it interrupts (the previous row's, if unfinished, else the next
    row's if that is not a first row: a finished session followed by more of its rows is one
    damaged session), else it counts as a session of its own.
    """
    runs, lines, prios, reasons = [], [], [], []
    for e in errs:
        runs.append(_run_of(rows, e.rows) if e.runs is None else e.runs)
        lines.append(e.where(rows.lines))
        prios.append(np.full(len(e.rows), e.prio))
        reasons += [e.reason] * len(e.rows)
    carry: list[BadLine] = []
    standalone: list[tuple[int | None, str, int]] = []
    pos, length = rows.cols["session_position"], rows.cols["session_length"]
    for bad in rows.malformed:  # charged to the session it interrupts
        line = bad.line
        r = int(np.searchsorted(rows.lines, line)) - 1
        if line >= limit:
            carry.append(bad)
            continue
        if r >= 0 and pos[r] < length[r]:
            run = _run_of(rows, r)
        elif r + 1 < rows.n and pos[r + 1] != 1:
            if r + 1 >= cut:  # that session is not complete yet: decide with it
                carry.append(bad)
                continue
            run = _run_of(rows, r + 1)
        else:
            standalone.append((None, bad.reason, line))
            continue
        runs.append(np.array([run]))
        lines.append(np.array([line]))
        prios.append(np.array([PRIO_BLANK if bad.reason == BLANK else PRIO_MALFORMED]))
        reasons.append(bad.reason)
    keep = np.ones(m, bool)
    drops: list[tuple[int | None, str, int]] = []
    if runs:
        runs_a, lines_a, prios_a = map(np.concatenate, (runs, lines, prios))
        order = np.lexsort((prios_a, lines_a))
        first_runs, k = np.unique(runs_a[order], return_index=True)
        keep[first_runs] = False
        drops = [(int(r), reasons[order[i]], int(lines_a[order[i]])) for r, i in zip(first_runs, k)]
    return keep, drops + standalone, carry
