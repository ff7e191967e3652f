"""Grids of runs over seeds, and the results table they fill.

An experiment file (YAML) names a base configuration, the seeds, and the variants::

    name: skip-ablation
    base: {profile: ci}            # or {config: path.yaml}; plus optional `set:` overrides
    seeds: [0, 1, 2, 3, 4]
    variants:
      - {name: uni, set: {model.causal: true, loss.skip_weight: 0}}
      - {name: uni+skip, set: {model.causal: true, loss.skip_weight: 1}, baseline: uni}
    # or `grid: {loss.skip_weight: [0, 1], model.causal: [true, false]}` for a full product
    replicate_data: true           # optional: seed s also simulates its own data (sim.seed + s)

`run_experiment` trains every (variant, seed) that has no result yet (so an interrupted grid
resumes where it stopped), and appends one row per run to ``results/<name>.csv`` with the
configuration, the seed, the command that reproduces the row, the commit, the hardware and the
wall time. The statistics that turn the table into comparisons live in `negrec_lib.study`
(`negrec_lib.study.compare.comparisons`, `negrec_lib.study.claims.verdicts`); after a grid, the
command line prints `summary_table`, built on them.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .atomic import atomic_write_text, file_lock
from .config import ExperimentConfig, profile_config, read_yaml
from .errors import ConfigError, NegrecError, ResultsError, display_path, file_error


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


def _flatten(prefix: str, metrics: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}


def _by_context(result: dict, keys: tuple[str, ...] = ("n", "hr@10", "ndcg@10", "mrr")) -> dict:
    """``ctx_<context>_<metric>`` columns from a run's full-catalogue breakdown by context."""
    out = {}
    for row in result.get("test_by_context") or []:
        for k in keys:
            if row.get(k) is not None:
                out[f"ctx_{row['context']}_{k}"] = row[k]
    return out


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path = "results",
    runs_dir: str | Path = "runs",
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every missing (variant, seed); return the experiment's whole results table."""
    from .data.cache import ensure_dataset
    from .runs import run_lock, train_run

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / f"{spec.name}.csv"
    # Several processes may run one grid: the table is read and written under its lock (and
    # re-read before each write, so no row is lost or written twice), and each run is trained
    # by the process that holds its run lock; a run another process holds is put off to the end
    # (by then it has its row, or this process takes it over).
    with file_lock(table):
        done = read_results_table(table)
    have = set(zip(done["variant"].astype(str), done["seed"].astype(int)))
    todo = [
        (v, s)
        for v in spec.variants
        for s in (seeds or spec.seeds)
        if (only is None or v.name in only) and (v.name, s) not in have
    ]

    def train_one(i: int, variant: Variant, seed: int, wait: bool) -> bool:
        run_dir = Path(runs_dir) / spec.name / variant.name / f"seed-{seed}"
        with run_lock(run_dir, wait) as mine:
            if not mine:
                return False
            with file_lock(table):
                current = read_results_table(table)
            if (
                (current["variant"].astype(str) == variant.name)
                & (current["seed"].astype(int) == seed)
            ).any():
                return True  # another process finished it meanwhile
            cfg = spec.config(variant, seed)
            cfg.train.progress = progress  # epoch bars and summaries unless --quiet
            t0 = time.perf_counter()
            data_dir = cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=progress)
            if progress:
                print(
                    f"[{i}/{len(todo)}] {spec.name}: {variant.name}, seed {seed}"
                    + (" (resuming)" if (run_dir / "last.pt").exists() else ""),
                    flush=True,
                )
            result = train_run(cfg, run_dir, data_dir)
            cmd = [
                "negrec",
                "experiment",
                str(spec.path or spec.name),
                "--only",
                variant.name,
                "--seed",
                str(seed),
            ]
            row = {
                "experiment": spec.name,
                "variant": variant.name,
                "seed": seed,
                "baseline": variant.baseline or "",
                **_flatten("test_", result["test"]),
                **_flatten("sampled_", result["test_sampled"]),
                **_by_context(result),
                "best_epoch": result["best_epoch"],
                "epochs_run": result["epochs_run"],
                "max_epochs": cfg.train.epochs,
                "data_seed": cfg.sim.seed,
                "valid_hr@10_by_epoch": json.dumps(_curve(run_dir, "valid_hr@10")),
                "wall_seconds": round(time.perf_counter() - t0, 1),
                "command": shlex.join(cmd),
                **{
                    k: result["provenance"][k]
                    for k in ("commit", "dirty", "hardware", "device", "precision", "torch")
                },
                "data": str(data_dir),
                "overrides": json.dumps(variant.overrides),
                "config": json.dumps(cfg.to_dict()),
            }
            with file_lock(table):
                current = read_results_table(table)
                if not (
                    (current["variant"].astype(str) == variant.name)
                    & (current["seed"].astype(int) == seed)
                ).any():
                    current = pd.concat([current, pd.DataFrame([row])], ignore_index=True)
                    atomic_write_text(table, current.to_csv(index=False))
        return True

    later = [(i, v, s) for i, (v, s) in enumerate(todo, 1) if not train_one(i, v, s, False)]
    for i, variant, seed in later:
        train_one(i, variant, seed, True)
    with file_lock(table):
        return read_results_table(table)


