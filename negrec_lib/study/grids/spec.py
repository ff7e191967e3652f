"""Experiment files: a base configuration, the seeds and the variants (`ExperimentSpec`).

See `negrec_lib.study.grids` for the file's format; `load_spec` reads one, `spec_from_dict`
builds one from its mapping, and `ExperimentSpec` lists the runs it asks for.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import ExperimentConfig, profile_config, read_yaml
from ...errors import ConfigError, NegrecError, display_path


@dataclass
class Variant:
    """One configuration of the grid."""

    name: str
    overrides: dict[str, Any]
    baseline: str | None = None


@dataclass
class ExperimentSpec:
    """A parsed experiment file."""

    name: str
    path: Path | None
    base: ExperimentConfig
    seeds: list[int]
    variants: list[Variant] = field(default_factory=list)
    replicate_data: bool = False  # each seed also draws its own simulated data (sim.seed)

    def config(self, variant: Variant, seed: int) -> ExperimentConfig:
        """The full configuration of one run.

        ``seed`` is the training seed; with ``replicate_data`` it is also the simulator's seed
        (plus the base's ``sim.seed``), so every replicate differs in its data, its test
        sessions and its training, and intervals over seeds cover all three.
        """
        sets = [f"{k}={json.dumps(v)}" for k, v in variant.overrides.items()]
        extra = [f"sim.seed={self.base.sim.seed + seed}"] if self.replicate_data else []
        cfg = self.base.override(sets + [f"train.seed={seed}"] + extra)
        cfg.name = variant.name
        return cfg

    def datasets(self) -> list[tuple[Variant, int, ExperimentConfig]]:
        """One (variant, seed, config) per distinct dataset the grid trains on, first use first."""
        seen: set[str] = set()
        out = []
        for variant in self.variants:
            for seed in self.seeds if self.replicate_data else self.seeds[:1]:
                cfg = self.config(variant, seed)
                key = cfg.data_dir or json.dumps(
                    [cfg.to_dict()["sim"], cfg.to_dict()["data"]], sort_keys=True
                )
                if key not in seen:
                    seen.add(key)
                    out.append((variant, seed, cfg))
        return out


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file."""
    path = Path(path)
    return spec_from_dict(read_yaml(path, "experiment file"), path)


def spec_from_dict(raw: dict, path: Path | None = None) -> ExperimentSpec:
    """Build a spec from the dict form of an experiment file (a malformed one raises
    `ConfigError` naming the file)."""
    try:
        return _spec_from_dict(raw, path)
    except NegrecError:
        raise
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(
            f"malformed experiment file: {type(exc).__name__} ({exc}); expected "
            "name, seeds (a list of integers), base and variants or grid",
            path,
        ) from None


def _spec_from_dict(raw: dict, path: Path | None = None) -> ExperimentSpec:
    where = display_path(path) if path is not None else "experiment"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping")
    if (
        not isinstance(raw.get("seeds", []), list)
        or not raw.get("seeds", [0])
        or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in raw.get("seeds", [])
        )
    ):
        raise ConfigError(f"{where}: seeds: expected a non-empty list of integers >= 0")
    for key in ("name", "seeds"):
        if key not in raw:
            raise ConfigError(f"{where}: missing '{key}'")
    base = raw.get("base", {}) or {}
    if "config" in base:
        cfg_path = Path(base["config"])
        if path is not None and not cfg_path.is_absolute():
            cfg_path = path.parent / cfg_path
        cfg = ExperimentConfig.from_yaml(cfg_path)
    else:
        prof = base.get("profile", "auto")
        cfg = profile_config(None if prof == "auto" else prof)
    cfg = cfg.override([f"{k}={json.dumps(v)}" for k, v in (base.get("set") or {}).items()])
    variants = [
        Variant(v["name"], dict(v.get("set") or {}), v.get("baseline"))
        for v in raw.get("variants", [])
    ]
    grid = raw.get("grid") or {}
    if grid:
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            name = ",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, values))
            variants.append(Variant(name, dict(zip(keys, values))))
    if not variants:
        raise ConfigError(f"{where}: no 'variants' and no 'grid'")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: variant names must be unique: {names}")
    for v in variants:
        if v.baseline is not None and v.baseline not in names:
            raise ConfigError(
                f"{where}: variant {v.name!r} has baseline {v.baseline!r}, which is not a variant"
            )
    replicate = raw.get("replicate_data", False)
    if not isinstance(replicate, bool):
        raise ConfigError(f"{where}: replicate_data: expected true or false, got {replicate!r}")
    spec = ExperimentSpec(
        str(raw["name"]), path, cfg, [int(s) for s in raw["seeds"]], variants, replicate
    )
    for v in variants:  # fail early on a bad override, not hours later
        spec.config(v, spec.seeds[0])
    return spec
