"""Regenerate every figure of chapters 6 and 7 from the committed results tables.

    python experiments/figures.py                     # results/ -> results/figures/*.png
    python experiments/figures.py --only 07_reference # one figure
    python experiments/figures.py --results other/ --out /tmp/figs

Each figure is drawn by the same `negrec_lib.viz.study` call, with the same arguments, as in the
chapter that shows it (the chapter's cell is named beside each entry of FIGURES), so the PNG files
and the book's figures cannot disagree. Nothing is trained: the script reads results/<grid>.csv,
baselines.csv, verdicts.csv and study_targets.csv, written by `negrec experiment`,
`negrec baselines`, experiments/verdicts.py and experiments/targets.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from negrec_lib.notebook import apply_plot_style
from negrec_lib.study import ceilings, claims, compare, curves, results
from negrec_lib.viz import ceilings as vc
from negrec_lib.viz import study as vs

ROOT = Path(__file__).resolve().parents[1]


def _curves(r: Path) -> Figure:
    runs = results.load_results("study_claims", r)
    targets = pd.read_csv(r / "study_targets.csv")
    targets = targets[targets["experiment"] == "study_claims"]
    per_epoch = {"uni-base": targets["uni_targets"].mean(), "bi-base": targets["bi_targets"].mean()}
    long = curves.curves(runs[runs["variant"].isin(list(per_epoch))])
    return vs.plot_curves(curves.curve_summary(long), targets=per_epoch)


def _sweep(r: Path) -> Figure:
    base = results.load_baselines(root=r)
    signal = results.with_borrowed_runs(
        results.load_results("study_skip_signal", r),
        results.load_results("study_claims", r),
        results.SIGNAL_FROM_CLAIMS,
        {"sim.skip_signal": 0.8},
    )
    table = compare.sweep_table(
        signal,
        "sim.skip_signal",
        ["hr@1", "hr@10"],
        ceilings=base[base["method"] == "oracle"],
    )
    return vc.sweep_plot(
        table, "skip_signal of the simulator (0: skips ignore taste, 1: taste decides)"
    )


MODELS = ["uni-base", "uni-skip-track", "bi-base"]

# name -> function of the results folder; chapter 06 "Evaluation traps", chapter 07 "Beyond"
FIGURES: dict[str, Callable[[Path], Figure]] = {
    # 06, "Trap 1: ranking among a sample"
    "06_protocols": lambda r: vs.plot_protocols(
        results.load_results("study_claims", r), claims.SKIP_PAIRS, "hr@10"
    ),
    # 06, "Trap 2: leave-last-out against a split by day"
    "06_splits": lambda r: vs.plot_claims_by_split(
        results.load_verdicts(r), labels=claims.CLAIM_NAMES
    ),
    # 06, "Trap 3: a comparison of budgets"
    "06_curves": _curves,
    # 06, "Trap 4: one run against five"
    "06_seeds": lambda r: vs.plot_seed_spread(
        results.load_results("study_claims", r), claims.SEED_PAIRS, "hr@1"
    ),
    # 07, "Between popularity and the oracle"
    "07_reference": lambda r: vc.plot_reference(
        ceilings.reference_table(
            results.load_results("study_claims", r), results.load_baselines(root=r), MODELS
        ),
        MODELS,
    ),
    # 07, "Where does the skip loss's effect come from?"
    "07_controls": lambda r: vs.forest_plot(
        compare.labelled_comparisons(
            results.load_results("study_claims", r), claims.CONTROL_PAIRS, ["hr@1", "hr@10"]
        ),
        series="series",
    ),
    # 07, "What the loss changes: skipped and kept targets"
    "07_mechanism": lambda r: vs.forest_plot(
        compare.labelled_comparisons(
            results.load_results("study_claims", r),
            claims.MECHANISM_PAIRS,
            ["skip_mrr", "unskipped_mrr"],
        ),
        series="series",
    ),
    # 07, "When do skips help?"
    "07_skip_signal": _sweep,
    # 07, "By listening context"
    "07_contexts": lambda r: vc.plot_contexts(
        ceilings.context_table(
            results.load_results("study_claims", r),
            results.load_baselines(root=r),
            "uni-skip-track",
            "uni-base",
        ),
        "uni-skip-track",
        "uni-base",
    ),
}


def main(argv: list[str] | None = None) -> list[Path]:
    """Write the selected figures as PNG files; returns their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "results",
        help="folder of the results tables (default: results/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the PNG files (default: <results>/figures)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(FIGURES),
        metavar="NAME",
        help="draw only this figure (repeatable)",
    )
    args = parser.parse_args(argv)
    out = args.out or args.results / "figures"
    out.mkdir(parents=True, exist_ok=True)
    apply_plot_style()
    written = []
    for name in args.only or FIGURES:
        fig = FIGURES[name](args.results)
        path = out / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
