"""Assertions shared by the figure tests (imported by tests/test_viz_*.py)."""


def assert_labelled(fig) -> None:
    """A title, an x label on every panel with data, and a y label (or named y ticks) somewhere."""
    assert fig._suptitle is not None or any(ax.get_title() for ax in fig.axes)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert panels and all(ax.get_xlabel() for ax in panels)
    assert any(ax.get_ylabel() or any(t.get_text() for t in ax.get_yticklabels()) for ax in panels)


# ------------------------------------------------------------------ legibility at the rendered size
# Measured in the built book (headless Chromium, 1280 px window): a chapter's output area is
# 676 px wide, and a wider image is scaled down to fit it. Figures are saved at 96 dpi
# (negrec_lib.notebook.apply_plot_style) with the inline backend's tight bounding box, so a
# point of the figure is a point of the page unless the figure is wider than the output area.
PAGE_WIDTH_PX = 676
DPI = 96
MIN_PT = 8.0


def rendered_scale(fig) -> float:
    """How much the page shrinks the figure: 1 when its saved width fits the output area."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    fig.canvas.draw()
    import matplotlib as mpl

    pad = mpl.rcParams["savefig.pad_inches"]  # the inline backend saves with bbox "tight"
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * pad
    return min(1.0, PAGE_WIDTH_PX / (width_in * DPI))


def _texts(fig):
    from matplotlib.text import Text

    for t in fig.findobj(Text):
        if (
            t.get_visible()
            and t.get_text().strip()
            and (t.get_alpha() is None or t.get_alpha() > 0)
        ):
            ax = t.axes
            if ax is not None and not ax.get_visible():
                continue
            yield t


def legibility_problems(fig, min_pt: float = MIN_PT) -> list[str]:
    """Text smaller than ``min_pt`` where the figure lands on the page, and overlapping tick
    labels (matplotlib's text extents after a draw)."""
    scale = rendered_scale(fig)
    renderer = fig.canvas.get_renderer()
    problems = []
    # 0.15 pt of slack: a 7 in figure is saved a few pixels wider than the output area (its
    # padding), and a 1-2% resampling changes nothing a reader sees
    small = sorted(
        {
            (round(t.get_fontsize() * scale, 1), t.get_text()[:30])
            for t in _texts(fig)
            if t.get_fontsize() * scale < min_pt - 0.15
        }
    )
    if small:
        problems.append(
            f"text under {min_pt:g} pt on the page (figure shown at {scale:.0%}): "
            + "; ".join(f"{pt} pt {txt!r}" for pt, txt in small[:6])
        )
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            key = (lambda b: b[1].x0) if name == "x" else (lambda b: b[1].y0)
            boxes.sort(key=key)
            for (ta, a), (tb, b) in zip(boxes, boxes[1:]):
                w = min(a.x1, b.x1) - max(a.x0, b.x0)
                h = min(a.y1, b.y1) - max(a.y0, b.y0)
                if w > 1 and h > 1:
                    problems.append(
                        f"overlapping {name} tick labels {ta!r} and {tb!r} "
                        f"(panel {ax.get_title()[:40]!r})"
                    )
                    break
    labels = []  # titles and axis labels of every panel, and the figure's
    for ax in fig.axes:
        if ax.get_visible():
            labels += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    labels += [t for t in (fig._suptitle, fig._supxlabel, fig._supylabel) if t is not None]
    group = {id(t): i for i, t in enumerate(labels)}
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for k, legend in enumerate(legends):  # a legend's entries against the labels
        for t in legend.get_texts():
            labels.append(t)
            group[id(t)] = f"legend {k}"
    boxes = [
        (t.get_text(), t.get_window_extent(renderer), group[id(t)])
        for t in labels
        if t.get_visible() and t.get_text().strip()
    ]
    for i, (ta, a, ga) in enumerate(boxes):
        for tb, b, gb in boxes[i + 1 :]:
            if ga == gb:
                continue
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > 1 and h > 1:
                problems.append(f"overlapping labels {ta[:30]!r} and {tb[:30]!r}")
    return problems


def assert_legible(fig) -> None:
    problems = legibility_problems(fig)
    assert not problems, "; ".join(problems)
