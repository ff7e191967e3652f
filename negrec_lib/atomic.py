"""Writing without half-written results: atomic files, folders built under a temporary name,
and a lock file for writers that share a results table.

A `kill -9` at any moment leaves either the old state or the new one: a file is written next to
its target and renamed over it (`atomic_write_text`, `atomic_write_bytes`), a folder is built
under a temporary sibling and renamed into place when complete (`building_dir`), and the
temporary names start with a dot and end in ``.tmp-<pid>``, so no command takes them for
results.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import NegrecError, ResultsError, display_path


def _tmp_name(path: Path, kind: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling, flushed, then renamed."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system or the file system cannot."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move the complete folder ``tmp`` to ``out_dir``. An existing folder is swapped with it in
    one atomic step where Linux allows (so ``out_dir`` always holds the old or the new
    contents), else moved aside first; the old contents are deleted after."""
    if out_dir.is_dir() and not out_dir.is_symlink() and _exchange(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old contents
        return
    old = None
    if out_dir.exists():
        old = _tmp_name(out_dir, "old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def building_dir(out_dir: str | Path) -> Iterator[Path]:
    """A fresh temporary sibling of ``out_dir`` to fill; renamed to ``out_dir`` when the block
    ends without an error, deleted when it raises (or left, with a dot name no command reads,
    when the process is killed)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(out_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, out_dir)


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = -1, what: str = "results table") -> Iterator[None]:
    """An exclusive inter-process lock held on ``<path>.lock`` (the `filelock` package).

    ``timeout`` < 0 waits for as long as it takes; otherwise a `ResultsError` says who to wait
    for after that many seconds.
    """
    from filelock import FileLock, Timeout

    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise ResultsError(
            f"another negrec process holds the lock on this {what} "
            f"({display_path(lock_path)}); wait for it to finish",
            path,
        ) from None
    try:
        yield
    finally:
        lock.release()


__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "building_dir",
    "replace_dir",
    "file_lock",
    "NegrecError",
]
