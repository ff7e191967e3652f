"""Tests of the training chapters' figures (`negrec_lib.viz.training`) and of `run_grid_cached`.

Figures for labelled axes and a title; the grid runner on a tiny configuration for its rows and
its cache. The measurements the figures draw are tested in tests/test_study_training.py; the
statistics of a grid (`negrec_lib.study.compare`, `negrec_lib.study.claims`) in
tests/test_stats.py and tests/test_study_tables.py.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import torch
from figure_checks import assert_labelled
from study_inputs import rank_examples

from negrec_lib.config import profile_config
from negrec_lib.errors import ConfigError
from negrec_lib.study import training as st
from negrec_lib.study.compare import comparisons
from negrec_lib.study.grids import run_grid_cached
from negrec_lib.viz import training as vt

TINY = [
    "sim.sessions=400",
    "sim.tracks=150",
    "sim.days=4",
    "model.d_model=8",
    "model.n_heads=2",
    "model.d_ff=8",
    "loss.n_negatives=20",
    "train.epochs=1",
    "train.batch_size=128",
    "train.progress=false",
    "train.eval_batch_size=256",
]


# ------------------------------------------------------------------------ skip-loss figures
def _toy():
    skipped = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0]], dtype=torch.bool)
    valid = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    angles = torch.linspace(0.1, 5.9, 12).reshape(2, 6)
    keys = torch.stack([angles.cos(), angles.sin(), 0.3 * torch.ones_like(angles)], -1)
    return keys, skipped & valid, valid


# ------------------------------------------------------------------------ chapter 3 figures
_examples = rank_examples


def test_chapter3_figures_are_labelled():
    hist = [
        {
            "epoch": e,
            "loss": 7 - e,
            "valid_ndcg@10": 0.1 * e - 0.01 * e * e,
            "valid_hr@10": 0.2 + 0.01 * e,
        }
        for e in range(1, 6)
    ]
    fig = vt.plot_learning_curves({"uni": hist, "bi": pd.DataFrame(hist)})
    assert_labelled(fig)
    assert len(fig.axes) == 3 and "epoch 5" in fig._suptitle.get_text()
    full = {
        "uni": {"hr@1": 0.05, "hr@10": 0.2, "mrr": 0.1},
        "pop": {"hr@1": 0.01, "hr@10": 0.05, "mrr": 0.02},
    }
    sampled = {k: {m: 2 * x for m, x in v.items()} for k, v in full.items()}
    fig = vt.plot_protocol_comparison(full, sampled)
    assert_labelled(fig)
    assert "x2.0 to x2.0" in fig._suptitle.get_text()
    fig = vt.plot_breakdown({"uni": _examples(1), "pop": _examples(2)})
    assert_labelled(fig)


def test_skip_figures_are_labelled():
    keys, skipped, valid = _toy()
    roles, _, _ = st.skip_roles(keys, skipped, valid)
    assert_labelled(vt.plot_skip_roles({"own session": roles}, skipped, valid))
    df = st.skip_pair_cosines(
        keys.reshape(12, 3), torch.arange(12).reshape(2, 6), skipped, valid.sum(1)
    )
    assert_labelled(vt.plot_pair_cosines({"a": df, "b": df}))


# ------------------------------------------------------------------------ run_grid_cached
def test_run_grid_cached_rows_and_cache(tmp_path, monkeypatch):
    base = profile_config("ci").override(TINY)
    variants = {
        "base": ["loss.skip_weight=0"],
        "skip, track": ["loss.skip_weight=1"],
        "named": ["name=shared-name", "loss.skip_weight=0"],
    }
    kw = dict(runs_root=tmp_path / "runs", data_root=tmp_path / "data")
    df = run_grid_cached(base, variants, [1, 2], {"skip, track": "base"}, **kw)
    assert list(zip(df["variant"], df["seed"])) == [(v, s) for v in variants for s in (1, 2)]
    assert list(df["baseline"]) == ["", "", "base", "base", "", ""]
    assert {
        "test_hr@1",
        "test_mrr",
        "test_skip_mrr",
        "sampled_hr@10",
        "epochs_run",
        "run_dir",
    } <= set(df.columns)
    names = [p.split("/")[-1].rsplit("-", 1)[0] for p in df["run_dir"]]
    assert names == ["base", "base", "skip-track", "skip-track", "shared-name", "shared-name"]
    assert df["run_dir"].nunique() == 6
    # a second call trains nothing and returns the same rows
    import negrec_lib.train as train

    def _no_training(*a, **k):
        raise AssertionError("run_grid_cached retrained a finished run")

    monkeypatch.setattr(train, "Trainer", _no_training)
    again = run_grid_cached(base, variants, [1, 2], {"skip, track": "base"}, **kw)
    pd.testing.assert_frame_equal(df, again)
    comp = comparisons(df, [("skip, track", "base")], ["hr@10"])  # the rows pair by seed
    assert comp["n"].item() == 2


def test_run_grid_cached_rejects_unknown_baselines(tmp_path):
    with pytest.raises(ConfigError, match="not variants"):
        run_grid_cached(profile_config("ci"), {"a": []}, [1], {"a": "b"}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="seed"):
        run_grid_cached(profile_config("ci"), {"a": []}, [], {}, tmp_path, tmp_path)
