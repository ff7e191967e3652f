"""Write results/verdicts.csv: every claim, control and mechanism comparison of the study's grids.

    python experiments/verdicts.py                       # every study grid -> results/verdicts.csv
    python experiments/verdicts.py --grid study_claims:paper --grid study_claims_by_day:by_day

The claims grids are read with the paper's claims and the study's controls
(`negrec_lib.study.claims.CLAIMS`); any other grid (the skip_signal sweep) with one family per
(variant, baseline) pair it names. Holm runs within each family: one claim, one protocol.

Each row: claim, split, protocol (full catalogue or the paper's sampled one), metric, the paired
difference with t and bootstrap intervals, the relative change with Fieller and bootstrap
intervals, p and the Holm-adjusted p within the claim's family, the verdict, the paper's number
for reference, and which sources of variation the interval covers. Grids that do not exist yet
are skipped with a note. The book prints its verdicts from this file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib.study.claims import CLAIMS, claims_from_baselines, verdicts  # noqa: E402
from negrec_lib.study.grids import read_results_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--grid",
        action="append",
        metavar="NAME:SPLIT",
        help="a results table and the split it used (default: study_claims:paper "
        "and study_claims_by_day:by_day)",
    )
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument("--out", default=None, help="default: <results>/verdicts.csv")
    args = p.parse_args(argv)
    parts = []
    for item in args.grid or [
        "study_claims:paper",
        "study_claims_by_day:by_day",
        "study_skip_signal:paper",
    ]:
        name, _, split = item.partition(":")
        path = Path(args.results) / f"{name}.csv"
        if not path.is_file():
            print(f"{path}: not there yet (run `negrec experiment experiments/{name}.yaml`)")
            continue
        runs = read_results_table(path)
        claims = CLAIMS if name.startswith("study_claims") else claims_from_baselines(runs)
        table = verdicts(runs, split or "paper", claims)
        table.insert(0, "grid", name)
        parts.append(table)
    if not parts:
        print("no grid to read; nothing written")
        return 1
    out = pd.concat(parts, ignore_index=True)
    dest = Path(args.out or Path(args.results) / "verdicts.csv")
    tmp = dest.with_suffix(".csv.tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(dest)
    cols = [
        "claim",
        "protocol",
        "metric",
        "n",
        "diff",
        "rel",
        "rel_low",
        "rel_high",
        "p_holm",
        "verdict",
    ]
    with pd.option_context("display.width", 160):
        print(out[cols].round(4).to_string(index=False))
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
