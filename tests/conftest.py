"""Shared fixtures.

- ``tiny_config``, ``tiny_sets``, ``tiny_prepared``: the tiny configuration that the training
  and boundary tests run (a few hundred simulated sessions, a d=8 model, one epoch), as a
  factory of `ExperimentConfig`, as ``--set`` strings for the command line, and its prepared
  folder, made once per test session (copy it before damaging it).
- Every figure the viz functions make during the figure tests (tests/test_viz_*.py) is checked
  for legibility at the size it is shown in the book (tests/figure_checks.py): no text under
  8 pt, no overlapping tick labels. A failing figure fails the test that drew it. The pyplot
  figures are closed after each of those tests.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# ----------------------------------------------------------------------- the tiny configuration
TINY: dict[str, Any] = {
    "sim.sessions": 300,
    "sim.tracks": 150,
    "sim.days": 4,
    "model.d_model": 8,
    "model.n_heads": 2,
    "model.d_ff": 8,
    "loss.n_negatives": 20,
    "train.epochs": 1,
    "train.batch_size": 64,
    "train.progress": False,
    "train.eval_batch_size": 256,
}
"""Overrides of the ci profile, typed as an experiment grid's ``set:`` mapping holds them."""


@pytest.fixture(scope="session")
def tiny() -> dict[str, Any]:
    """The tiny overrides as a mapping (an experiment grid's ``set:``)."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_sets() -> list[str]:
    """The tiny overrides as ``key=value`` strings, for ``--set`` or `ExperimentConfig.override`."""
    return [f"{k}={json.dumps(v)}" for k, v in TINY.items()]


@pytest.fixture(scope="session")
def tiny_config(tiny_sets) -> Callable[..., Any]:
    """``tiny_config(*sets)``: the ci profile with the tiny overrides, then ``sets``."""
    from negrec_lib.config import profile_config

    def make(*sets: str):
        return profile_config("ci").override(tiny_sets + list(sets))

    return make


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory, tiny_config) -> Path:
    """The tiny configuration's prepared folder, shared by the session: copy it to damage it."""
    from negrec_lib.data.cache import ensure_dataset

    cfg = tiny_config()
    return ensure_dataset(cfg.sim, cfg.data, tmp_path_factory.mktemp("tiny-data"))


# --------------------------------------------------------------------- legible figures, closed


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
