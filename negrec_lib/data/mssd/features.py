"""Read MSSD track features: one validated row per track, from a `tf_*` file or folder.

The same block reader as the logs (`csv_parse`), with every numeric column checked; a track id
must appear once. Every violation raises `MSSDFormatError`, or, with ``on_error="drop"``, drops
the row and counts it in the `ReadReport` (whose session counters then count tracks).
"""

from __future__ import annotations

import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from negrec_lib.data import schema
from negrec_lib.data.csv_columns import (
    RowErrors,
    decode_float,
    decode_int,
    decode_map,
    value_errors,
)
from negrec_lib.data.csv_parse import BlockSpec, n_threads, parse_block, pipelined
from negrec_lib.errors import ConfigError, MSSDFormatError

from .files import find_tf_files, open_csv, raise_first
from .report import MALFORMED, PRIO_VALUE, ReadReport

_TF_INTS = {
    "key": (np.int8, 0, 11),
    "time_signature": (np.int8, 0, None),
    "release_year": (np.int16, 0, None),
}
_TF_FAST = (
    {c: pa.float64() for c in schema.TF_NUMERIC_COLUMNS}
    | {c: pa.from_numpy_dtype(np.dtype(d)) for c, (d, _, _) in _TF_INTS.items()}
    | {"track_id": pa.string(), "mode": pa.string()}
)


@dataclass
class _TfRows:
    cols: dict[str, np.ndarray]
    lines: np.ndarray
    errors: list[RowErrors]
    malformed: list[tuple[int, str]]
    n_lines: int


def _decode_tf(data: pa.Buffer, quoted: bool, spec: BlockSpec) -> _TfRows:
    """Parse and decode one block of track features (worker thread)."""
    parsed = parse_block(data, quoted, spec)
    cols, errs = {}, []
    for i, c in enumerate(schema.TF_COLUMNS):
        arr, prio = parsed.table.column(c), PRIO_VALUE + i
        if c == "track_id":
            cols[c] = arr.to_numpy()
            bad = np.flatnonzero(cols[c] == "")
            e = value_errors(bad, cols[c][bad].tolist(), c, prio, "a non-empty track id")
        elif c == "mode":
            modes = {v: k for k, v in enumerate(schema.TF_MODES)}
            cols[c], e = decode_map(arr, c, prio, modes.get, np.int8, "major or minor")
        elif c in _TF_INTS:
            dtype, lo, hi = _TF_INTS[c]
            cols[c], e = decode_int(arr, c, prio, dtype, lo, hi)
        else:
            cols[c], e = decode_float(arr, c, prio)
        errs += e
    return _TfRows(cols, parsed.row_lines, errs, parsed.malformed, parsed.n_lines)


def _read_tf_file(
    path: Path, pool: ThreadPoolExecutor, on_error: str, report: ReadReport, block_size: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns and row lines of one validated tf file."""
    csvf, names = open_csv(path, block_size, schema.TF_COLUMNS)
    spec = BlockSpec(
        names, list(schema.TF_COLUMNS), _TF_FAST, schema.TRUE_SPELLINGS, schema.FALSE_SPELLINGS
    )
    parts, line_parts = [], []
    try:
        for chunk, first_line, _ in pipelined(csvf, pool, _decode_tf, spec):
            lines = chunk.lines + first_line
            malformed = [(first_line + i, msg) for i, msg in chunk.malformed]
            report.rows_read += len(lines) + len(malformed)
            if on_error == "raise":
                raise_first(chunk.errors, malformed, lines, path)
                keep = np.ones(len(lines), bool)
            else:
                keep = np.ones(len(lines), bool)
                first: dict[int, tuple[int, str]] = {}
                for e in sorted(chunk.errors, key=lambda e: e.prio):
                    for r in e.rows.tolist():
                        first.setdefault(r, (e.prio, e.reason))
                for r, (_, reason) in sorted(first.items()):
                    keep[r] = False
                    report.count_drop(reason, path, int(lines[r]))
                for line, _ in malformed:
                    report.count_drop(MALFORMED, path, line)
            parts.append({c: v[keep] for c, v in chunk.cols.items()})
            line_parts.append(lines[keep])
    finally:
        csvf.close()
    cols = {c: np.concatenate([p[c] for p in parts]) for c in schema.TF_COLUMNS}
    return cols, np.concatenate(line_parts)


def read_track_features(
    path: str | Path,
    *,
    on_error: str = "raise",
    report: ReadReport | None = None,
    block_size: int = 16 << 20,
) -> pd.DataFrame:
    """Validated track features of a tf file or folder: track_id str, features float32, key and
    time_signature int8, release_year int16, mode categorical (major/minor)."""
    if on_error not in ("raise", "drop"):
        raise ConfigError(f"on_error must be 'raise' or 'drop', got {on_error!r}")
    report = report if report is not None else ReadReport()
    parts, where = [], []
    with ThreadPoolExecutor(n_threads(), thread_name_prefix="mssd-tf") as pool:
        for i, f in enumerate(find_tf_files(path)):
            report.files.append(str(f))
            before = Counter(report.sessions_dropped)
            cols, lines = _read_tf_file(f, pool, on_error, report, block_size)
            parts.append(cols)
            where.append((np.full(len(lines), i, np.int32), lines, f))
            _warn_dropped(f, report.sessions_dropped - before)
    cols = {c: np.concatenate([p[c] for p in parts]) for c in schema.TF_COLUMNS}
    file_idx = np.concatenate([w[0] for w in where])
    lines = np.concatenate([w[1] for w in where])
    files = [w[2] for w in where]
    ids = pd.Series(cols["track_id"], dtype=object)
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        first_row = dict(zip(ids[~dup].tolist(), np.flatnonzero(~dup).tolist()))
        later = np.flatnonzero(dup)
        if on_error == "raise":
            i = int(later[0])
            j = first_row[ids.iat[i]]
            raise MSSDFormatError(
                f"duplicate track_id {ids.iat[i]!r}: already on line "
                f"{lines[j]} of {files[file_idx[j]]}",
                files[file_idx[i]],
                int(lines[i]),
                "track_id",
            )
        before = Counter(report.sessions_dropped)
        for i in later:
            report.count_drop("duplicate_track_id", files[file_idx[i]], int(lines[i]))
        _warn_dropped(path, report.sessions_dropped - before)
        cols = {c: v[~dup] for c, v in cols.items()}
    report.rows_kept += len(cols["track_id"])
    report.sessions_kept += len(cols["track_id"])
    df = pd.DataFrame({c: cols[c] for c in schema.TF_COLUMNS})
    df["mode"] = pd.Categorical.from_codes(cols["mode"], categories=list(schema.TF_MODES))
    return df


def _warn_dropped(path: Path | str, dropped: Counter) -> None:
    if dropped:
        detail = ", ".join(f"{k}: {v}" for k, v in dropped.most_common())
        warnings.warn(
            f"{path}: dropped {sum(dropped.values())} track(s) that break the MSSD "
            f"format ({detail}); see the ReadReport for examples",
            stacklevel=3,
        )
