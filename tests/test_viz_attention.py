"""The encoder and attention figures, and the static-safe attention explorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")
widgets = pytest.importorskip("ipywidgets")

from study_inputs import CFG, peaked_model, random_prefixes  # noqa: E402

from negrec_lib.study import attention as sa  # noqa: E402
from negrec_lib.study.encoder import mask_matrix  # noqa: E402
from negrec_lib.tokens import MASK_ID, PAD_ID  # noqa: E402
from negrec_lib.viz import attention as va  # noqa: E402
from negrec_lib.viz import model as vm  # noqa: E402
from negrec_lib.viz.explorer import attention_explorer  # noqa: E402

_model, _prefixes = peaked_model, random_prefixes


def _image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


# ---------------------------------------------------------------------------------- chapter 02
def test_mask_figure_has_one_panel_per_mask():
    causal, bidir = _model(0), _model(0, causal=False)
    toy = torch.tensor([[12, 7, 30, 21, 5, 16, PAD_ID, PAD_ID]])
    with_mask = toy.clone()
    with_mask[0, 6] = MASK_ID
    masks = {
        "padding": bidir.attention_mask(toy),
        "causal": causal.attention_mask(toy),
        "evaluation": bidir.attention_mask(with_mask),
    }
    fig = vm.plot_masks(masks, {"padding": toy, "causal": toy, "evaluation": with_mask})
    assert len(_image_axes(fig)) == 3
    shown = _image_axes(fig)[1].images[0].get_array()
    assert np.array_equal(np.asarray(shown), mask_matrix(masks["causal"]))


# ---------------------------------------------------------------------------------- chapter 05
def test_attention_maps_figure_has_a_panel_per_model_layer_and_head():
    pre = _prefixes()
    tracks, skipped = pre.session(0)
    weights = {
        name: sa.attention_weights(_model(seed), tracks[None])[:, 0]
        for name, seed in (("a", 5), ("b", 6))
    }
    fig = va.plot_attention_maps(weights, skipped)
    assert len(_image_axes(fig)) == 2 * CFG.n_layers * CFG.n_heads


def test_explorer_prerenders_every_choice_and_switches_with_jslinks_only():
    pre = _prefixes()
    sessions = [0, 3, 5]
    models = {"without": _model(7), "with": _model(8)}
    ex = attention_explorer(models, pre, sessions, dpi=30)
    assert isinstance(ex, widgets.VBox)
    expected = {(s, layer, head) for s in sessions for layer in (1, 2) for head in (1, 2)}
    assert set(ex.choices) == expected and set(ex.images) == expected
    assert all(bytes(im.value[:4]) == b"\x89PNG" for im in ex.images.values())
    assert len({bytes(im.value) for im in ex.images.values()}) == len(expected)  # all different

    # the stack tree: session stack -> layer stacks -> head stacks -> images
    top = ex.children[1]
    assert isinstance(top, widgets.Stack) and len(top.children) == len(sessions)
    layer_stacks = list(top.children)
    head_stacks = [h for st in layer_stacks for h in st.children]
    assert all(isinstance(st, widgets.Stack) for st in layer_stacks + head_stacks)
    for si, s in enumerate(sessions):
        for li in range(2):
            for hi in range(2):
                img = layer_stacks[si].children[li].children[hi]
                assert img is ex.images[(s, li + 1, hi + 1)]

    # every stack is driven by a jslink (runs in the browser) from its dropdown's index
    assert all(link._model_name == "LinkModel" for link in ex.links)  # two-way, in the browser
    targets = {}
    for link in ex.links:
        (src, src_name), (dst, dst_name) = link.source, link.target
        assert (src_name, dst_name) == ("index", "selected_index")
        targets[dst.model_id] = src
    dd = ex.dropdowns
    assert targets[top.model_id] is dd["session"]
    assert all(targets[st.model_id] is dd["layer"] for st in layer_stacks)
    assert all(targets[st.model_id] is dd["head"] for st in head_stacks)
    assert len(dd["session"].options) == len(sessions)
    assert len(dd["head"].options) == CFG.n_heads
    assert ex.state_bytes == sum(len(im.value) for im in ex.images.values())
