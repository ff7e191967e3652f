"""The committed results tables, read: runs of a grid, baselines, bounds, and what they cost.

Every number of the study chapters comes from a table in ``results/``: ``<grid>.csv`` (one row
per trained run, written by ``negrec experiment``), ``baselines.csv`` (popularity, Markov, SKNN,
V-SKNN and the oracle per dataset, written by ``negrec baselines``), ``<grid>_bounds.csv`` (the
oracle and popularity of older grids, ``negrec bounds``) and ``verdicts.csv``
(``experiments/verdicts.py``). Outside a clone of the repository (on Colab) the committed file
is downloaded once with `pooch` when it is missing.

>>> import pandas as pd
>>> runs = pd.DataFrame({"variant": ["a", "a", "b"], "seed": [0, 1, 0], "best_epoch": [3, 9, 4],
...                      "epochs_run": [6, 10, 7], "max_epochs": [10, 10, 10]})
>>> t = convergence_table(runs)
>>> t["runs"].tolist(), t["at cap"].tolist(), t["best epoch (median)"].tolist()
([2, 1], [1, 0], [6.0, 4.0])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .grids import read_results_table

__all__ = [
    "SIGNAL_FROM_CLAIMS",
    "with_borrowed_runs",
    "results_dir",
    "load_results",
    "load_baselines",
    "load_bounds",
    "load_verdicts",
    "grid_facts",
    "convergence_table",
    "config_facts",
]


INTEGER_COLUMNS = ("seed", "data_seed", "best_epoch", "epochs_run", "max_epochs", "test_n")


def results_dir() -> Path:
    """The repository's ``results/`` folder (the working directory's when not in a clone)."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file():
        return here / "results"
    return Path.cwd() / "results"


def _path(name: str, root: str | Path | None) -> Path:
    """``<root>/<name>``; outside a clone and without ``root``, fetched from the repository."""
    folder = Path(root) if root is not None else results_dir()
    path = folder / name
    if path.is_file() or root is not None or (folder.parent / "pyproject.toml").is_file():
        return path
    from .. import REPOSITORY_URL

    slug = REPOSITORY_URL.removeprefix("https://github.com/").rstrip("/")
    url = f"https://raw.githubusercontent.com/{slug}/main/results/{name}"
    try:
        import pooch

        pooch.retrieve(url, known_hash=None, fname=name, path=folder, progressbar=False)
    except Exception as exc:
        raise ConfigError(
            f"{path}: not here, and {url} could not be fetched ({exc}); clone "
            "the repository or run the grid"
        ) from None
    return path


def load_results(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """The runs of one grid, ``<root>/<name>.csv`` (default: the repository's results/).

    ``baseline`` (the variant a run is compared with) is a string, empty for baselines.
    """
    path = _path(f"{name}.csv", root)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no results table; run `negrec experiment experiments/"
            f"{name}.yaml` to create it"
        )
    df = read_results_table(path)
    if "baseline" in df.columns:
        df["baseline"] = df["baseline"].fillna("").astype(str)
    for col in INTEGER_COLUMNS:  # written as floats when a column had gaps while rows landed
        if col in df.columns and df[col].notna().all():
            df[col] = df[col].astype(int)
    return df


def load_baselines(experiment: str | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """``baselines.csv``: one row per (experiment, dataset, method); ``experiment`` filters."""
    path = _path("baselines.csv", root)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no baselines table; run `negrec baselines "
            "experiments/<grid>.yaml` to create it"
        )
    df = read_results_table(path, key_columns=("experiment", "method"))
    return df if experiment is None else df[df["experiment"] == experiment].reset_index(drop=True)


def load_bounds(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """The oracle and popularity rows of one (older) grid, ``<name>_bounds.csv``."""
    path = _path(f"{name}_bounds.csv", root)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no bounds table; run `negrec bounds experiments/{name}.yaml` to create it"
        )
    return read_results_table(path, ("variant", "kind"))


def load_verdicts(root: str | Path | None = None) -> pd.DataFrame:
    """``verdicts.csv``: every claim, control and mechanism comparison with its verdict."""
    path = _path("verdicts.csv", root)
    if not path.is_file():
        raise ConfigError(f"{path}: no verdicts table; run `python experiments/verdicts.py`")
    return read_results_table(path, ("claim", "metric"))


