"""Reading configurations: a YAML file's mapping, typed dataclass building, the line of a key.

Every failure is a `ConfigError` naming the key (and the file and line where there is one).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from ..errors import ConfigError


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Validate (and lightly coerce) one field value against its type hint."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is not None and type(None) in args:  # Optional[X] / X | None
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(value, inner[0], where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], f"{where}: {f.name}")
        else:
            kwargs[f.name] = _check_value(data[f.name], hint, f"{where}: {f.name}")
    return cls(**kwargs)


# Settings added after datasets and runs were first cached: left out of the cache keys while


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def read_yaml(path: str | Path, what: str = "YAML file") -> dict:
    """A YAML file's top-level mapping; any failure is a `ConfigError` naming the file (and the
    line, for a syntax error).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "grid.yaml").write_text("name: demo\\nseeds: [0, 1]\\n")
    ...     read_yaml(Path(d) / "grid.yaml")
    {'name': 'demo', 'seeds': [0, 1]}
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no such {what}", path) from None
    except IsADirectoryError:
        raise ConfigError(f"is a folder, expected a {what}", path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} ({exc.strerror or exc})", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or _first_line(exc)
        raise ConfigError(f"not valid YAML ({problem})", path, line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections", path)
    return data


def _line_of(path: str | Path, message: str) -> int | None:
    """The 1-based line of the first key of a YAML file that `message` names (as
    ``section.key`` or ``section: key``), or None."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    lines: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                lines.setdefault(name, key.start_mark.line + 1)
                walk(value, name + ".")

    walk(root, "")
    spelled = message.replace(": ", ".")
    best = None
    for name, line in lines.items():  # the longest (most specific) key named wins
        if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", spelled) and (
            best is None or len(name) > len(best[0])
        ):
            best = (name, line)
    for token in re.findall(r"unknown field\(s\) \['(\w+)'", message):  # an unknown key
        section = message.split(":")[0] if ": unknown" in message else ""
        name = f"{section}.{token}" if section and not section.startswith("unknown") else token
        if name in lines:
            return lines[name]
    return None if best is None else best[1]
