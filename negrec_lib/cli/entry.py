"""The ``negrec`` console script's entry point: errors a user can cause print one line."""

from __future__ import annotations

import sys

from ..errors import NegrecError
from .commands import build_parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``negrec`` console script.

    A `NegrecError` (a bad file, setting or folder) prints one line and exits with status 2;
    so does an operating-system error on a path the user gave (a full disk, a folder without
    write permission). Anything else is a bug in negrec: one line too, and status 1; set
    ``NEGREC_TRACEBACK=1`` to see the traceback.
    """
    import os

    from ..errors import display_path

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
