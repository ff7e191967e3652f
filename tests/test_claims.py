"""negrec_lib.study.claims: claim families, protocols, Holm within a family, what varies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from negrec_lib.study.claims import CLAIMS, verdicts
from negrec_lib.study.stats import compare_variants

ROOT = Path(__file__).resolve().parents[1]


def _runs(replicate: bool) -> pd.DataFrame:
    g = np.random.default_rng(0)
    effect = {"uni-base": 0.0, "uni-skip-track": 0.01, "uni-skip-hidden": 0.004, "bi-base": -0.03}
    rows = []
    for s in range(5):
        level = 0.2 + (0.01 * s if replicate else 0.0)
        for variant, e in effect.items():
            row = {"variant": variant, "seed": s, "data_seed": (7 + s) if replicate else 7}
            for k, base in zip((1, 5, 10, 20), (0.06, 0.19, 0.27, 0.37)):
                for prefix, scale in (("test_", 1.0), ("sampled_", 1.6)):
                    row[f"{prefix}hr@{k}"] = scale * (base + level - 0.2 + e + g.normal(0, 0.002))
            row["test_skip_mrr"], row["test_unskipped_mrr"] = 0.1 + e, 0.15 + e / 2
            rows.append(row)
    return pd.DataFrame(rows)


def test_each_claim_is_a_family_per_protocol_with_its_own_holm():
    runs = _runs(replicate=True)
    out = verdicts(runs, "paper")
    # controls and the reference pairing are absent from this table: skipped, not an error
    assert set(out["claim"]) == {
        "1",
        "2",
        "3",
        "mechanism: uni-skip-track",
        "mechanism: uni-skip-hidden",
    }
    one = out[(out["claim"] == "1") & (out["protocol"] == "full catalogue")]
    assert list(one["metric"]) == ["hr@1", "hr@5", "hr@10", "hr@20"]
    assert list(one["paper"]) == list(CLAIMS[0].paper)
    direct = compare_variants(
        runs, "uni-skip-track", "uni-base", ["test_hr@1", "test_hr@5", "test_hr@10", "test_hr@20"]
    )
    assert np.allclose(one["p_holm"], direct["p_holm"])  # Holm over the 4 K of claim 1
    assert (one["verdict"] == "higher").all()
    two = out[(out["claim"] == "2") & (out["protocol"] == "full catalogue")]
    assert (two["verdict"] == "higher").all()  # uni above bi
    assert set(out["protocol"]) == {"full catalogue", "sampled (paper)"}
    assert set(out["varies"]) == {"data, test sessions and training"}
    assert set(out[out["claim"] == "mechanism: uni-skip-track"]["metric"]) == {
        "skip_mrr",
        "unskipped_mrr",
    }


def test_one_dataset_says_training_only():
    out = verdicts(_runs(replicate=False), "by_day")
    assert set(out["varies"]) == {"training only (one dataset and one test set)"}
    assert set(out["split"]) == {"by_day"}


def test_the_script_writes_verdicts_csv(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "verdicts_script", ROOT / "experiments" / "verdicts.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _runs(replicate=True).to_csv(tmp_path / "study_claims.csv", index=False)
    assert mod.main(["--results", str(tmp_path)]) == 0
    written = pd.read_csv(tmp_path / "verdicts.csv")
    assert {
        "grid",
        "claim",
        "protocol",
        "metric",
        "rel_low",
        "rel_high",
        "p_holm",
        "verdict",
        "varies",
    } <= set(written.columns)
    assert mod.main(["--results", str(tmp_path / "none")]) == 1  # no grid yet: nothing written
