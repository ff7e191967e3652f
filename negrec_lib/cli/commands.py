"""The registry of ``negrec`` sub-commands (`COMMANDS`) and the parser built from it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .data import _prepare_arguments, _run_prepare, _run_simulate, _simulate_arguments
from .grids import (
    _baselines_arguments,
    _experiment_arguments,
    _grid_arguments,
    _run_baselines,
    _run_bounds,
    _run_experiment,
)
from .training import _evaluate_arguments, _run_evaluate, _run_train, _train_arguments


# ------------------------------------------------------------------------------ the commands
@dataclass(frozen=True)
class Command:
    """One ``negrec`` sub-command, the only way one is registered (see `COMMANDS`).

    ``arguments(parser)`` adds its flags to its `argparse` parser; ``run(args)`` does the work
    and returns the exit status.

    >>> [c.name for c in COMMANDS]
    ['simulate', 'prepare', 'train', 'evaluate', 'experiment', 'bounds', 'baselines']
    """

    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = (
    Command(
        "simulate",
        "write simulated MSSD-format data",
        "Write simulated sessions and track features in the exact MSSD format, with the "
        "simulator's ground truth.",
        _simulate_arguments,
        _run_simulate,
    ),
    Command(
        "prepare",
        "MSSD logs -> a prepared dataset folder",
        "Read MSSD logs (real or simulated), apply the skip label, filters, vocabulary and "
        "split, and write a prepared folder.",
        _prepare_arguments,
        _run_prepare,
    ),
    Command(
        "train",
        "train one configuration",
        "Train the encoder; the best epoch on validation is tested once. Without --data (and "
        "no data_dir in the config), the profile's simulated data is generated and prepared "
        "first.",
        _train_arguments,
        _run_train,
    ),
    Command(
        "evaluate",
        "evaluate a checkpoint",
        "Rank the catalogue for every example of a split with a trained model and print (or "
        "write) the metrics.",
        _evaluate_arguments,
        _run_evaluate,
    ),
    Command(
        "experiment",
        "run a grid of configurations x seeds",
        "Train every (variant, seed) of an experiment file that has no row yet in "
        "results/<name>.csv, then print the summary.",
        _experiment_arguments,
        _run_experiment,
    ),
    Command(
        "bounds",
        "oracle and popularity on an experiment's datasets",
        "For every distinct simulated dataset of an experiment file, evaluate the oracle (the "
        "simulator's true next-track distribution) and the popularity baseline on the test "
        "split; writes <results>/<name>_bounds.csv.",
        _grid_arguments,
        _run_bounds,
    ),
    Command(
        "baselines",
        "classical baselines on an experiment's datasets",
        "For every distinct dataset of an experiment file, evaluate popularity, a first-order "
        "Markov chain, SKNN, V-SKNN and the oracle on the test split with the models' "
        "full-catalogue ranking; adds the missing rows to <results>/baselines.csv.",
        _baselines_arguments,
        _run_baselines,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``negrec`` command: one sub-parser per entry of `COMMANDS`."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="negrec", description="Sequential music recommendation with negative feedback."
    )
    parser.add_argument("--version", action="version", version=f"negrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description)
        command.arguments(p)
        p.set_defaults(func=command.run)
    return parser
