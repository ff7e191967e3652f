"""Results tables render as HTML tables (formatted numbers, visible intervals, marked verdicts),
and no chapter prints a table as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from negrec_lib.viz.tables import VERDICT_STYLES, results_table, verdict_kind

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change [95% CI]": [
                "+20.5% [+14.2, +26.7]",
                "-3.1% [-6.0, -0.2]",
                "+1.0% [-2.0, +4.0]",
            ],
            "p_ttest": [0.00123, 0.04, 0.5],
            "examples": [12345, 800, 7],
            "verdict": [
                "holds",
                "contradicted: a loss, not a gain",
                "not detectable at this budget",
            ],
        },
        index=pd.Index(["claim 1", "claim 2", "claim 3"], name="claim"),
    )


def test_verdict_kinds():
    assert verdict_kind("holds, smaller than claimed") == "holds"
    assert verdict_kind("contradicted: a loss, not a gain") == "contradicted"
    assert verdict_kind("not detected; the claimed size is excluded") == "undetected"
    assert verdict_kind("no interval (too few seeds)") == "none"
    assert verdict_kind(0.5) is None and verdict_kind("uni-base") is None


def test_html_table_with_formats_intervals_and_verdict_colours():
    html = results_table(_frame(), caption="Claims").to_html()
    assert html.count("<table") == 1 and "<caption>Claims</caption>" in html
    # the estimate and its interval, each kept on one line
    assert '<span class="est">+20.5%</span> <span class="ci">[+14.2, +26.7]</span>' in html
    assert ">0.001<" in html and ">12,345<" in html  # 3 decimals, separators
    for kind in ("holds", "contradicted", "undetected"):
        symbol, background, _ = VERDICT_STYLES[kind]
        assert background in html and symbol in html
    assert "overflow-x:auto" in html  # a wide table scrolls, not cut


def test_same_table_same_html_and_a_text_form():
    a, b = results_table(_frame()), results_table(_frame())
    assert a.to_html() == b.to_html()  # nbval compares it
    assert a.to_html() != results_table(_frame(), digits=2).to_html()
    text = repr(a)
    assert "✓ holds" in text and "✗ contradicted" in text and "0.001" in text
    assert "<" not in text


def test_nan_index_off_and_series():
    df = pd.DataFrame({"x": [1.5, np.nan]})
    t = results_table(df, index=False, digits=1)
    assert "–" in repr(t) and "1.5" in repr(t)
    s = results_table(
        pd.Series([0.25, 0.5], index=["a", "b"], name="share"), formats={"share": "{:.0%}"}
    )
    assert "25%" in s.to_html() and "50%" in repr(s)


_TEXT_TABLE = re.compile(r"print\([^#\n]*\.to_string\(|\.to_string\([^)]*\)\s*\)\s*$", re.M)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapters_show_tables_as_tables(path):
    """A results table printed with to_string is cut at 1280 px: use results_table."""
    nb = json.loads(path.read_text())
    bad = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and _TEXT_TABLE.search("".join(c["source"]))
    ]
    assert not bad, (
        f"{path.name}: cells {bad} print a table as text; show it with "
        "negrec_lib.viz.tables.results_table"
    )
