"""Results tables as tables: a pandas ``Styler`` that reads well in the book, Jupyter and Colab.

``results_table(df)`` formats the numbers, keeps each interval with its estimate, marks the
verdicts with a colour and a symbol, and lets the table wrap on a narrow screen (it scrolls
sideways inside its own box only when a single column is wider than the screen). Its plain-text
form (what a terminal, or nbval, sees) is the frame's ``to_string`` with the same number formats.

    results_table(changes, caption="The paper's claims under three protocols")
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ResultsTable", "results_table", "verdict_kind", "VERDICT_STYLES"]

VERDICT_STYLES: dict[str, tuple[str, str, str]] = {
    # kind: (symbol, background, text colour); colour-blind-safe pairs, and the symbol says it too
    "holds": ("✓", "#dff0e1", "#1b5e20"),
    "contradicted": ("✗", "#fbe3e1", "#8e1b10"),
    "undetected": ("–", "#fdf3d8", "#6b4e00"),
    "none": ("?", "#eeeeee", "#424242"),
    # a raw verdict states a direction, which is good or bad only against a claim
    "higher": ("↑", "#e3eefa", "#0d3c78"),
    "lower": ("↓", "#f1e6f5", "#4a1660"),
}
_INTERVAL = re.compile(r"^\s*([-+]?[\d.,]+%?)\s*(\[[^\]]*\])\s*$")


def verdict_kind(text: Any) -> str | None:
    """The kind of a verdict string, else None.

    Understands the claims table's readings (`negrec_lib.study.claims.claims_table`: "holds: ...",
    "contradicted: ...", "not detected: ..."), the raw verdicts of
    `negrec_lib.study.stats.verdict` ("higher" and "lower": a direction; "no detectable
    difference" and "... before correction only": undetected; "not enough pairs": none), and the
    older forms ("holds, smaller than claimed", "no interval (too few seeds)").

    >>> [verdict_kind(v) for v in ("holds: higher (p_Holm 0.004)", "lower",
    ...                            "higher before correction only", "not enough pairs", "uni")]
    ['holds', 'lower', 'undetected', 'none', None]
    """
    if not isinstance(text, str):
        return None
    t = text.strip().lower()
    if t.startswith(("holds", "yes")):
        return "holds"
    if t.startswith(("contradicted", "reversed")):
        return "contradicted"
    if t.startswith(("not detect", "no detectable difference")) or t in (
        "higher before correction only",
        "lower before correction only",
    ):
        return "undetected"
    if t.startswith(("no interval", "not enough pairs")):
        return "none"
    if t in ("higher", "lower"):
        return t
    return None


def _number_format(digits: int) -> Callable[[Any], str]:
    def fmt(x: Any) -> str:
        if isinstance(x, (bool, np.bool_)):
            return "yes" if x else "no"
        if isinstance(x, (int, np.integer)):
            return f"{x:,}"
        if isinstance(x, (float, np.floating)):
            if np.isnan(x):
                return "–"
            if float(x).is_integer() and abs(x) >= 1000:
                return f"{x:,.0f}"
            return f"{x:.{digits}f}"
        return "" if x is None else str(x)

    return fmt


class ResultsTable:
    """A styled results table: ``_repr_html_`` for notebooks and the book, text for terminals.

    ``.styler`` is the underlying pandas ``Styler`` (style it further if you like);
    ``.frame`` the data.
    """

    def __init__(self, styler: Any, text: str) -> None:
        self.styler = styler
        self.frame = styler.data
        self._text = text

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self) -> str:
        """The table's HTML: a <style> block and the table, in a box that may scroll sideways."""
        return (
            '<div class="negrec-table" style="overflow-x:auto;max-width:100%;">'
            + self.styler.to_html()
            + "</div>"
        )

    def __repr__(self) -> str:
        return self._text

    def __str__(self) -> str:
        return self._text


def results_table(
    df: pd.DataFrame,
    digits: int = 3,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    caption: str | None = None,
    index: bool = True,
) -> ResultsTable:
    """A results table, formatted for reading (see the module docstring).

    Parameters
    ----------
    df : the table; a Series is shown as a one-column table.
    digits : decimals of float cells (integers get thousands separators, NaN shows as "–").
    formats : column -> format string (``"{:.1%}"``) or function, for columns that need another.
    caption : a line above the table saying what it shows.
    index : show the index (turn off for a plain RangeIndex).
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    formats = dict(formats or {})
    base = _number_format(digits)
    per_column = {
        c: (formats[c].format if isinstance(formats.get(c), str) else formats.get(c)) or base
        for c in df.columns
    }

    def fmt_cell(col: Any) -> Callable[[Any], str]:
        f = per_column[col]

        def one(x: Any) -> str:
            kind = verdict_kind(x)
            if kind is not None:
                return f"{VERDICT_STYLES[kind][0]} {x}"
            return f(x)

        return one

    text_frame = df.copy()
    for c in df.columns:
        text_frame[c] = [fmt_cell(c)(x) for x in df[c]]
    text = text_frame.to_string(index=index)

    def html_cell(col: Any) -> Callable[[Any], str]:
        one = fmt_cell(col)

        def cell(x: Any) -> str:
            shown = html.escape(one(x))
            m = _INTERVAL.match(shown)
            if m:  # the estimate, then its interval: each kept on one line
                return f'<span class="est">{m.group(1)}</span> <span class="ci">{m.group(2)}</span>'
            return shown

        return cell

    key = hashlib.sha1((caption or "").encode() + text.encode()).hexdigest()[:8]
    styler = df.style
    styler.set_uuid(f"negrec{key}")  # stable ids: the same table, the same HTML
    styler.format({c: html_cell(c) for c in df.columns})
    styler.format_index(lambda v: html.escape(str(v)), axis=0)
    styler.format_index(lambda v: html.escape(str(v)), axis=1)
    if not index:
        styler.hide(axis="index")
    if caption:
        styler.set_caption(caption)

    def cell_css(x: Any) -> str:
        kind = verdict_kind(x)
        if kind is not None:
            _, bg, fg = VERDICT_STYLES[kind]
            return f"background-color:{bg};color:{fg};font-weight:600;border-radius:3px;"
        if isinstance(x, str) and _INTERVAL.match(x):
            return "font-variant-numeric:tabular-nums;"
        if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
            return "text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;"
        return ""

    styler.map(cell_css)
    styler.set_table_styles(
        [
            {
                "selector": "",
                "props": "border-collapse:collapse;font-size:0.9em;margin:0.3em 0;"
                "width:auto;max-width:100%;",
            },
            {
                "selector": "caption",
                "props": "caption-side:top;text-align:left;font-weight:600;padding:0 0 0.3em 0;",
            },
            {
                "selector": "th",
                "props": "text-align:left;vertical-align:top;padding:0.25em 0.6em;"
                "white-space:normal;",
            },
            {
                "selector": "thead th",
                "props": "vertical-align:bottom;border-bottom:1px solid #999;",
            },
            {"selector": ".est", "props": "white-space:nowrap;"},
            {"selector": ".ci", "props": "white-space:nowrap;color:#555;"},
            {
                "selector": "td",
                "props": "padding:0.25em 0.6em;vertical-align:top;"
                "border-bottom:1px solid #ddd;white-space:normal;"
                "overflow-wrap:break-word;",
            },
            {"selector": "tbody th", "props": "font-weight:600;border-bottom:1px solid #ddd;"},
        ],
        overwrite=True,
    )
    return ResultsTable(styler, text)
