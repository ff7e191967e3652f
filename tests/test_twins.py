"""experiments/twins.py: a one-setting variant of the study's baseline against its twin, paired."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("twins", ROOT / "experiments" / "twins.py")
assert spec is not None and spec.loader is not None
twins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twins)


def test_the_committed_precision_comparison_is_what_the_script_writes(tmp_path: Path) -> None:
    out = tmp_path / "precision_comparison.csv"
    assert twins.main(["precision", "--out", str(out)]) == 0
    ours = pd.read_csv(out)
    committed = pd.read_csv(ROOT / "results" / "precision_comparison.csv")
    pd.testing.assert_frame_equal(ours, committed)
    assert list(ours["metric"]) == list(twins.METRICS)
    assert (ours["n"] == 5).all() and (ours["baseline"] == "uni-base").all()


def test_a_shifted_copy_of_the_twin_is_detected_and_errors_are_clear(tmp_path: Path) -> None:
    shutil.copy(ROOT / "results" / "study_claims.csv", tmp_path / "study_claims.csv")
    twin = pd.read_csv(tmp_path / "study_claims.csv")
    worse = twin[twin["variant"] == "uni-base"].copy()
    worse["variant"] = "uni-base-worse"
    for m in twins.METRICS:  # 10% lower on every replicate, plus a little noise
        worse[f"test_{m}"] = worse[f"test_{m}"] * (0.9 + 0.001 * worse["seed"])
    worse.to_csv(tmp_path / "worse.csv", index=False)
    assert twins.main(["worse", "--results", str(tmp_path)]) == 0
    comp = pd.read_csv(tmp_path / "worse_comparison.csv")
    assert (comp["rel_high"] < -0.05).all() and (comp["verdict"] == "lower").all()
    with pytest.raises(SystemExit, match="negrec experiment experiments/nope.yaml"):
        twins.main(["nope", "--results", str(tmp_path)])
    pd.concat([worse, worse.assign(variant="other")]).to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(SystemExit, match="expected one variant"):
        twins.main(["two", "--results", str(tmp_path)])
