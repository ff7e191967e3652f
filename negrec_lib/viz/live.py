"""A learning curve that draws itself while the model trains.

``LiveCurve`` is a `negrec_lib.train.Trainer.fit` callback (and `run_cached`'s): after every
epoch it redraws the training loss and the validation metric of every run it has seen. In
Jupyter and Colab the figure updates in place, in one output; when the cell ends that output
holds the final figure, which is what the rendered book shows. Outside a notebook it draws
nothing until asked: ``curve.figure()``.

    curve = LiveCurve("ndcg@10")
    for name, run_cfg in configs.items():
        run_cached(run_cfg, ch.runs_root, ch.data_root, callbacks=[curve])

A run that `run_cached` finds finished is drawn from its saved history at once.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..progress import in_notebook
from .style import PAGE_WIDTH, subplots

__all__ = ["LiveCurve"]


class LiveCurve:
    """Training loss and validation ``metric`` per epoch, one line per run, redrawn live.

    Parameters
    ----------
    metric : validation metric to draw (``ndcg@10``, ``hr@10``, ...); default: the first run's
        ``train.select_metric``.
    label : name of the next run's line; default: the run's ``cfg.name`` (set it before each
        run with ``curve.label = ...`` to name lines yourself).
    display : update an output in the notebook (default: when running in a notebook).
    """

    MAX_COLOURS = 6

    def __init__(
        self, metric: str | None = None, label: str | None = None, display: bool | None = None
    ) -> None:
        self.metric = metric
        self.label = label
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.live = in_notebook() if display is None else display
        self._handle = None
        self._current: str | None = None

    # ------------------------------------------------------------------ callback hooks
    def on_fit_start(self, trainer: Any) -> None:
        """A new run starts: give it a line (and show the empty figure's place)."""
        self._start(trainer.cfg, list(getattr(trainer, "history", [])))
        self._draw()

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        """Add the epoch's row and redraw."""
        if self._current is None:
            self._start(trainer.cfg, [])
        self.runs[self._current].append(dict(row))
        self._draw()

    def on_fit_end(self, trainer: Any, result: dict[str, Any]) -> None:
        """The run is over; the next run gets a new line."""
        self._current = None

    def on_cached_run(
        self, cfg: Any, history: list[dict[str, Any]], result: dict[str, Any]
    ) -> None:
        """A finished run found on disk: draw its saved history."""
        self._start(cfg, history)
        self._current = None
        self._draw()

    # ------------------------------------------------------------------ drawing
    def _start(self, cfg: Any, history: list[dict[str, Any]]) -> None:
        if self.metric is None:
            self.metric = cfg.train.select_metric
        name = self.label or cfg.name
        self.label = None
        base, n = name, 2
        while name in self.runs:
            name, n = f"{base} ({n})", n + 1
        self.runs[name] = [dict(r) for r in history]
        self._current = name

    def figure(self, ax: Any = None) -> Figure:
        """The curve as a figure (training loss left, validation metric right).

        ``ax``: None (a new figure) or two Axes to draw into (`negrec_lib.viz.style`).
        """
        metric = self.metric or "ndcg@10"
        fig, grid = subplots(ax, 1, 2, (PAGE_WIDTH, 3.3))
        loss_ax, val_ax = grid[0]
        best = None
        names = list(self.runs)
        recent = names[-self.MAX_COLOURS :]  # earlier runs in grey: six colours at most
        for name, rows in self.runs.items():
            epochs = [r["epoch"] for r in rows]
            style = (
                dict(marker="o", ms=3, label=name)
                if name in recent
                else dict(color="0.75", lw=1, label="_earlier")
            )
            (line,) = loss_ax.plot(epochs, [r["loss"] for r in rows], **style)
            val = [(r["epoch"], r[f"valid_{metric}"]) for r in rows if f"valid_{metric}" in r]
            if val:
                val_ax.plot(*zip(*val), **{**style, "color": line.get_color()})
                top = max(val, key=lambda p: p[1])
                if best is None or top[1] > best[1][1]:
                    best = (name, top)
        for ax in (loss_ax, val_ax):
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        loss_ax.set_ylabel("training loss")
        val_ax.set_ylabel(f"validation {metric.upper()}")
        loss_ax.set_title("Training loss", fontsize=10)
        val_ax.set_title(f"Validation {metric.upper()}", fontsize=10)
        if best is not None:
            val_ax.scatter(*best[1], marker="*", s=120, color="k", zorder=5, label="best so far")
        if best is not None or len(self.runs) > 1:
            handles, labels = val_ax.get_legend_handles_labels()
            if len(self.runs) == 1:  # one run: only the star needs a word
                handles, labels = handles[-1:], labels[-1:]
            if len(names) > len(recent):
                from matplotlib.lines import Line2D

                handles.insert(0, Line2D([], [], color="0.75", lw=1))
                labels.insert(0, f"{len(names) - len(recent)} earlier runs")
            fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
        if not self.runs:
            for ax in (loss_ax, val_ax):
                ax.text(
                    0.5,
                    0.5,
                    "training starts ...",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="0.5",
                )
        return fig

    def _draw(self) -> None:
        if not self.live:
            return
        from IPython.display import display

        fig = self.figure()
        try:
            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
        finally:
            plt.close(fig)  # the inline backend must not show it a second time
