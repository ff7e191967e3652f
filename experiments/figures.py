"""Regenerate every figure of chapters 6 and 7 from the committed results tables.

    python experiments/figures.py                     # results/ -> results/figures/*.png
    python experiments/figures.py --only 07_oracle    # one figure
    python experiments/figures.py --results other/ --out /tmp/figs

Each figure is drawn by the same `negrec_lib.viz.study` call, with the same arguments, as in the
chapter that shows it (the chapter's cell is named beside each entry of FIGURES), so the PNG files
and the book's figures cannot disagree. Nothing is trained: the script reads results/<grid>.csv
and results/<grid>_bounds.csv, written by `negrec experiment` and `negrec bounds`.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from negrec_lib.notebook import apply_plot_style  # noqa: E402
from negrec_lib.viz import study as vs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# name -> function of the results folder; chapter 06 "Evaluation traps", chapter 07 "Beyond"
FIGURES: dict[str, Callable[[Path], Figure]] = {
    # 06, section "Sampled against full-catalogue ranking"
    "06_protocols": lambda r: vs.plot_protocols(vs.load_results("claims_paper", r),
                                                vs.SKIP_PAIRS, "hr@10"),
    # 06, section "Leave-last-out against a split by day"
    "06_splits": lambda r: vs.plot_claims_by_split(
        {"leave-last-out": vs.load_results("claims_paper", r),
         "by day": vs.load_results("claims_by_day", r)}),
    # 06, section "One seed against many"
    "06_seeds": lambda r: vs.plot_seed_spread(vs.load_results("claims_paper", r),
                                              vs.SEED_PAIRS, "hr@1"),
    # 06, section "What the pairing bug costs"
    "06_reference": lambda r: vs.forest_plot(
        vs.labelled_comparisons(vs.load_results("claims_paper", r), vs.REFERENCE_PAIRS,
                                ["hr@1", "hr@10"]), series="series"),
    # 07, section "When do skips help?"
    "07_skip_signal": lambda r: vs.sweep_plot(
        vs.sweep_table(vs.load_results("skip_signal", r), "sim.skip_signal"),
        "skip_signal of the simulator (0: skips ignore taste, 1: taste decides)"),
    # 07, section "How close to the best possible?"
    "07_oracle": lambda r: vs.plot_oracle(vs.load_results("claims_paper", r),
                                          vs.load_bounds("claims_paper", r)),
    # 07, section "By listening context"
    "07_contexts": lambda r: vs.plot_contexts(
        vs.context_table(vs.load_results("claims_paper", r), vs.load_bounds("claims_paper", r),
                         "uni-skip-track", "uni-base"), "uni-skip-track", "uni-base"),
    # 07, section "Content features"
    "07_features": lambda r: vs.forest_plot(
        vs.labelled_comparisons(vs.load_results("features", r), vs.FEATURE_PAIRS,
                                ["hr@1", "hr@10"]), series="series"),
    # 07, section "Longer sessions"
    "07_long_sessions": lambda r: vs.plot_long_sessions(vs.load_results("long_sessions", r)),
    # 07, section "The weight of the skip loss"
    "07_skip_weight": lambda r: vs.sweep_plot(
        vs.sweep_table(vs.load_results("skip_weight", r), "loss.skip_weight"),
        "weight lambda of the skip loss", xscale="symlog"),
}


def main(argv: list[str] | None = None) -> list[Path]:
    """Write the selected figures as PNG files; returns their paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results",
                        help="folder of the results tables (default: results/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the PNG files (default: <results>/figures)")
    parser.add_argument("--only", action="append", choices=sorted(FIGURES), metavar="NAME",
                        help="draw only this figure (repeatable)")
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
