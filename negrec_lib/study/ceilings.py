"""The models between their floor and their ceiling: classical baselines and the oracle.

``results/baselines.csv`` (`negrec baselines`) holds, per simulated dataset, the test metrics of
popularity, a first-order Markov chain, SKNN, V-SKNN and the simulator's oracle (the true
next-track probabilities), ranked by the same full-catalogue `evaluate` as the models. The
tables here set a grid's models beside them on the same datasets: a model row and a baseline
row are joined on ``data`` (the prepared folder), and means and intervals run over the datasets
(replicates) the grid used.

>>> import pandas as pd
>>> runs = pd.DataFrame({"variant": ["m", "m"], "data": ["d1", "d2"], "test_hr@1": [0.2, 0.3]})
>>> base = pd.DataFrame({"method": ["oracle", "oracle", "markov", "markov"],
...                      "data": ["d1", "d2", "d1", "d2"], "test_hr@1": [0.4, 0.5, 0.1, 0.2]})
>>> t = reference_table(runs, base, ["m"], ks=(1,), methods=("markov", "oracle"))
>>> round(float(t.loc[1, "m / oracle"]), 3), round(float(t.loc[1, "markov"]), 2)
(0.556, 0.15)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.schema import CONTEXT_TYPES
from .compare import KS, comparisons
from .stats import t_interval

__all__ = ["METHODS", "reference_table", "context_table", "oracle_gap"]

METHODS = ("popularity", "markov", "sknn", "vsknn", "oracle")
"""The rows of baselines.csv, weakest first; ``oracle`` is the simulator's ceiling."""


def _on_datasets(baselines: pd.DataFrame, runs: pd.DataFrame, method: str) -> pd.DataFrame:
    rows = baselines[(baselines["method"] == method) & baselines["data"].isin(set(runs["data"]))]
    if rows.empty:
        raise KeyError(
            f"baselines.csv has no {method!r} row for the datasets of these runs: run "
            "`negrec baselines experiments/<grid>.yaml`"
        )
    return rows.drop_duplicates("data")


def reference_table(
    runs: pd.DataFrame,
    baselines: pd.DataFrame,
    variants: Sequence[str],
    ks: Sequence[int] = KS,
    methods: Sequence[str] = METHODS,
) -> pd.DataFrame:
    """Per K: every baseline method and model variant's mean HR@K, and each as a share of the
    oracle's. Models carry a t-interval over their runs (``<v> low``/``high``); baselines are
    deterministic given the data, so their mean runs over the same datasets."""
    rows = []
    for k in ks:
        col = f"test_hr@{k}"
        row: dict[str, float] = {"K": k}
        for method in methods:
            row[method] = float(_on_datasets(baselines, runs, method)[col].mean())
        for v in variants:
            mean, lo, hi = t_interval(runs.loc[runs["variant"] == v, col].to_numpy(float))
            row.update({v: mean, f"{v} low": lo, f"{v} high": hi})
        if "oracle" in methods:
            for name in [*variants, *[m for m in methods if m != "oracle"]]:
                row[f"{name} / oracle"] = row[name] / row["oracle"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("K")


def oracle_gap(
    runs: pd.DataFrame, baselines: pd.DataFrame, variant: str, baseline: str, metric: str = "hr@1"
) -> float:
    """The share of the gap between ``baseline`` and the oracle that ``variant`` closes, on the
    datasets both ran on (means over them)."""
    col = f"test_{metric}"
    v = runs.loc[runs["variant"] == variant, col].mean()
    b = runs.loc[runs["variant"] == baseline, col].mean()
    oracle = _on_datasets(baselines, runs[runs["variant"] == baseline], "oracle")[col].mean()
    return float((v - b) / (oracle - b))


def context_table(
    runs: pd.DataFrame, baselines: pd.DataFrame, variant: str, baseline: str, metric: str = "hr@10"
) -> pd.DataFrame:
    """Per listening context: test examples, popularity, Markov, the two models and the oracle.

    Model columns are means over runs with t-intervals; ``change [95% CI]`` pairs the variant
    with the baseline by dataset and seed, within the context. Contexts without columns are left
    out.
    """
    rows = []
    for ctx in CONTEXT_TYPES:
        col = f"ctx_{ctx}_{metric}"
        if col not in runs.columns:
            continue
        comp = comparisons(
            runs.rename(columns={col: f"test_{col}"}), [(variant, baseline)], [col]
        ).iloc[0]
        row = {
            "context": ctx,
            "examples": int(runs.loc[runs["variant"] == baseline, f"ctx_{ctx}_n"].mean()),
        }
        for method in ("popularity", "markov"):
            part = _on_datasets(baselines, runs, method)
            row[method] = float(part[col].mean()) if col in part else np.nan
        for v in (baseline, variant):
            mean, lo, hi = t_interval(runs.loc[runs["variant"] == v, col].to_numpy(float))
            row.update({v: mean, f"{v} low": lo, f"{v} high": hi})
        oracle = _on_datasets(baselines, runs, "oracle")
        row["oracle"] = float(oracle[col].mean()) if col in oracle else np.nan
        row.update({k: comp[k] for k in ("rel", "rel_low", "rel_high", "p", "change [95% CI]")})
        rows.append(row)
    return pd.DataFrame(rows).set_index("context")
