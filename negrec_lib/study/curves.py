"""Learning curves of a grid's runs, and comparisons at equal training budgets.

Every run of a converged grid records its validation HR@10 after each epoch
(``valid_hr@10_by_epoch``, a JSON list). The unidirectional model predicts the next track at
every position of a training session (L - 1 targets); the bidirectional (cloze) model only at
its masked positions: the last, plus each other one with probability ``mask_prob`` (expected
1 + mask_prob (L - 1)). Per epoch, with the same sessions and the same number of optimiser steps,
the cloze model therefore sees a fraction of the targets. `equal_budget` compares two variants
at the epoch where each has seen the same number of training targets.

>>> import pandas as pd
>>> runs = pd.DataFrame({"variant": ["u", "b"], "seed": [0, 0], "data_seed": [7, 7],
...                      "valid_hr@10_by_epoch": ["[0.2, 0.3, 0.31]", "[0.1, 0.2, 0.25]"]})
>>> long = curves(runs)
>>> long[long["variant"] == "b"]["valid_hr@10"].tolist()
[0.1, 0.2, 0.25]
>>> targets_per_session([6, 20], causal=True), round(targets_per_session([6, 20], False, 0.15), 2)
(24.0, 5.6)
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .stats import t_interval

__all__ = ["curves", "curve_summary", "targets_per_session", "equal_budget"]

CURVE = "valid_hr@10_by_epoch"


def curves(runs: pd.DataFrame, column: str = CURVE) -> pd.DataFrame:
    """Long format: variant, data_seed, seed, epoch (from 1), valid_hr@10 (NaN: not validated)."""
    rows = []
    keys = [k for k in ("data_seed", "seed") if k in runs.columns]
    for _, r in runs.iterrows():
        values = json.loads(r[column]) if isinstance(r[column], str) else []
        for epoch, v in enumerate(values, start=1):
            rows.append(
                {
                    "variant": r["variant"],
                    **{k: r[k] for k in keys},
                    "epoch": epoch,
                    "valid_hr@10": np.nan if v is None else float(v),
                }
            )
    return pd.DataFrame(rows)


def curve_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per variant and epoch: runs still training, mean validation HR@10 and its t-interval.

    A run that stopped early holds its last value afterwards (it is the model early stopping
    kept), so late epochs average over every run rather than over the survivors.
    """
    keys = [k for k in ("data_seed", "seed") if k in long.columns]
    out = []
    for variant, g in long.groupby("variant", sort=False):
        wide = g.pivot_table(index=keys, columns="epoch", values="valid_hr@10")
        running = wide.notna().sum()
        wide = wide.ffill(axis=1)
        for epoch in wide.columns:
            mean, lo, hi = t_interval(wide[epoch].to_numpy(float))
            out.append(
                {
                    "variant": variant,
                    "epoch": int(epoch),
                    "running": int(running[epoch]),
                    "mean": mean,
                    "low": lo,
                    "high": hi,
                }
            )
    return pd.DataFrame(out)


def targets_per_session(lengths: Sequence[int], causal: bool, mask_prob: float = 0.15) -> float:
    """Training targets one pass over sessions of these lengths gives (expected, for cloze)."""
    n = np.asarray(lengths, float)
    if causal:
        return float(np.sum(n - 1))
    return float(np.sum(1 + mask_prob * (n - 1)))


def equal_budget(
    long: pd.DataFrame,
    variant: str,
    baseline: str,
    ratio: float,
    epochs: Sequence[int] | None = None,
) -> pd.DataFrame:
    """``variant`` after e epochs against ``baseline`` after the epoch with the same targets.

    ``ratio`` is the baseline's training targets per epoch divided by the variant's (e.g. about
    5 for the cloze model against the causal one): the baseline's matching epoch is
    round(e / ratio), at least 1. Runs are paired by dataset and seed; missing epochs of a run
    that stopped early take its last value. Rows: variant epoch, baseline epoch, mean of each
    and the paired difference with its t-interval.
    """
    keys = [k for k in ("data_seed", "seed") if k in long.columns]
    wide = {
        v: long[long["variant"] == v]
        .pivot_table(index=keys, columns="epoch", values="valid_hr@10")
        .ffill(axis=1)
        for v in (variant, baseline)
    }
    a, b = wide[variant], wide[baseline]
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    max_b = int(b.columns.max())
    rows = []
    for e in epochs or list(a.columns):
        eb = max(1, int(round(e / ratio)))
        if e not in a.columns or eb > max_b:
            continue
        xa = a[e].to_numpy(float)
        xb = b[eb].to_numpy(float) if eb in b.columns else b[max_b].to_numpy(float)
        diff, lo, hi = t_interval(xa - xb)
        rows.append(
            {
                f"{variant} epoch": int(e),
                f"{baseline} epoch": eb,
                variant: float(np.nanmean(xa)),
                baseline: float(np.nanmean(xb)),
                "diff": diff,
                "diff low": lo,
                "diff high": hi,
                "pairs": len(common),
            }
        )
    return pd.DataFrame(rows)
