"""The results table of an experiment: reading it (`read_results_table`) and its summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ...errors import ResultsError


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
    from ..compare import column, comparisons, metric_label
    from ..stats import t_interval

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
