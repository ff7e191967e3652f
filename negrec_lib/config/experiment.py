"""`ExperimentConfig`: every setting of a run, its YAML round trip, overrides and cache keys."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, display_path
from .parse import _build, _first_line, _line_of, read_yaml
from .ranges import _range_problems
from .sections import DataConfig, LossConfig, ModelConfig, SimConfig, TrainConfig


@dataclass
class ExperimentConfig:
    """Everything a training run needs.

    Examples
    --------
    >>> cfg = ExperimentConfig().override(["loss.skip_weight=1", "model.causal=false"])
    >>> cfg.loss.skip_weight, cfg.model.causal
    (1.0, False)
    >>> ExperimentConfig.from_dict(cfg.to_dict()) == cfg  # the YAML form round-trips
    True
    """

    name: str = "run"
    data_dir: str = ""  # a prepared folder (negrec prepare), or empty to simulate
    out_dir: str = "runs/run"
    sim: SimConfig = field(default_factory=SimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ YAML round trip
    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (what `to_yaml` writes)."""
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Serialise to YAML; write it to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> ExperimentConfig:
        """Build from a nested dict; unknown keys, wrong types and out-of-range values raise
        `ConfigError` naming the key."""
        cfg = _build(cls, data, source)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> ExperimentConfig:
        """Read a YAML file written by `to_yaml` (or by hand; missing keys keep their defaults)."""
        data = read_yaml(path, "config file")
        source = display_path(path)
        try:
            return cls.from_dict(data, source=source)
        except ConfigError as exc:  # name the line of the offending key
            text = str(exc)
            text = text[len(source) + 2 :] if text.startswith(source + ": ") else text
            line = _line_of(path, text)
            if line is None:
                raise
            raise ConfigError(text, path, line) from None

    def validate(self, source: str = "config") -> ExperimentConfig:
        """Check every numeric and enumerated setting's range; `ConfigError` names the key.

        Called when a configuration is loaded (`from_dict`, `from_yaml`, `override`) and by the
        trainer and `prepare`, for configurations built directly in Python. Returns self.
        """
        problems = [f"{key}={value!r}: {why}" for key, value, why in _range_problems(self)]
        if problems:
            raise ConfigError(f"{source}: " + "; ".join(problems))
        return self

    def override(self, assignments: list[str]) -> ExperimentConfig:
        """Apply ``section.key=value`` strings (values parsed as YAML), returning a new config."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"override {item!r}: expected key=value, e.g. loss.skip_weight=1")
            key, raw = item.split("=", 1)
            parts = key.strip().split(".")
            node = data
            for p in parts[:-1]:
                if not isinstance(node, dict) or p not in node or not isinstance(node[p], dict):
                    raise ConfigError(f"override {item!r}: no config section '{p}'")
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(
                    f"override {item!r}: unknown field '{key}'; known here: {', '.join(node)}"
                )
            try:
                node[parts[-1]] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(
                    f"override {item!r}: the value is not valid YAML ({_first_line(exc)})"
                ) from None
        return ExperimentConfig.from_dict(data, source="override")


# Settings added after datasets and runs were first cached: left out of the cache keys while
# they hold their defaults, so that existing caches stay valid.
_LATE_DEFAULTS = {"data": {"date_format": "auto", "partial_sessions": "error"}}


def cache_key_view(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` of a config section without the late-added settings at their defaults.

    Examples
    --------
    >>> cache_key_view("data", {"min_count": 5, "date_format": "auto"})  # auto is the default
    {'min_count': 5}
    """
    late = _LATE_DEFAULTS.get(section, {})
    return {k: v for k, v in values.items() if not (k in late and late[k] == v)}
