"""The ``negrec`` command: simulate, prepare, train, evaluate, experiment.

Every sub-command is a thin layer over a library function; errors a user can cause print one
clear line (file, line, field, what to do) and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import re
import sys
import textwrap
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

from .config import DataConfig, ExperimentConfig, SimConfig, profile_config
from .errors import ConfigError, NegrecError
from .progress import add_quiet_argument


def _simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=["ci", "cpu", "gpu", "auto"],
        default="auto",
        help="take sizes from a profile (auto: NEGREC_PROFILE or the hardware)",
    )
    # one flag per SimConfig field; one given overrides the profile's value
    config_flags(p, SimConfig, defaults=False, help=_SIM_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    add_quiet_argument(p, "--no-progress")


_SIM_HELP = {
    "sessions": "number of sessions",
    "tracks": "number of catalogue tracks",
    "skip_signal": "0: skips independent of taste ... 1: strongly taste-driven",
    "seed": "random seed (same seed, same files)",
    "days": "number of days of logs",
    "max_length": "longest session",
}


def _run_simulate(args: argparse.Namespace) -> int:
    """``negrec simulate``: explicit flags override the profile's `SimConfig`."""
    from .sim import simulate

    sim = profile_config(None if args.profile == "auto" else args.profile).sim
    flags = {
        f.name: getattr(args, f.name)
        for f in fields(sim)
        if getattr(args, f.name, None) is not None
    }
    print(simulate(args.out, sim, force=args.force, progress=not args.quiet, **flags))
    return 0


