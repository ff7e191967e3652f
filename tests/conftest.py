"""Every figure the viz functions make during the figure tests (tests/test_viz_*.py) is checked for
legibility at the size it is shown in the book (tests/figure_checks.py): no text under 8 pt, no
overlapping tick labels. A failing figure fails the test that drew it. The pyplot figures are
closed after each of those tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _figures_are_legible(request, monkeypatch):
    module = request.node.module.__name__ if request.node.module else ""
    if not module.startswith("test_viz_"):
        yield
        return
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from negrec_lib.notebook import apply_plot_style

    saved = mpl.rcParams.copy()
    apply_plot_style()  # the fonts and sizes the book uses
    made: list = []
    original = Figure.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Figure, "__init__", init)
    yield
    monkeypatch.setattr(Figure, "__init__", original)
    mpl.rcParams.update(saved)
    from figure_checks import legibility_problems

    report = []
    for fig in made:
        if not fig.axes:
            continue
        problems = legibility_problems(fig)
        if problems:
            title = (
                fig._suptitle.get_text()
                if fig._suptitle
                else next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
            )
            report.append(f"figure {title[:60]!r}: " + "; ".join(problems))
    import matplotlib.pyplot as plt

    plt.close("all")  # viz draws pyplot figures: close them after each test
    if report:
        pytest.fail(
            "illegible figure(s) at their rendered size:\n" + "\n".join(report), pytrace=False
        )