def read_results_table(
    path: str | Path, key_columns: tuple[str, ...] = ("variant", "seed")
) -> pd.DataFrame:
    """A grid's results table (an empty one with the key columns when the file does not exist);
    a damaged table raises `ResultsError` naming the file (and the line, when known)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=list(key_columns))
    try:
        df = pd.read_csv(path)
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        OSError,
        ValueError,
    ) as exc:
        text = " ".join(str(exc).split())
        m = re.search(r"line (\d+)", text)
        raise ResultsError(
            f"not a readable results table ({text[:200]}); restore it from git "
            "or delete it to run the grid again",
            path,
            int(m.group(1)) if m else None,
        ) from None
    missing = [c for c in key_columns if c not in df.columns]
    if missing:
        raise ResultsError(
            f"no column {', '.join(missing)}; not a results table written by negrec", path
        )
    if "seed" in key_columns:
        try:
            df["seed"].astype(int)
        except (TypeError, ValueError):
            raise ResultsError(
                "the seed column holds a value that is not an integer", path, column="seed"
            ) from None
    return df


def _curve(run_dir: Path, key: str) -> list[float | None]:
    """``key`` at every epoch of a finished run (None where the epoch was not validated)."""
    path = Path(run_dir) / "history.json"
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise file_error(ResultsError, path, exc, "run history") from None
    return [None if h.get(key) is None else round(float(h[key]), 5) for h in history]


def experiment_arguments(p: Any) -> None:
    """The flags of ``negrec experiment`` (registered with the others in `negrec_lib.cli`)."""
    p.add_argument("spec", help="experiment YAML file (see experiments/)")
    p.add_argument("--only", action="append", metavar="VARIANT", help="run only these variants")
    p.add_argument("--seed", action="append", type=int, dest="seeds", help="run only these seeds")
    p.add_argument("--results", default="results", help="folder of the results tables")
    p.add_argument("--runs", default="runs", help="folder of the run folders (checkpoints)")
    from .progress import add_quiet_argument

    add_quiet_argument(p)


def summary_table(
    df: pd.DataFrame, metrics: Sequence[str] = ("hr@1", "hr@10", "ndcg@10", "mrr"), digits: int = 4
) -> pd.DataFrame:
    """The grid's results at a glance: per variant and metric, the runs, the mean with its 95%
    t-interval, and, for a variant with a baseline, the relative change against it with
    Fieller's interval and the paired t-test's p (unadjusted), runs paired by dataset and seed
    (`negrec_lib.study.compare.comparisons`).

    ``metrics`` are full-catalogue metrics (``test_<metric>`` columns); those the table lacks are
    left out.

    >>> df = pd.DataFrame({"variant": ["b"] * 3 + ["a"] * 3, "seed": [0, 1, 2] * 2,
    ...                    "baseline": [""] * 3 + ["b"] * 3,
    ...                    "test_hr@1": [0.10, 0.11, 0.12, 0.12, 0.12, 0.14]})
    >>> summary_table(df, ["hr@1"]).loc[("a", "HR@1"), "change [95% CI]"]
    '+15.2% [+2.1, +29.8]'
    """
    from .study.compare import column, comparisons, metric_label
    from .study.stats import t_interval

    metrics = [m for m in metrics if column(m) in df.columns]
    names = df["variant"].astype(str)
    base = (
        df["baseline"].fillna("").astype(str)
        if "baseline" in df.columns
        else pd.Series("", index=df.index)
    )
    pairs = list(dict.fromkeys((v, b) for v, b in zip(names, base) if b and (names == b).any()))
    comp = (
        comparisons(df, pairs, metrics).set_index(["variant", "metric"])
        if pairs
        else pd.DataFrame()
    )
    rows = []
    for variant, g in df.groupby(names, sort=False):
        for m in metrics:
            mean, lo, hi = t_interval(g[column(m)].to_numpy(float))
            row = {
                "variant": variant,
                "metric": metric_label(m),
                "runs": int(g[column(m)].notna().sum()),
                "mean [95% CI]": f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]",
                "baseline": "",
                "pairs": "",
                "change [95% CI]": "",
                "p": "",
            }
            if (variant, m) in comp.index:
                c = comp.loc[(variant, m)]
                row.update(
                    {
                        "baseline": c["baseline"],
                        "pairs": int(c["n"]),
                        "change [95% CI]": c["change [95% CI]"],
                        "p": ""
                        if pd.isna(c["p"])
                        else "<0.001"
                        if c["p"] < 0.001
                        else f"{c['p']:.3f}",
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows).set_index(["variant", "metric"])


def run_cli(args: Any) -> int:
    spec = load_spec(args.spec)
    df = run_experiment(
        spec, args.results, args.runs, args.only, args.seeds, progress=not args.quiet
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(summary_table(df).to_string())
    print(
        "change: mean(variant) / mean(baseline) - 1, Fieller's 95% interval; p: paired t-test, "
        "not adjusted for multiple comparisons"
    )
    return 0


# ---------------------------------------------------------------------- grids from a notebook
def _slug(label: str) -> str:
    """A folder-friendly run name from a label: "skip, track anchor" -> "skip-track-anchor"."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    return slug or "variant"


