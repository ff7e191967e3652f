"""``negrec simulate`` and ``negrec prepare``: simulated MSSD data, and a prepared folder."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields

from ..config import DataConfig, SimConfig, profile_config
from ..errors import ConfigError
from ..progress import add_quiet_argument
from .flags import config_flags


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
    from ..sim import simulate

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


# Help where a field's comment in config/sections.py is not enough for the command line
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
    from ..data.prepare import prepare

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
