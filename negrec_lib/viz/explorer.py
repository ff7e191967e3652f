"""The attention explorer: compare models' attention maps, one session, layer and head at a time.

The explorer (`attention_explorer`) is built to work in the static book, where no kernel runs:
every figure it can show is rendered in advance into a `widgets.Image`, the images sit in nested
`widgets.Stack` containers, and the dropdowns drive the stacks through `widgets.jslink`, which
the browser executes from the saved widget state without Python. Its figures are drawn without
pyplot (they are rendered to PNG, never shown).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from ..model import SessionEncoder
from ..study.attention import Prefixes, attention_weights
from .attention import attention_panel, masked_map
from .style import SKIP_COLOR

__all__ = ["AttentionExplorer", "attention_explorer"]


def _png(fig: Figure, dpi: int, colors: int) -> bytes:
    """The figure as a small PNG: rendered at ``dpi``, quantised to a ``colors`` palette."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    image = PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=colors).save(small, format="png", optimize=True)
    return small.getvalue()


class _ExplorerCanvas:
    """One figure per session, redrawn for each layer and head with new image data only.

    The first render lays the figure out (constrained layout); later renders keep that layout
    and swap the data of the heatmaps and the title, which is several times faster.
    """

    def __init__(self, names: Sequence[str], skipped: np.ndarray, gamma: float) -> None:
        n, t = len(names), len(skipped)
        self.fig = Figure(figsize=(2.75 * n + 0.9, 3.1), layout="constrained")
        self.fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06)
        axes = self.fig.subplots(1, n, squeeze=False)[0]
        norm = PowerNorm(gamma, vmin=0.0, vmax=1.0)
        blank = np.tril(np.full((t, t), 1.0 / t))
        self.images = []
        for ax, name in zip(axes, names):
            self.images.append(attention_panel(ax, blank, skipped, norm, "rocket_r", 8))
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("key s (position)", fontsize=9)
        axes[0].set_ylabel("query t (position)", fontsize=9)
        bar = self.fig.colorbar(self.images[-1], ax=axes, shrink=0.8)
        bar.set_label("weight (sqrt scale)", fontsize=9)
        bar.ax.tick_params(labelsize=8)
        self.title = self.fig.suptitle("", fontsize=10, fontweight="bold")
        self.laid_out = False

    def render(self, maps: Sequence[np.ndarray], title: str, dpi: int, colors: int) -> bytes:
        """PNG bytes of the figure showing ``maps`` (one [t, t] array per model)."""
        for image, w in zip(self.images, maps):
            image.set_data(masked_map(w))
        self.title.set_text(title)
        png = _png(self.fig, dpi, colors)
        if not self.laid_out:
            self.fig.set_layout_engine("none")  # keep the first layout from now on
            self.laid_out = True
        return png


try:  # the explorer needs ipywidgets (the viz extra)
    import ipywidgets as widgets

    _Box = widgets.VBox
except ImportError:  # pragma: no cover
    widgets = None
    _Box = object


class AttentionExplorer(_Box):
    """The explorer widget (a ``VBox``): dropdowns above a nested stack of prerendered images.

    Attributes
    ----------
    choices : list of (session index, layer, head) keys (layer and head 1-based), one per image
    images : dict key -> ``widgets.Image`` (PNG bytes, in the saved widget state)
    dropdowns : dict "session" / "layer" / "head" -> ``widgets.Dropdown``
    links : list of ``widgets.Link`` (jslinks from a dropdown's ``index`` to a stack's
        ``selected_index``): the selection runs in the browser, with or without a kernel
    state_bytes : total size of the PNG images
    """


