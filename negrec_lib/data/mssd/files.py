"""Finding MSSD files, and opening one: its header checked against the schema.

A log is a file (`.csv` or `.csv.gz`) or a folder of `log_*.csv[.gz]` files (or the dataset
root, with a `training_set/` folder); track features likewise with `tf_*` and
`track_features/`. Every failure raises `MSSDFormatError` naming the file, the 1-based line
(the header is line 1) and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from negrec_lib.data.csv_blocks import CSVFile
from negrec_lib.data.csv_columns import RowErrors, first_error
from negrec_lib.errors import MSSDFormatError


def _find(path: str | Path, prefix: str, subfolder: str, what: str) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise MSSDFormatError("no such file or folder", path)
    for folder in (path, path / subfolder):
        files = sorted(
            p
            for p in folder.glob(f"{prefix}*")
            if p.is_file() and (p.name.endswith(".csv") or p.name.endswith(".csv.gz"))
        )
        if files:
            return files
    raise MSSDFormatError(
        f"no {what} files ({prefix}*.csv or {prefix}*.csv.gz) in this folder "
        f"or in its '{subfolder}/' subfolder",
        path,
    )


def find_log_files(path: str | Path) -> list[Path]:
    """The log files at `path`: the file itself, or the sorted `log_*.csv[.gz]` of a folder
    (or of its `training_set/`)."""
    return _find(path, "log_", "training_set", "session-log")


def find_tf_files(path: str | Path) -> list[Path]:
    """The track-feature files at `path`: the file itself, or the sorted `tf_*.csv[.gz]` of a
    folder (or of its `track_features/`)."""
    return _find(path, "tf_", "track_features", "track-feature")


def open_csv(path: Path, block_size: int, required: tuple[str, ...]) -> tuple[CSVFile, list[str]]:
    """Open an MSSD file for block-wise reading: (the file, unique column names for the
    parser, columns not in `required` renamed). The caller closes the file."""
    csvf = CSVFile(path, block_size, MSSDFormatError)
    try:
        return csvf, _check_header(csvf.names, path, required)
    except BaseException:
        csvf.close()
        raise


def _check_header(names: list[str], path: Path, required: tuple[str, ...]) -> list[str]:
    """Check the header; return unique column names for the parser (extras renamed)."""
    if len(names) == 1:
        for sep, word in ((";", "semicolons"), ("\t", "tabs")):
            if sep in names[0]:
                raise MSSDFormatError(
                    f"wrong delimiter: the header is one field separated by {word}; MSSD "
                    "files are comma-separated (re-save the file with ',' as delimiter)",
                    path,
                    1,
                )
    missing = [c for c in required if c not in names]
    if missing:
        raise MSSDFormatError(
            f"missing required column(s) {', '.join(map(repr, missing))}; "
            f"the header has {', '.join(map(repr, names))}",
            path,
            1,
            missing[0],
        )
    dup = next((c for c in required if names.count(c) > 1), None)
    if dup is not None:
        raise MSSDFormatError("the column appears more than once in the header", path, 1, dup)
    return [c if c in required else f"__extra_{i}" for i, c in enumerate(names)]


def raise_first(
    errs: list[RowErrors], malformed: list[tuple[int, str]], lines: np.ndarray, path: Path
) -> None:
    """Raise the earliest violation (by line, then priority), if there is one."""
    first = first_error(errs, malformed, lines)
    if first is not None:
        line, column, message = first
        raise MSSDFormatError(message, path, line, column)
