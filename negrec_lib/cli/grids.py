"""``negrec experiment``, ``bounds`` and ``baselines``: the commands over an experiment file."""

from __future__ import annotations

import argparse

from ..progress import add_quiet_argument


def _grid_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment YAML file")
    p.add_argument("--results", default="results")


def _baselines_arguments(p: argparse.ArgumentParser) -> None:
    _grid_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _experiment_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment YAML file (see experiments/)")
    p.add_argument("--only", action="append", metavar="VARIANT", help="run only these variants")
    p.add_argument("--seed", action="append", type=int, dest="seeds", help="run only these seeds")
    p.add_argument("--results", default="results", help="folder of the results tables")
    p.add_argument("--runs", default="runs", help="folder of the run folders (checkpoints)")
    add_quiet_argument(p)


def _run_experiment(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..study.grids import load_spec, run_experiment, summary_table

    spec = load_spec(args.spec)
    df = run_experiment(
        spec, args.results, args.runs, args.only, args.seeds, progress=not args.quiet
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(summary_table(df).to_string())
    print(
        "change: mean(variant) / mean(baseline) - 1, Fieller's 95% interval; p: paired t-test, "
        "not adjusted for multiple comparisons"
    )
    return 0


def _run_baselines(args: argparse.Namespace) -> int:
    from ..study.baselines import baselines_table

    df = baselines_table(args.spec, args.results, progress=not args.quiet)
    cols = ["experiment", "method", "data_seed", "test_hr@1", "test_hr@10", "test_mrr"]
    print(df[cols].round(4).to_string(index=False))
    return 0


def _run_bounds(args: argparse.Namespace) -> int:
    from ..study.bounds import bounds_table

    df = bounds_table(args.spec, args.results)
    cols = ["variant", "kind", "test_hr@1", "test_hr@10", "test_ndcg@10", "test_mrr"]
    print(df[cols].round(4).to_string(index=False))
    return 0
