"""The one plotting convention of `negrec_lib.viz`, and the colours and labels all figures share.

Every plotting function has the form ``plot_x(table_or_data, ..., ax=None) -> Figure``:

- it draws what it is given (the tables of `negrec_lib.study`, or a log); the analysis is
  called by the notebook, the plot computes at most a trivial aggregate;
- ``ax=None`` draws into a new pyplot figure with constrained layout, ``ax`` draws into the
  given Axes (a figure of several panels takes one Axes per panel, in a sequence or array);
- it returns the Figure. In a notebook, end the cell with ``plt.show()``.

Titles state what the data shows (computed from it) unless ``title`` is given. Figures are
sized for the book's page (`PAGE_WIDTH` inches, text at 8 pt or more; tests/figure_checks.py).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..study.training import metric_label

__all__ = [
    "PAGE_WIDTH",
    "STRENGTH_LABELS",
    "STRENGTH_COLORS",
    "SKIP_COLOR",
    "ROLE_COLORS",
    "ALLOWED_COLOR",
    "BLOCKED_COLOR",
    "TOKEN_COLORS",
    "metric_label",
    "axes",
    "subplots",
]

PAGE_WIDTH = 7.0  # inches: a figure this wide is shown at its size in the book

# skip strength 0..3 (the data chapter): grey for played, warm colours for ever earlier skips
STRENGTH_LABELS = (
    "0  played in full",
    "1  skipped late (skip_3)",
    "2  skipped early (skip_2)",
    "3  skipped very early (skip_1)",
)
STRENGTH_COLORS = ("#d9d9d9", "#fdae61", "#f46d43", "#a50026")
SKIP_COLOR = "#c0392b"  # a skipped track in attention maps
ROLE_COLORS = {1: "#1a9850", -1: "#d73027"}  # skip loss: positive, negative
ALLOWED_COLOR, BLOCKED_COLOR = "#2b6a99", "#eeeeee"  # attention masks
# cell colours of a token grid: track, [MASK], padding / ignored, OOV
TOKEN_COLORS = {"track": "#cfe3f3", "mask": "#f4a259", "pad": "#ffffff", "oov": "#b8a1d9"}


def axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the Axes of a new pyplot figure of ``figsize`` with constrained layout."""
    if ax is not None:
        return ax
    return plt.figure(figsize=figsize, layout="constrained").add_subplot()


def subplots(
    ax: Any, nrows: int, ncols: int, figsize: tuple[float, float], **kwargs: Any
) -> tuple[Figure, np.ndarray]:
    """The figure and an [nrows, ncols] array of Axes: the given ones, or a new figure's.

    ``ax``: None, or ``nrows * ncols`` Axes of one figure (any nesting); ``kwargs`` (sharey,
    width_ratios, ...) apply to a new figure only.
    """
    if ax is None:
        fig, grid = plt.subplots(
            nrows, ncols, figsize=figsize, layout="constrained", squeeze=False, **kwargs
        )
        return fig, grid
    grid = np.asarray(ax, dtype=object).reshape(nrows, ncols)
    return grid.flat[0].figure, grid
