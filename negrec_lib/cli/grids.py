"""``negrec experiment``, ``bounds`` and ``baselines``: the commands over an experiment file."""

from __future__ import annotations

import argparse


def _grid_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment YAML file")
    p.add_argument("--results", default="results")


def _baselines_arguments(p: argparse.ArgumentParser) -> None:
    _grid_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _experiment_arguments(p: argparse.ArgumentParser) -> None:
    from ..experiments import experiment_arguments

    experiment_arguments(p)


def _run_experiment(args: argparse.Namespace) -> int:
    from ..experiments import run_cli

    return run_cli(args)


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