def _prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        required=True,
        help="a log file, .csv.gz, or a folder of them (or the dataset root with training_set/)",
    )
    p.add_argument("--out", required=True, help="the prepared folder to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_quiet_argument(p)
    config_flags(p, DataConfig, help=_PREPARE_HELP)  # one flag per DataConfig field


# Help where a field's comment in config.py is not enough for the command line
_PREPARE_HELP = {
    "skip_strength": "skipped when skip strength >= this: 1 = skip_3, 2 = skip_2 (paper), "
    "3 = skip_1",
    "require_skip": "keep sessions without any skip (the paper drops them)",
    "on_error": "malformed sessions: stop with an error (default) or drop and count "
    "them (by reason, in the manifest); with drop, malformed track-feature "
    "rows are dropped too, and an unreadable feature file disables the "
    "features with a warning. Refused when no session is left",
    "partial_sessions": "a session the file starts or ends inside (a sample cut mid-session): "
    "stop with an error saying where (default), drop and count it, or keep "
    "the rows the file has",
    "date_format": "how the date column is spelled; auto (default) reads YYYY-MM-DD (with "
    "or without a time), dd/mm/yyyy, and dd-mm-yy or yy-mm-dd told apart by "
    "MSSD's date range (2018-07-15 to 2018-09-18), refusing what the range "
    "does not decide",
}


def _run_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import prepare

    cfg = DataConfig(
        **{f.name: getattr(args, f.name) for f in fields(DataConfig) if hasattr(args, f.name)}
    )
    try:
        man = prepare(args.input, args.out, cfg, force=args.force, progress=not args.quiet)
    except ConfigError as exc:  # name the flags: data.min_length -> --min-length
        if exc.cli_message is None:
            exc.cli_message = re.sub(
                r"\bdata\.([a-z_]+)", lambda m: "--" + m.group(1).replace("_", "-"), str(exc)
            ).replace("data: --", "--", 1)
        raise
    sizes = man["split_sizes"]
    print(
        f"prepared {man['sessions_kept']:,} sessions ({man['rows_read']:,} rows read) "
        f"into {args.out} in {man['seconds']} s"
    )
    print(
        f"  vocabulary: {man['n_tracks']:,} tracks; split {man['split']['kind']}: "
        f"train {sizes['train_sessions']:,} sessions, valid {sizes['valid']:,}, "
        f"test {sizes['test']:,}"
    )
    if man["sessions_dropped"]:
        print("  dropped: " + ", ".join(f"{k} {v:,}" for k, v in man["sessions_dropped"].items()))
    return 0


def load_config(config: str | None, profile: str | None, sets: list[str]) -> ExperimentConfig:
    """A configuration from a YAML file or a profile, with ``--set key=value`` overrides."""
    if config and profile:
        raise NegrecError("give --config or --profile, not both")
    if config:
        cfg = ExperimentConfig.from_yaml(config)
    else:
        cfg = profile_config(None if profile in (None, "auto") else profile)
    try:
        return cfg.override(sets or [])
    except ConfigError as exc:
        if exc.cli_message is None and str(exc).startswith("override"):
            exc.cli_message = "--set" + str(exc)[len("override") :]
        raise


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file (write one with --dump-config)")
    p.add_argument(
        "--profile",
        choices=["ci", "cpu", "gpu", "auto"],
        help="start from a profile's configuration (default: auto)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field, e.g. --set loss.skip_weight=1 --set model.causal=false",
    )
    p.add_argument("--data", help="a prepared folder (overrides data_dir)")
    p.add_argument("--out", help="run folder (overrides out_dir)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out; without --config, --profile and --set it "
        "continues with the run's own configuration (from its last.pt)",
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="with --resume: accept a configuration that differs from the "
        "checkpoint's in keys that are safe to change mid-run (the epoch cap, "
        "patience, evaluation frequency, device, name); the changes are "
        "recorded in metrics.json. Other differences are always refused",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="also save last.pt every N batches (long epochs)",
    )
    p.add_argument(
        "--dump-config",
        action="store_true",
        help="print the resolved configuration as YAML and exit",
    )
    add_quiet_argument(p)


def _run_train(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .data.cache import ensure_dataset
    from .data.sessions import SessionData
    from .train import Trainer

    own = (
        args.resume
        and args.out
        and not (args.config or args.profile or args.set)
        and (Path(args.out) / "last.pt").is_file()
    )
    if own:  # resume with the run's own configuration
        from .config import ExperimentConfig
        from .errors import display_path

        last = Path(args.out) / "last.pt"
        cfg = ExperimentConfig.from_dict(load_checkpoint(last)["config"], source=display_path(last))
    else:
        cfg = load_config(args.config, args.profile, args.set)
    if args.data:
        cfg.data_dir = args.data
    if args.out:
        cfg.out_dir = args.out
    if args.quiet:
        cfg.train.progress = False
    if args.dump_config:
        print(cfg.to_yaml(), end="")
        return 0
    data_dir = cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=cfg.train.progress)
    data = SessionData.load(data_dir)
    result = Trainer(
        cfg,
        data,
        cfg.out_dir,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        allow_config_change=args.allow_config_change,
    ).fit()
    if result:
        _print_metrics(result["test"], f"test ({cfg.name}, best epoch {result['best_epoch']})")
        print(f"run folder: {cfg.out_dir}")
    return 0


def _print_metrics(metrics: dict, title: str) -> None:
    keys = [k for k in metrics if k.startswith(("hr@", "ndcg@")) or k in ("mrr", "skip_mrr")]
    print(title)
    print("  " + "  ".join(f"{k}={metrics[k]:.4f}" for k in keys))


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a run")
    p.add_argument("--data", help="prepared folder (default: the run's data)")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument(
        "--protocol",
        choices=["full", "sampled"],
        default="full",
        help="full catalogue (honest) or the paper's batch targets + 1000 random",
    )
    p.add_argument(
        "--exclude-seen", action="store_true", help="do not rank tracks already in the session"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    add_quiet_argument(p)


def _run_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .data.cache import ensure_dataset
    from .data.sessions import SessionData
    from .metrics import evaluate
    from .runtime import resolve_device

    device = resolve_device(args.device)
    from .config import ExperimentConfig

    cfg = ExperimentConfig.from_dict(
        load_checkpoint(args.checkpoint)["config"], source=args.checkpoint
    )
    data_dir = (
        args.data or cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=not args.quiet)
    )
    data = SessionData.load(data_dir, device)
    model, cfg = model_from_checkpoint(args.checkpoint, data, device)
    res = evaluate(
        model,
        data,
        split=args.split,
        protocol=args.protocol,
        exclude_seen=args.exclude_seen,
        batch_size=cfg.train.eval_batch_size,
        seed=cfg.train.seed,
        progress=not args.quiet,
    )
    _print_metrics(res.metrics, f"{args.split} ({args.protocol} protocol), {args.checkpoint}")
    if args.json:
        from .atomic import atomic_write_text

        try:
            atomic_write_text(args.json, json.dumps(res.to_dict(), indent=2, default=float))
        except OSError as exc:
            raise NegrecError(
                f"--json {args.json}: cannot write it ({exc.strerror or exc})"
            ) from None
    return 0


def _grid_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment YAML file")
    p.add_argument("--results", default="results")


def _baselines_arguments(p: argparse.ArgumentParser) -> None:
    _grid_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _experiment_arguments(p: argparse.ArgumentParser) -> None:
    from .experiments import experiment_arguments

    experiment_arguments(p)


def _run_experiment(args: argparse.Namespace) -> int:
    from .experiments import run_cli

    return run_cli(args)


def _run_baselines(args: argparse.Namespace) -> int:
    from .study.baselines import baselines_table

    df = baselines_table(args.spec, args.results, progress=not args.quiet)
    cols = ["experiment", "method", "data_seed", "test_hr@1", "test_hr@10", "test_mrr"]
    print(df[cols].round(4).to_string(index=False))
    return 0


def _run_bounds(args: argparse.Namespace) -> int:
    from .study.bounds import bounds_table

    df = bounds_table(args.spec, args.results)
    cols = ["variant", "kind", "test_hr@1", "test_hr@10", "test_ndcg@10", "test_mrr"]
    print(df[cols].round(4).to_string(index=False))
    return 0


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
    from . import __version__

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


# ------------------------------------------------------------------ flags from the config classes
def config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    defaults: bool = True,
    help: Mapping[str, str] | None = None,
) -> None:
    """Add one flag per field of the config dataclass ``cls``, named, typed and explained by it.

    ``--field-name`` (``dest`` the field's name) takes the field's type: ``int``, ``float`` or
    ``str``, the values of a ``Literal`` as choices, and ``X | None`` as X. A ``bool`` field is
    a switch that flips its default: ``--no-field-name`` when it defaults to True. Help comes
    from ``help`` or else the field's comment in config.py. ``defaults``: the field's default
    (the flags build a config), or None (a flag given overrides a profile's value).

    >>> p = argparse.ArgumentParser()
    >>> config_flags(p, DataConfig)
    >>> args = p.parse_args(["--split", "by_day", "--no-require-skip"])
    >>> args.split, args.require_skip, args.min_length
    ('by_day', False, 6)
    """
    hints = get_type_hints(cls)
    comments = field_comments(cls)
    for f in fields(cls):
        kind = hints[f.name]
        default = f.default if defaults else None
        flag = "--" + f.name.replace("_", "-")
        text = (help or {}).get(f.name) or comments.get(f.name)
        text = text.replace("%", "%%") if text else None
        if kind is bool:
            on = f.default is True
            parser.add_argument(
                "--no-" + flag[2:] if on else flag,
                dest=f.name,
                action="store_false" if on else "store_true",
                default=default,
                help=text,
            )
            continue
        args = [a for a in get_args(kind) if a is not type(None)]
        if get_origin(kind) is Literal:
            parser.add_argument(flag, dest=f.name, choices=list(args), default=default, help=text)
            continue
        base = args[0] if args else kind  # X | None -> X
        if base not in (int, float, str):
            raise TypeError(f"{cls.__name__}.{f.name}: no flag for type {kind!r}")
        parser.add_argument(flag, dest=f.name, type=base, default=default, help=text)