def attention_explorer(
    models: Mapping[str, SessionEncoder],
    pre: Prefixes,
    sessions: Sequence[int],
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    dpi: int = 90,
    colors: int = 32,
    gamma: float = 0.5,
) -> AttentionExplorer:
    """Compare models' attention maps, one session, layer and head at a time.

    Parameters
    ----------
    models : name -> trained encoder; shown side by side (same vocabulary and layer sizes).
    pre, sessions : the prefixes, and the indices (into ``pre``) of the sessions offered.
    layers, heads : 1-based layers and heads offered (default: all).
    dpi, colors : resolution and palette size of the prerendered PNGs, which are saved with the
        notebook: 6 sessions x 2 layers x 4 heads at the defaults are about 0.25 MB of PNG and
        0.4 MB of saved widget state.

    Every choice is rendered now; in the page, choosing only switches which image is shown
    (see the module docstring), so the explorer also works in the static book.
    """
    if widgets is None:  # pragma: no cover
        raise ImportError("attention_explorer needs ipywidgets: pip install 'negrec[viz]'")
    weights = {
        name: attention_weights(m, pre.tracks[list(sessions)]).numpy() for name, m in models.items()
    }  # [NL, S, H, L, L]
    n_layers, _, n_heads = next(iter(weights.values())).shape[:3]
    layers = list(layers or range(1, n_layers + 1))
    heads = list(heads or range(1, n_heads + 1))
    images: dict[tuple[int, int, int], widgets.Image] = {}
    # one Layout model shared by all images and one by all stacks: the saved state holds every
    # widget model, and a private Layout per widget would add about 1 kB each
    image_layout = widgets.Layout(max_width="100%", height="auto")
    stack_layout = widgets.Layout()
    session_stacks = []
    layer_stacks: list[widgets.Stack] = []
    head_stacks: list[widgets.Stack] = []
    labels = []
    for si, s in enumerate(sessions):
        tracks, skipped = pre.session(s)
        t = len(tracks)
        sk = skipped.numpy().astype(bool)
        labels.append((f"#{s}: {t} tracks, {int(sk.sum())} skipped", si))
        canvas = _ExplorerCanvas(list(models), sk, gamma)
        per_layer = []
        for layer in layers:
            per_head = []
            for head in heads:
                maps = [w[layer - 1, si, head - 1, :t, :t] for w in weights.values()]
                png = canvas.render(maps, f"session #{s}, layer {layer}, head {head}", dpi, colors)
                img = widgets.Image(value=png, format="png", layout=image_layout)
                images[(s, layer, head)] = img
                per_head.append(img)
            stack = widgets.Stack(per_head, selected_index=0, layout=stack_layout)
            head_stacks.append(stack)
            per_layer.append(stack)
        stack = widgets.Stack(per_layer, selected_index=0, layout=stack_layout)
        layer_stacks.append(stack)
        session_stacks.append(stack)
    top = widgets.Stack(session_stacks, selected_index=0, layout=stack_layout)
    style = {"description_width": "initial"}
    dropdowns = {
        "session": widgets.Dropdown(
            options=labels,
            value=0,
            description="session",
            style=style,
            layout=widgets.Layout(width="300px"),
        ),
        "layer": widgets.Dropdown(
            options=[(f"layer {x}", i) for i, x in enumerate(layers)],
            value=0,
            description="layer",
            style=style,
            layout=widgets.Layout(width="130px"),
        ),
        "head": widgets.Dropdown(
            options=[(f"head {x}", i) for i, x in enumerate(heads)],
            value=0,
            description="head",
            style=style,
            layout=widgets.Layout(width="130px"),
        ),
    }
    links = [widgets.jslink((dropdowns["session"], "index"), (top, "selected_index"))]
    links += [
        widgets.jslink((dropdowns["layer"], "index"), (st, "selected_index")) for st in layer_stacks
    ]
    links += [
        widgets.jslink((dropdowns["head"], "index"), (st, "selected_index")) for st in head_stacks
    ]
    names = " | ".join(models)
    legend = widgets.HTML(
        f"<small>Left to right: {names}. Query t down, key s across; "
        f"<b style='color:{SKIP_COLOR}'>red triangles</b> mark skipped tracks. "
        f"All {len(images)} views are prerendered, so the menus also work in the static page."
        "</small>"
    )
    box = AttentionExplorer([widgets.HBox(list(dropdowns.values())), top, legend])
    box.choices = list(images)
    box.images = images
    box.dropdowns = dropdowns
    box.links = links
    box.state_bytes = sum(len(im.value) for im in images.values())
    return box
