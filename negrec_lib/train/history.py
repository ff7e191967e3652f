"""A run's record as it trains: the history files, the tensorboard log, the callbacks' hooks."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """Write ``history.json`` and ``history.csv`` (one row per epoch) into ``out``, atomically.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_history(Path(d), [{"epoch": 1, "loss": 0.5}])
    ...     (Path(d) / "history.csv").read_text().splitlines()
    ['epoch,loss', '1,0.5']
    """
    atomic_write_text(out / "history.json", json.dumps(history, indent=1))
    keys = sorted({k for r in history for k in r}, key=lambda k: (k != "epoch", k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    atomic_write_text(out / "history.csv", buf.getvalue())


def log_scalars(writer: Any, out: Path, row: dict[str, Any]) -> Any:
    """Add an epoch's numbers to the tensorboard log under ``out``, opening it on first use.

    Returns the writer (a ``SummaryWriter``) to pass back next time.
    """
    if writer is None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(out / "tensorboard")
    for k, v in row.items():
        if isinstance(v, (int, float)) and k != "epoch":
            writer.add_scalar(k, v, row["epoch"])
    return writer


def call_hook(callback: Any, hook: str, *args: Any) -> None:
    """Call ``callback.hook(*args)`` when the callback has that hook.

    Examples
    --------
    >>> class Printer:
    ...     def on_fit_start(self, trainer):
    ...         print("started", trainer)
    >>> call_hook(Printer(), "on_fit_start", "t")
    started t
    >>> call_hook(Printer(), "on_epoch_end", "t", {})  # no such hook: nothing happens
    """
    method = getattr(callback, hook, None)
    if method is not None:
        method(*args)
