"""The encoder and attention figures, the skip-attention statistic, and the static-safe explorer."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")
pytest.importorskip("seaborn")
widgets = pytest.importorskip("ipywidgets")

from negrec_lib.config import ModelConfig  # noqa: E402
from negrec_lib.data.tokens import MASK_ID, N_RESERVED, PAD_ID  # noqa: E402
from negrec_lib.model import SessionEncoder  # noqa: E402
from negrec_lib.viz import attention as va  # noqa: E402
from negrec_lib.viz import model as vm  # noqa: E402

V = N_RESERVED + 40
CFG = ModelConfig(d_model=8, n_heads=2, n_layers=2, d_ff=8, dropout=0.0, max_length=10)


def _model(seed: int, causal: bool = True) -> SessionEncoder:
    torch.manual_seed(seed)
    model = SessionEncoder(dataclasses.replace(CFG, causal=causal), V).eval()
    with torch.no_grad():                 # larger weights than the default init: peaked attention
        for layer in model.layers:
            layer.qkv.weight.mul_(40)
    return model


def _prefixes(n: int = 12, L: int = 10, seed: int = 0) -> va.Prefixes:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, L + 1, (n,), generator=g)
    lengths[0] = L
    real = torch.arange(L)[None, :] < lengths[:, None]
    tracks = torch.where(real, torch.randint(N_RESERVED, V, (n, L), generator=g), PAD_ID)
    skipped = real & (torch.rand(n, L, generator=g) < 0.45)
    return va.Prefixes(tracks, skipped, lengths, torch.arange(n))


def _image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


# ---------------------------------------------------------------------------------- chapter 02
def test_mask_figure_has_one_panel_per_mask():
    causal, bidir = _model(0), _model(0, causal=False)
    toy = torch.tensor([[12, 7, 30, 21, 5, 16, PAD_ID, PAD_ID]])
    with_mask = toy.clone()
    with_mask[0, 6] = MASK_ID
    masks = {"padding": bidir.attention_mask(toy), "causal": causal.attention_mask(toy),
             "evaluation": bidir.attention_mask(with_mask)}
    fig = vm.plot_masks(masks, {"padding": toy, "causal": toy, "evaluation": with_mask})
    assert len(_image_axes(fig)) == 3
    shown = _image_axes(fig)[1].images[0].get_array()
    assert np.array_equal(np.asarray(shown), vm.mask_matrix(masks["causal"]))


def test_output_change_is_zero_before_the_edit_only_for_the_causal_model():
    toy = torch.tensor([[12, 7, 30, 21, 5, 16, PAD_ID, PAD_ID]])
    causal = vm.output_change(_model(1), toy, position=3, new_track=33)
    bidir = vm.output_change(_model(1, causal=False), toy, position=3, new_track=33)
    assert list(causal["position"]) == list(range(6))
    assert (causal["abs"][:3] == 0).all() and (causal["abs"][3:] > 0).all()
    assert (bidir["abs"] > 0).all()


def test_parameter_counts_on_the_meta_device_match_a_real_model():
    table = vm.count_parameters(CFG, 40).set_index("component")["parameters"]
    real = sum(p.numel() for p in _model(0).parameters())
    assert table["total"] == real
    assert table["track table (item_emb)"] == V * CFG.d_model


# ---------------------------------------------------------------------------------- chapter 05
def _brute_force_skip_attention(model: SessionEncoder, pre: va.Prefixes, last: bool) -> dict:
    out = {}
    with torch.no_grad():
        att = model(pre.tracks, return_attention=True).attention
    for b in range(len(pre)):
        t = int(pre.lengths[b])
        sk = pre.skipped[b].tolist()
        for layer, w in enumerate(att):
            for h in range(w.shape[1]):
                s_vals, k_vals = [], []
                for q in ([t - 1] if last else range(t)):
                    skip = [float(w[b, h, q, s]) for s in range(q) if sk[s]]
                    kept = [float(w[b, h, q, s]) for s in range(q) if not sk[s]]
                    if skip and kept:
                        s_vals.append(sum(skip) / len(skip))
                        k_vals.append(sum(kept) / len(kept))
                if s_vals:
                    out[(b, layer + 1, h + 1)] = (np.mean(s_vals), np.mean(k_vals), len(s_vals))
    return out


@pytest.mark.parametrize("queries", ["all", "last"])
def test_skip_attention_equals_a_brute_force_loop(queries):
    model, pre = _model(2), _prefixes()
    frame = va.skip_attention(model, pre, queries=queries, batch_size=5)   # several batches
    expected = _brute_force_skip_attention(model, pre, last=queries == "last")
    assert len(frame) == len(expected) > 0
    for row in frame.itertuples():
        s, k, n = expected[(row.session, row.layer, row.head)]
        assert row.skipped == pytest.approx(s, abs=1e-6)
        assert row.kept == pytest.approx(k, abs=1e-6)
        assert row.n_queries == n


def test_summary_ratio_is_the_ratio_of_session_means_inside_its_interval():
    model, pre = _model(3), _prefixes(n=30)
    frame = va.skip_attention(model, pre)
    summary = va.summarize_skip_attention({"m": frame}, n_boot=200)
    assert len(summary) == CFG.n_layers * CFG.n_heads
    for row in summary.itertuples():
        g = frame[(frame["layer"] == row.layer) & (frame["head"] == row.head)]
        assert row.ratio == pytest.approx(g["skipped"].mean() / g["kept"].mean())
        assert row.low <= row.ratio <= row.high


def test_embedding_similarity_kept_skipped_equals_a_loop():
    model, pre = _model(4), _prefixes()
    frame = va.embedding_similarity({"m": model}, pre)
    table = torch.nn.functional.normalize(model.item_embeddings.detach(), dim=-1)
    got = frame[frame["pair"] == "kept-skipped"].set_index("session")["cosine"]
    for b in range(len(pre)):
        tr, sk = pre.session(b)
        pairs = [float(table[tr[i]] @ table[tr[j]]) for i in range(len(tr)) for j in range(len(tr))
                 if not sk[i] and sk[j] and tr[i] != tr[j]]
        if pairs:
            assert got[b] == pytest.approx(np.mean(pairs), abs=1e-6)
        else:
            assert b not in got.index


def test_attention_maps_figure_has_a_panel_per_model_layer_and_head():
    pre = _prefixes()
    tracks, skipped = pre.session(0)
    fig = va.plot_attention_maps({"a": _model(5), "b": _model(6)}, tracks, skipped)
    assert len(_image_axes(fig)) == 2 * CFG.n_layers * CFG.n_heads


def test_explorer_prerenders_every_choice_and_switches_with_jslinks_only():
    pre = _prefixes()
    sessions = [0, 3, 5]
    models = {"without": _model(7), "with": _model(8)}
    ex = va.attention_explorer(models, pre, sessions, dpi=30)
    assert isinstance(ex, widgets.VBox)
    expected = {(s, layer, head) for s in sessions for layer in (1, 2) for head in (1, 2)}
    assert set(ex.choices) == expected and set(ex.images) == expected
    assert all(bytes(im.value[:4]) == b"\x89PNG" for im in ex.images.values())
    assert len({bytes(im.value) for im in ex.images.values()}) == len(expected)   # all different

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
    assert all(link._model_name == "LinkModel" for link in ex.links)   # two-way, in the browser
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


def test_prefixes_and_pick_sessions_on_a_small_dataset():
    L = 6
    tracks = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]], dtype=torch.int32)
    skip = torch.tensor([[0, 3, 2, 0, 1, 0], [2, 2, 0, 0, 3, 0]], dtype=torch.int8)
    data = SimpleNamespace(tracks=tracks, skip=skip, skip_strength=2, max_length=L,
                           splits={"test_rows": torch.tensor([1, 0]),
                                   "test_pos": torch.tensor([5, 4])})
    pre = va.prefixes(data)
    assert pre.tracks.tolist() == [[11, 12, 13, 14, 15, 0], [5, 6, 7, 8, 0, 0]]
    assert pre.skipped.tolist() == [[True, True, False, False, True, False],
                                    [False, True, True, False, False, False]]
    assert va.pick_sessions(pre, 5, min_length=5, min_skipped=3, min_kept=2) == [0]


def test_borrowed_labels_come_from_a_prefix_of_the_same_length():
    pre = _prefixes(n=40, seed=1)
    ctrl = va.borrow_skip_labels(pre, seed=0)
    assert torch.equal(ctrl.tracks, pre.tracks) and torch.equal(ctrl.lengths, pre.lengths)
    assert not torch.equal(ctrl.skipped, pre.skipped)
    # every borrowed row is the label row of some prefix with the same length
    for i in range(len(pre)):
        same = (pre.lengths == pre.lengths[i]).nonzero().flatten()
        assert any(torch.equal(ctrl.skipped[i], pre.skipped[j]) for j in same)
    # a permutation within each length: the multiset of label rows is unchanged
    rows = sorted(map(tuple, pre.skipped.int().tolist()))
    assert sorted(map(tuple, ctrl.skipped.int().tolist())) == rows
