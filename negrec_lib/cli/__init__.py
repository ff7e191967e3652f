"""The ``negrec`` command: simulate, prepare, train, evaluate, experiment.

Every sub-command is a thin layer over a library function; errors a user can cause print one
clear line (file, line, field, what to do) and exit with status 2, never a traceback.

The package, one idea a module: the registry of commands and its parser (`commands`), the
entry point (`entry`: `main`), flags derived from the config dataclasses (`flags`), and the
commands by group: data (`data`: simulate, prepare), one run (`training`: train, evaluate),
experiment files (`grids`: experiment, bounds, baselines). ``python -m negrec_lib.cli`` runs
the command.
"""

from __future__ import annotations

from .commands import COMMANDS, Command, build_parser
from .entry import main
from .flags import config_flags, field_comments
from .training import load_config

__all__ = [
    "COMMANDS",
    "Command",
    "build_parser",
    "config_flags",
    "field_comments",
    "load_config",
    "main",
]
