"""The popularity-plateau figure of the training chapter (data from `negrec_lib.study.diagnostics`).

It follows the convention of `negrec_lib.viz.style`: ``ax=None`` draws a new pyplot figure,
the Figure is returned; end the notebook cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .style import subplots

__all__ = ["plot_plateau"]


def plot_plateau(
    curves: pd.DataFrame,
    popularity: float,
    drift: Mapping[str, pd.DataFrame] | None = None,
    variants: Sequence[str] | None = None,
    ax: Any = None,
) -> Figure:
    """Validation HR@10 per epoch (mean over seeds, band min..max) against popularity's level.

    ``curves``: `negrec_lib.study.diagnostics.plateau_curves` output. With ``drift`` (name ->
    `negrec_lib.study.diagnostics.first_steps` output) a second panel shows how much of each track
    embedding's starting direction survives the first steps. ``ax``: one Axes (the learning
    curves only) or two (curves, and the drift panel when ``drift`` is given).
    """
    variants = list(variants or dict.fromkeys(curves["variant"]))
    if isinstance(ax, Axes):  # one panel: the learning curves only
        fig, axes = ax.figure, None
    else:
        ncols = 2 if drift else 1
        fig, axes = subplots(ax, 1, ncols, (7.0 if drift else 4.8, 3.6))
        ax = axes[0][0]
    names = list(dict.fromkeys([*variants, *(drift or {})]))
    color = {name: f"C{i}" for i, name in enumerate(names)}  # one colour per name, both panels
    for name in variants:
        c = curves[curves["variant"] == name]
        ax.plot(c["epoch"], c["mean"], marker="o", ms=3.5, color=color[name], label=name)
        ax.fill_between(c["epoch"], c["low"], c["high"], color=color[name], alpha=0.15, lw=0)
    ax.axhline(popularity, color="0.3", ls="--", lw=1)
    ax.annotate(
        "popularity",
        (curves["epoch"].min(), popularity),
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=9,
        color="0.3",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("HR@10 (validation)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title("Learning curves by initialisation", fontsize=10)
    if drift and axes is not None:
        ax2 = axes[0][1]
        for name, d in drift.items():
            ax2.plot(
                d["step"], d["identity_kept"], color=color[name], label=f"{name}: kept direction"
            )
            ax2.plot(
                d["step"],
                d["pairwise_cos"],
                color=color[name],
                ls=":",
                label=f"{name}: pairwise cosine",
            )
        ax2.set_xlabel("optimiser step")
        ax2.set_ylabel("cosine")
        ax2.set_ylim(-0.02, 1.02)
        ax2.legend(frameon=False, fontsize=8.5)
        ax2.set_title("The track table in the first steps", fontsize=10)
    return fig