def grid_facts(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per grid: variants, seeds, datasets, runs, CPU time, hardware and commits."""
    rows = []
    for name, df in tables.items():
        rows.append(
            {
                "grid": name,
                "variants": df["variant"].nunique(),
                "seeds": df["seed"].nunique(),
                "datasets": df["data_seed"].nunique() if "data_seed" in df else 1,
                "runs": len(df),
                "CPU hours": round(float(df["wall_seconds"].sum()) / 3600, 1),
                "hardware": ", ".join(sorted(set(map(str, df["hardware"])))),
                "commit": ", ".join(sorted({str(c)[:7] for c in df["commit"]})),
            }
        )
    return pd.DataFrame(rows).set_index("grid")


def convergence_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per variant: runs, how many stopped at their epoch cap, and the epochs they selected.

    A run "at cap" trained ``max_epochs`` epochs, so early stopping did not end it and it may
    still have been improving; the study asks for fewer than 10% of runs there.
    """
    need = {"best_epoch", "epochs_run", "max_epochs"}
    if not need <= set(df.columns):
        raise ValueError(
            f"the table has no {sorted(need - set(df.columns))} columns: it "
            "predates convergence bookkeeping"
        )
    rows = []
    for variant, g in df.groupby("variant", sort=False):
        rows.append(
            {
                "variant": variant,
                "runs": len(g),
                "at cap": int((g["epochs_run"] >= g["max_epochs"]).sum()),
                "best epoch (median)": float(g["best_epoch"].median()),
                "best epoch (range)": f"{int(g['best_epoch'].min())}-{int(g['best_epoch'].max())}",
                "epochs run (max)": int(g["epochs_run"].max()),
                "cap": int(g["max_epochs"].max()),
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def config_facts(df: pd.DataFrame) -> dict[str, object]:
    """The sizes every run of a grid shares, read from the ``config`` column of its first row."""
    from ..metrics import SAMPLED_RANDOM

    cfg = json.loads(df["config"].iloc[0])
    return {
        "simulated sessions": cfg["sim"]["sessions"],
        "tracks": cfg["sim"]["tracks"],
        "days": cfg["sim"]["days"],
        "skip_signal": cfg["sim"]["skip_signal"],
        "split": cfg["data"]["split"],
        "d_model": cfg["model"]["d_model"],
        "layers": cfg["model"]["n_layers"],
        "heads": cfg["model"]["n_heads"],
        "epoch cap": cfg["train"]["epochs"],
        "patience": cfg["train"]["patience"],
        "batch": cfg["train"]["batch_size"],
        "training: sampled candidates": cfg["loss"]["n_negatives"],
        "sampled evaluation: batch": cfg["train"]["sampled_eval_batch_size"],
        "sampled evaluation: random tracks": SAMPLED_RANDOM,
        "test examples (mean over datasets)": int(df["test_n"].mean()),
    }


SIGNAL_FROM_CLAIMS = {"uni-base": ("s0.8-base", ""), "uni-skip-track": ("s0.8-skip", "s0.8-base")}
"""The 0.8 level of the skip_signal sweep is exactly study_claims' uni-base and uni-skip-track
(same configuration but for its name, same data and seeds; tests/test_study_grids.py checks)."""


def with_borrowed_runs(
    runs: pd.DataFrame,
    source: pd.DataFrame,
    names: Mapping[str, tuple[str, str]],
    overrides: Mapping[str, object],
) -> pd.DataFrame:
    """``runs`` plus the rows of ``source`` whose variants ``names`` maps (source variant ->
    (new name, its baseline)), when ``runs`` lacks those variants: a grid that did not retrain
    a configuration another grid already trained. Borrowed rows keep their provenance and say
    where they come from in ``borrowed_from``; ``overrides`` is their new ``overrides`` column.

    >>> grid = pd.DataFrame({"variant": ["s0-base"], "baseline": [""], "overrides": ["{}"]})
    >>> src = pd.DataFrame({"variant": ["uni-base"], "baseline": [""], "experiment": ["claims"]})
    >>> out = with_borrowed_runs(grid, src, {"uni-base": ("s0.8-base", "")}, {"x": 0.8})
    >>> out[["variant", "borrowed_from"]].values.tolist()
    [['s0-base', nan], ['s0.8-base', 'claims']]
    """
    have = set(runs["variant"])
    missing = {old: new for old, new in names.items() if new[0] not in have}
    if not missing:
        return runs
    rows = source[source["variant"].isin(list(missing))].copy()
    rows["borrowed_from"] = rows["experiment"] if "experiment" in rows else "another grid"
    rows["baseline"] = rows["variant"].map({old: new[1] for old, new in missing.items()})
    rows["variant"] = rows["variant"].map({old: new[0] for old, new in missing.items()})
    rows["overrides"] = json.dumps(dict(overrides))
    return pd.concat([runs, rows], ignore_index=True)