def run_grid_cached(
    base_cfg: ExperimentConfig,
    variants: dict[str, list[str]],
    seeds: list[int],
    baselines: dict[str, str] | None = None,
    runs_root: str | Path = "runs",
    data_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
) -> pd.DataFrame:
    """Train (or reuse) every (variant, seed) with `run_cached`; one row per run, for
    `negrec_lib.study.compare.comparisons`.

    Parameters
    ----------
    base_cfg : the configuration every run starts from (a chapter's ``ch.cfg``).
    variants : label -> ``section.key=value`` overrides (see `ExperimentConfig.override`). The
        run's name is the label made folder-friendly, unless the overrides set ``name=...``:
        naming a variant as another chapter names the same configuration lets both share the
        trained model (`run_cached` keys runs by name and configuration).
    seeds : training seeds; every variant runs with each (``train.seed``), so runs of one seed
        pair across variants (same initialisation, batch order and sampled negatives).
    baselines : label -> the label of its baseline variant (variants without one compare to
        nothing); every baseline must be a variant.
    callbacks : passed to `run_cached` for every run, e.g. a `negrec_lib.viz.live.LiveCurve`
        (each run's line is labelled "<variant>, seed <seed>").

    Returns
    -------
    DataFrame with columns variant, seed, baseline, ``test_<metric>`` (full catalogue),
    ``sampled_<metric>`` (the paper's sampled protocol), best_epoch, epochs_run,
    train_seconds (summed over epochs) and run_dir, in the order variants x seeds.
    """
    from .runs import run_cached

    baselines = dict(baselines or {})
    unknown = {b for b in baselines.values() if b not in variants} | (
        set(baselines) - set(variants)
    )
    if unknown:
        raise ConfigError(
            f"run_grid_cached: baselines name labels that are not variants: "
            f"{sorted(unknown)}; variants are {list(variants)}"
        )
    if not seeds:
        raise ConfigError("run_grid_cached: give at least one seed")
    rows = []
    for label, overrides in variants.items():
        named = any(o.split("=", 1)[0].strip() == "name" for o in overrides)
        for seed in seeds:
            cfg = base_cfg.override(list(overrides) + [f"train.seed={int(seed)}"])
            if not named:
                cfg.name = _slug(label)
            for cb in callbacks:
                if hasattr(cb, "label"):
                    cb.label = f"{label}, seed {int(seed)}"
            result, run_dir = run_cached(cfg, runs_root, data_root, callbacks=callbacks)
            history = json.loads((Path(run_dir) / "history.json").read_text())
            rows.append(
                {
                    "variant": label,
                    "seed": int(seed),
                    "baseline": baselines.get(label, ""),
                    **_flatten("test_", result["test"]),
                    **_flatten("sampled_", result["test_sampled"]),
                    "best_epoch": result["best_epoch"],
                    "epochs_run": result["epochs_run"],
                    "train_seconds": float(sum(h.get("train_seconds", 0.0) for h in history)),
                    "run_dir": str(run_dir),
                }
            )
    return pd.DataFrame(rows)
