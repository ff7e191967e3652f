"""bf16 against fp32 training, paired by replicate: does the cheaper precision cost accuracy?

    python experiments/precision.py        # -> results/precision_comparison.csv

Reads ``results/precision.csv`` (the study's unidirectional baseline trained under bf16,
``negrec experiment experiments/precision.yaml``) and the fp32 twin of each of its runs,
``study_claims.csv``'s ``uni-base`` (the same configuration, simulated data and seeds; precision
``auto`` is fp32 on a CPU). Every run trained until validation stopped improving. For each
full-catalogue test metric: both means, the paired difference with its t interval, the relative
change with Fieller's interval (`negrec_lib.study.compare.comparisons`), p, and the verdict of
`negrec_lib.study.stats.verdict` after Holm's correction over the metrics. The intervals cover
data and training-seed variation (each replicate draws its own dataset).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib.atomic import atomic_write_text  # noqa: E402
from negrec_lib.study.compare import comparisons  # noqa: E402
from negrec_lib.study.grids import read_results_table  # noqa: E402
from negrec_lib.study.stats import holm, verdict  # noqa: E402

METRICS = ("hr@1", "hr@5", "hr@10", "hr@20", "ndcg@10", "mrr")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument("--out", default=str(ROOT / "results" / "precision_comparison.csv"))
    args = p.parse_args(argv)
    res = Path(args.results)
    bf16 = read_results_table(res / "precision.csv")
    fp32 = read_results_table(res / "study_claims.csv")
    fp32 = fp32[fp32["variant"] == "uni-base"]
    if bf16.empty:
        raise SystemExit(f"{res / 'precision.csv'} has no rows: run the grid first")
    both = pd.concat([bf16, fp32], ignore_index=True)
    comp = comparisons(both, [("uni-base-bf16", "uni-base")], METRICS)
    comp["p_holm"] = holm(comp["p"].to_numpy())
    comp["verdict"] = [
        verdict(lo, hi, ph) for lo, hi, ph in zip(comp["rel_low"], comp["rel_high"], comp["p_holm"])
    ]
    comp["varies"] = "data and training seed (one simulated dataset per replicate)"
    atomic_write_text(Path(args.out), comp.to_csv(index=False))
    show = ["metric", "n", "baseline_mean", "variant_mean", "change [95% CI]", "p", "p_holm"]
    print(comp[show + ["verdict"]].to_string(index=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
