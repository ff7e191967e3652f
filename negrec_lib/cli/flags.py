"""Command-line flags derived from the config dataclasses: one flag per field, its help from
the field's comment in `negrec_lib.config.sections`."""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import textwrap
import tokenize
from collections.abc import Mapping
from dataclasses import fields
from typing import Literal, get_args, get_origin, get_type_hints


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
    from ``help`` or else the field's comment in `negrec_lib.config.sections`. ``defaults``: the
    field's default (the flags build a config), or None (a flag given overrides a profile's
    value).

    >>> from negrec_lib.config import DataConfig
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

    >>> from negrec_lib.config import DataConfig
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
