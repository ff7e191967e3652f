"""The study's baseline with one training setting changed, against its twin, paired by replicate.

    python experiments/twins.py precision     # bf16 autocast  -> results/precision_comparison.csv
    python experiments/twins.py lazy_adam     # lazy Adam      -> results/lazy_adam_comparison.csv

Reads ``results/<grid>.csv`` (one variant of the study's unidirectional baseline, from
``negrec experiment experiments/<grid>.yaml``) and the twin of each of its runs, ``study_claims``'
``uni-base``: the same configuration, simulated data and seeds, with the paper's setting
(precision ``auto``, fp32 on a CPU; exact Adam). Every run trained until validation stopped
improving. For each full-catalogue test metric: both means, the paired difference with its t
interval, the relative change with Fieller's interval (`negrec_lib.study.compare.comparisons`),
p, and the verdict of `negrec_lib.study.stats.verdict` after Holm's correction over the metrics.
The intervals cover data and training-seed variation (each replicate draws its own dataset).
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
TWIN = ("study_claims", "uni-base")  # the table and variant every grid here is paired with


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="the experiment's name: results/<grid>.csv holds its runs")
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument("--out", help="default: results/<grid>_comparison.csv")
    args = p.parse_args(argv)
    res = Path(args.results)
    path = res / f"{args.grid}.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run `negrec experiment experiments/{args.grid}.yaml`")
    runs = read_results_table(path)
    if runs.empty:
        raise SystemExit(f"{path} has no rows: run the grid first")
    names = sorted(set(runs["variant"]))
    if len(names) != 1:
        raise SystemExit(f"{path}: expected one variant to compare with its twin, found {names}")
    twin = read_results_table(res / f"{TWIN[0]}.csv")
    twin = twin[twin["variant"] == TWIN[1]]
    both = pd.concat([runs, twin], ignore_index=True)
    comp = comparisons(both, [(names[0], TWIN[1])], METRICS)
    comp["p_holm"] = holm(comp["p"].to_numpy())
    comp["verdict"] = [
        verdict(lo, hi, ph) for lo, hi, ph in zip(comp["rel_low"], comp["rel_high"], comp["p_holm"])
    ]
    comp["varies"] = "data and training seed (one simulated dataset per replicate)"
    out = Path(args.out) if args.out else res / f"{args.grid}_comparison.csv"
    atomic_write_text(out, comp.to_csv(index=False))
    show = ["metric", "n", "baseline_mean", "variant_mean", "change [95% CI]", "p", "p_holm"]
    print(comp[show + ["verdict"]].to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
