"""Progress for long steps, the ecosystem's way: ``tqdm.auto`` bars and kept one-line summaries.

In a terminal a bar is tqdm's text bar on stderr; in Jupyter and Colab it is tqdm's widget.
A bar lives only while its step runs (``leave=False``); what stays is the summary line the
caller prints afterwards (an epoch's loss, validation metric and seconds).

In a notebook every bar of one job (a whole ``Trainer.fit``) is shown in one *slot*, an output
with a display id: each new bar replaces the previous one there, and when the job ends the slot
is emptied. A saved notebook therefore keeps the summary lines and no progress-bar debris, and
the bars' widgets are closed as soon as they finish (``book/build_tools.py`` also leaves out of
the saved widget state every model that no output shows).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Jupyter, Colab, nbclient, nbval); False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book extras
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _close_widget(widget: Any) -> None:
    """Close a widget and the widgets it holds (children, layout, style)."""
    seen = set()
    stack = [widget]
    while stack:
        w = stack.pop()
        if w is None or id(w) in seen or not hasattr(w, "close"):
            continue
        seen.add(id(w))
        stack.extend(getattr(w, "children", ()) or ())
        stack.extend(getattr(w, name, None) for name in ("layout", "style"))
        try:
            w.close()
        except Exception:  # pragma: no cover - a frontend that already dropped it
            pass


class ProgressSlot:
    """Where one job's bars appear: a fixed output in a notebook, stderr in a terminal.

    ``slot.bar(iterable, ...)`` returns a ``tqdm.auto`` bar (``leave=False``); call
    ``slot.done(bar)`` when its step ends, and ``slot.close()`` when the job ends.
    ``enabled=False`` gives bars that show nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.notebook = enabled and in_notebook()
        self._handle = None

    def bar(self, iterable: Iterable | None = None, **kwargs: Any):
        """A progress bar over ``iterable`` (tqdm keyword arguments: total, desc, unit, ...)."""
        kwargs.setdefault("leave", False)
        kwargs.setdefault("dynamic_ncols", True)
        if not self.enabled:
            from tqdm import tqdm

            return tqdm(iterable, disable=True, **kwargs)
        if self.notebook:
            try:
                from tqdm.notebook import tqdm as notebook_tqdm

                bar = notebook_tqdm(iterable, display=False, **kwargs)
                self._show(bar.container)
                return bar
            except ImportError:  # no ipywidgets: tqdm.auto would fall back to stderr
                pass
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)

    def _show(self, obj: Any) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(obj, display_id=True)
        else:
            self._handle.update(obj)

    def done(self, bar: Any) -> None:
        """End a bar: close it (and its widgets) so nothing of it stays behind."""
        bar.close()
        container = getattr(bar, "container", None)
        if container is not None:
            _close_widget(container)
            self._show_empty()

    def _show_empty(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/html": "", "text/plain": ""}, raw=True)

    def close(self) -> None:
        """End the job: empty the slot."""
        self._show_empty()


def epoch_summary(
    row: dict[str, Any], epochs: int, metric: str | None = None, best: bool = False
) -> str:
    """One line for an epoch: number, train loss, validation metric, seconds.

    >>> epoch_summary({"epoch": 2, "loss": 6.25, "valid_ndcg@10": 0.0712,
    ...                "train_seconds": 41.26}, 5, "ndcg@10", best=True)
    'epoch 2/5  train loss 6.2500  valid ndcg@10 0.0712 (best)  41.3 s'
    """
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['loss']:.4f}"]
    if metric and f"valid_{metric}" in row:
        parts.append(f"valid {metric} {row[f'valid_{metric}']:.4f}" + (" (best)" if best else ""))
    seconds = row.get("epoch_seconds", row.get("train_seconds"))
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


def add_quiet_argument(parser: Any, *deprecated: str) -> None:
    """``--quiet``, the one spelling every ``negrec`` command uses to switch its progress off.

    ``deprecated`` are older spellings (``--no-progress``) that still work, hidden from
    ``--help``, with a note on stderr.
    """
    import argparse
    import sys

    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or per-epoch lines (results are still printed)",
    )

    class _Deprecated(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"note: {option_string} is deprecated; use --quiet", file=sys.stderr)
            namespace.quiet = True

    for flag in deprecated:
        parser.add_argument(flag, nargs=0, action=_Deprecated, dest="quiet", help=argparse.SUPPRESS)
