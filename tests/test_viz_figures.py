"""The figures of chapters 2 and 4 drawn as the chapters draw them, so that tests/conftest.py
checks them for legibility at their rendered size (text of 8 pt or more, nothing overlapping),
with the live learning curve of negrec_lib.viz.live."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from negrec_lib.config import ModelConfig, profile_config
from negrec_lib.model import SessionEncoder, causal_targets, cloze_inputs
from negrec_lib.study.encoder import output_change, parameter_scaling
from negrec_lib.study.training import skip_pair_cosines
from negrec_lib.tokens import MASK_ID, PAD_ID
from negrec_lib.viz import model as vm
from negrec_lib.viz import training as vt
from negrec_lib.viz.live import LiveCurve

BATCH = torch.tensor(
    [
        [12, 7, 30, 21, 5, 16, 9, 25],
        [4, 18, 11, 27, 8, 6, 0, 0],
        [33, 14, 3, 19, 22, 40, 13, 0],
        [10, 29, 17, 36, 15, 0, 0, 0],
    ]
)


def _models():
    torch.manual_seed(0)
    base = dict(d_model=16, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, max_length=10)
    return (
        SessionEncoder(ModelConfig(causal=True, **base), 45),
        SessionEncoder(ModelConfig(causal=False, **base), 45),
    )


def test_chapter_2_masks():
    causal, bidir = _models()
    toy = torch.tensor([[12, 7, 30, 21, 5, 16, PAD_ID, PAD_ID]])
    full = BATCH[:1]
    with_mask = toy.clone()
    with_mask[0, 6] = MASK_ID
    sessions = {
        "(a) key padding\n(bidirectional, 6 tracks + 2 PAD)": (bidir, toy),
        "(b) causal\n(causal, 8 tracks, no padding)": (causal, full),
        "(c) causal model\n= (a) and (b)": (causal, toy),
        "(d) bidirectional at evaluation\n(6 tracks + [MASK] + PAD)": (bidir, with_mask),
    }
    vm.plot_masks(
        {t: m.attention_mask(s) for t, (m, s) in sessions.items()},
        {t: s for t, (_, s) in sessions.items()},
    )


def test_chapter_2_token_grids_two_and_three_panels():
    lengths = (BATCH != PAD_ID).sum(dim=1)
    vm.plot_token_grids(
        {"input (causal model)": BATCH, "target: the next track": causal_targets(BATCH, lengths)}
    )
    cloze_in, cloze_target = cloze_inputs(
        BATCH, lengths, mask_prob=0.15, generator=torch.Generator().manual_seed(3)
    )
    at_eval = torch.nn.functional.pad(BATCH, (0, 1), value=PAD_ID)
    at_eval[torch.arange(4), lengths] = MASK_ID
    vm.plot_token_grids(
        {
            "input (bidirectional, training)": cloze_in,
            "target (masked tracks only)": cloze_target,
            "input at evaluation": at_eval,
        }
    )


def test_chapter_2_output_change_and_parameters():
    causal, bidir = _models()
    toy = BATCH[1:2]
    edit = dict(position=3, new_track=33)
    vm.plot_output_change(
        {
            "causal (unidirectional)": output_change(causal, toy, **edit),
            "bidirectional": output_change(bidir, toy, **edit),
        },
        3,
    )
    gpu = profile_config("gpu").model
    vm.plot_parameter_scaling(
        parameter_scaling(
            gpu,
            n_tracks=[100, 10_000_000],
            marks={
                "ci catalogue": 800,
                "cpu catalogue": 8_000,
                "gpu catalogue": 50_000,
                "paper": 1_000_000,
            },
        ),
        gpu.d_model,
    )


def test_chapter_4_pair_cosines_three_variants():
    causal, _ = _models()
    g = torch.Generator().manual_seed(1)
    tracks = torch.randint(3, 45, (60, 8), generator=g)
    lengths = torch.full((60,), 8)
    skips = torch.rand(60, 8, generator=g) < 0.4
    cos = skip_pair_cosines(causal.item_embeddings, tracks, skips, lengths)
    vt.plot_pair_cosines({"baseline": cos, "skip, track anchor": cos, "skip, hidden anchor": cos})


def test_live_curve_of_a_grid():
    curve = LiveCurve("ndcg@10", display=False)
    cfg = profile_config("ci")
    for i in range(9):
        curve.label = f"skip, hidden anchor, seed {i}"
        curve.on_cached_run(
            cfg,
            [
                {"epoch": e, "loss": 5 - e / 3 - i / 20, "valid_ndcg@10": 0.1 + e / 50 + i / 100}
                for e in (1, 2, 3)
            ],
            {},
        )
    fig = curve.figure()
    assert len(fig.axes[1].lines) == 9


def test_multi_panel_figures_draw_into_given_axes():
    """The viz convention (negrec_lib.viz.style): ``ax`` takes one Axes per panel, the figure
    that holds them is returned, and nothing else is drawn."""
    import matplotlib.pyplot as plt

    hist = [
        {"epoch": e, "loss": 7 - e, "valid_ndcg@10": 0.1 * e, "valid_hr@10": 0.2 + 0.01 * e}
        for e in range(1, 4)
    ]
    fig, axes = plt.subplots(1, 3, figsize=(7, 3), layout="constrained")
    assert vt.plot_learning_curves({"uni": hist}, ax=axes) is fig
    assert all(ax.lines for ax in axes) and len(fig.axes) == 3
    causal, bidir = _models()
    toy = BATCH[1:2]
    fig, axes = plt.subplots(2, 1, figsize=(6, 6), layout="constrained")
    change = {
        name: output_change(m, toy, position=3, new_track=33)
        for name, m in (("causal", causal), ("bidirectional", bidir))
    }
    assert vm.plot_output_change(change, 3, ax=axes) is fig
    with pytest.raises(ValueError):  # one Axes per panel, or a new figure
        vm.plot_output_change(change, 3, ax=axes[:1])
