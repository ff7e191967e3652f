"""Exception types for errors a user can cause (bad files, bad configs, bad prepared folders).

Every file negrec reads is read through a path that turns any failure into a `NegrecError`
subclass naming the file (relative to the working folder when it is under it) and, for text
files, the line. The ``negrec`` command prints such an error as one line and exits with status 2.

Messages are worded for Python callers (argument names such as ``resume=True``); where the
command line spells the same thing differently (``--resume``), the error carries that wording
too (`NegrecError.cli_message`), and the command prints it instead.
"""

from __future__ import annotations

from pathlib import Path


def display_path(path: str | Path) -> str:
    """``path`` relative to the working folder when it lies under it, else as given."""
    p = Path(path)
    try:
        if p.is_absolute():
            return str(p.relative_to(Path.cwd()))
    except (ValueError, OSError):
        pass
    return str(p)


class NegrecError(Exception):
    """Base class of every error negrec raises on purpose.

    ``cli_message``: the same error worded for the command line (flags instead of argument
    names), or None when the message reads the same in both.
    """

    cli_message: str | None = None

    def for_cli(self) -> str:
        """The message the ``negrec`` command prints."""
        return self.cli_message or str(self)

    def with_cli(self, message: str) -> NegrecError:
        """Attach the command-line wording; returns self (``raise Err(...).with_cli(...)``)."""
        self.cli_message = message
        return self


class NegrecFileError(NegrecError, ValueError):
    """A file negrec reads is missing, unreadable or malformed.

    Attributes
    ----------
    path : the offending file or folder (or None when not file-specific)
    line : 1-based line number in the (decompressed) text file, or None
    column : the column or key, or None
    reason : the message without the location
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.column = column
        self.reason = message
        where = []
        if path is not None:
            where.append(display_path(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):  # picklable across processes despite the keyword-rich __init__
        return (
            _rebuild,
            (type(self), self.reason, self.path, self.line, self.column, self.cli_message),
        )


def _rebuild(cls, reason, path, line, column, cli):
    err = cls(reason, path, line, column)
    err.cli_message = cli
    return err


class MSSDFormatError(NegrecFileError):
    """An MSSD file breaks the format; the message names the file, line and column."""


class ConfigError(NegrecFileError):
    """A configuration value is invalid; the message names the field (and the file, if any)."""


class PreparedDataError(NegrecFileError):
    """A prepared dataset folder is missing, incomplete, damaged or inconsistent."""


class CheckpointError(NegrecFileError):
    """A checkpoint is missing, damaged, or does not fit the data or configuration."""


class ResultsError(NegrecFileError):
    """A results table (or a run folder's history) is missing, damaged or locked."""


def file_error(
    cls: type[NegrecFileError], path: str | Path, exc: BaseException, what: str, hint: str = ""
) -> NegrecFileError:
    """A `cls` naming `path` for the low-level failure `exc` while reading `what`."""
    if isinstance(exc, FileNotFoundError):
        msg = f"no such {what}"
    elif isinstance(exc, IsADirectoryError):
        msg = f"is a folder, expected a {what}"
    elif isinstance(exc, NotADirectoryError):
        msg = f"a part of the path is not a folder (expected a {what})"
    elif isinstance(exc, PermissionError):
        msg = f"permission denied reading the {what}"
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = detail[:200]
        msg = f"cannot read the {what}: {type(exc).__name__}" + (f" ({detail})" if detail else "")
        msg += "; the file is damaged or truncated"
    if hint:
        msg += f"; {hint}"
    return cls(msg, path)
