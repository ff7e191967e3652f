"""Training a grid: `run_experiment` (an experiment file into its results table, resumable, safe
for several processes) and `run_grid_cached` (a notebook's grid, through the run cache)."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ...atomic import atomic_write_text, file_lock
from ...config import ExperimentConfig
from ...errors import ConfigError, ResultsError, file_error
from .spec import ExperimentSpec, Variant
from .tables import read_results_table


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
    from ...data.cache import ensure_dataset
    from ...runs import run_folder, run_lock, train_run

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
        cfg = spec.config(variant, seed)
        run_dir = run_folder(cfg, Path(runs_dir) / spec.name)
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


def _curve(run_dir: Path, key: str) -> list[float | None]:
    """``key`` at every epoch of a finished run (None where the epoch was not validated)."""
    path = Path(run_dir) / "history.json"
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise file_error(ResultsError, path, exc, "run history") from None
    return [None if h.get(key) is None else round(float(h[key]), 5) for h in history]


# ---------------------------------------------------------------------- grids from a notebook
def _slug(label: str) -> str:
    """A folder-friendly run name from a label: "skip, track anchor" -> "skip-track-anchor"."""

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
    from ...runs import run_cached

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
