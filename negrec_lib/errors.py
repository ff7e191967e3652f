"""Exception types for errors a user can cause (bad files, bad configs, bad prepared folders)."""
from __future__ import annotations

from pathlib import Path


class NegrecError(Exception):
    """Base class of every error negrec raises on purpose."""


class MSSDFormatError(NegrecError, ValueError):
    """An MSSD file breaks the format; the message names the file, line and column.

    Attributes
    ----------
    path : the offending file (or None when not file-specific)
    line : 1-based line number in the (decompressed) file, or None
    column : the column name, or None
    """

    def __init__(self, message: str, path: str | Path | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.column = column
        self.reason = message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(NegrecError, ValueError):
    """A configuration value is invalid; the message names the field."""


class PreparedDataError(NegrecError, ValueError):
    """A prepared dataset folder is missing, incomplete or inconsistent."""
