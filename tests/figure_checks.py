"""Assertions shared by the figure tests (imported by tests/test_viz_*.py)."""


def assert_labelled(fig) -> None:
    """A title, an x label on every panel with data, and a y label (or named y ticks) somewhere."""
    assert fig._suptitle is not None or any(ax.get_title() for ax in fig.axes)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert panels and all(ax.get_xlabel() for ax in panels)
    assert any(ax.get_ylabel() or any(t.get_text() for t in ax.get_yticklabels())
               for ax in panels)