def field_comments(cls: type) -> dict[str, str]:
    """The comment of each field of a dataclass in its source: on its line, else just above.

    >>> field_comments(DataConfig)["min_length"]
    'keep sessions with length >= min_length (paper: length > 5)'
    """
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    out: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        own = [
            comments[n]
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)
            if n in comments
        ]
        above: list[str] = []
        n = node.lineno - 1
        while n in comments and lines[n - 1].lstrip().startswith("#"):
            above.insert(0, comments[n])
            n -= 1
        if own or above:
            out[node.target.id] = " ".join(own or above)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``negrec`` console script.

    A `NegrecError` (a bad file, setting or folder) prints one line and exits with status 2;
    so does an operating-system error on a path the user gave (a full disk, a folder without
    write permission). Anything else is a bug in negrec: one line too, and status 1; set
    ``NEGREC_TRACEBACK=1`` to see the traceback.
    """
    import os

    from .errors import display_path

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NegrecError as exc:
        print(f"negrec {args.command}: error: {_one_line(exc.for_cli())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"negrec {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if os.environ.get("NEGREC_TRACEBACK"):
            raise
        where = f"{display_path(exc.filename)}: " if getattr(exc, "filename", None) else ""
        print(f"negrec {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the last line of defence against a traceback
        if os.environ.get("NEGREC_TRACEBACK"):
            raise
        print(
            f"negrec {args.command}: internal error: {type(exc).__name__}: "
            f"{_one_line(str(exc))[:300]} (a bug in negrec; rerun with NEGREC_TRACEBACK=1 "
            "and report the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
