"""experiments/rerun_rows.py: choosing rows and comparing a rerun with the committed row."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("rerun_rows", ROOT / "experiments" / "rerun_rows.py")
rr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rr)


def _table():
    return pd.DataFrame(
        {
            "variant": ["a", "a", "b", "b"],
            "seed": [0, 1, 0, 1],
            "test_hr@1": [0.1, 0.2, 0.3, 0.4],
            "sampled_mrr": [1.0, 2, 3, 4],
            "ctx_radio_hr@10": [np.nan, 0.5, 0.6, 0.7],
            "wall_seconds": [9, 9, 9, 9],
        }
    )


def test_choose_named_and_sampled_rows_without_duplicates():
    t = _table()
    got = rr.choose(t, ["b:1", "a:0"], sample=0, seed=0)
    assert list(zip(got["variant"], got["seed"])) == [("b", 1), ("a", 0)]
    everything = rr.choose(t, ["b:1"], sample=4, seed=0)
    assert len(everything) == 4  # b:1 drawn again is kept once
    with pytest.raises(SystemExit, match="no row 'c:0'"):
        rr.choose(t, ["c:0"], sample=0, seed=0)
    with pytest.raises(SystemExit, match="--row"):
        rr.choose(t, [], sample=0, seed=0)


def test_compare_rows_flags_only_metric_differences():
    t = _table()
    old, new = t.iloc[0].copy(), t.iloc[0].copy()
    new["wall_seconds"] = 99  # not a metric: ignored
    cmp = rr.compare_rows(old, new, tol=0.0)
    assert list(cmp.index) == ["test_hr@1", "sampled_mrr", "ctx_radio_hr@10"]
    assert cmp["agrees"].all()  # NaN on both sides agrees
    new["test_hr@1"] = 0.1 + 1e-9
    assert not rr.compare_rows(old, new, tol=0.0).loc["test_hr@1", "agrees"]
    assert rr.compare_rows(old, new, tol=1e-6).loc["test_hr@1", "agrees"]


def test_rows_from_before_the_initialisation_fix_are_not_rerun_at_head(tmp_path):
    row = pd.Series(
        {
            "experiment": "claims_paper",
            "variant": "uni-base",
            "seed": 0,
            "commit": "abc1234",
            "command": "negrec experiment x.yaml",
            "config": '{"model": {"d_model": 64}}',
        }
    )
    with pytest.raises(SystemExit, match="predates model.init.*git checkout abc1234"):
        rr.rerun(row, tmp_path)
