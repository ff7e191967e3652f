"""Bounds of a grid: the oracle and popularity on every dataset an experiment file trains on.

``negrec bounds experiments/<grid>.yaml`` writes ``results/<grid>_bounds.csv``, which the study
sets beside the grid's models (the oracle is the ceiling, popularity the floor).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_text, file_lock
from ..data.cache import ensure_dataset
from ..data.sessions import SessionData
from ..oracle import oracle_evaluate, popularity_evaluate
from ..provenance import provenance
from .grids import load_spec

__all__ = ["bounds_table"]


def bounds_table(
    spec_path: str | Path, out: str | Path = "results", split: str = "test"
) -> pd.DataFrame:
    """Oracle and popularity on every distinct dataset of an experiment file.

    Writes ``<out>/<experiment>_bounds.csv``: one row per (variant whose data differ, kind in
    {oracle, popularity}) with the metrics, the dataset, the command, commit and hardware.

    Parameters
    ----------
    spec_path : str or Path
        An experiment file (see `negrec_lib.experiments`).
    out : str or Path
        The folder of results tables.
    split : str
        The evaluated split.

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    spec = load_spec(spec_path)
    rows, seen = [], {}
    for variant, _seed, cfg in spec.datasets():
        prepared = str(cfg.data_dir or ensure_dataset(cfg.sim, cfg.data))
        if prepared in seen:
            continue
        seen[prepared] = variant.name
        data = SessionData.load(prepared)
        for kind, fn in (("oracle", oracle_evaluate), ("popularity", popularity_evaluate)):
            t0 = time.perf_counter()
            res = fn(data, split)
            rows.append(
                {
                    "experiment": spec.name,
                    "variant": variant.name,
                    "kind": kind,
                    "data_seed": cfg.sim.seed,
                    **{f"test_{k}": v for k, v in res.metrics.items()},
                    **{
                        f"ctx_{r['context']}_hr@10": r["hr@10"] for r in res.to_dict()["by_context"]
                    },
                    "data": prepared,
                    "sim": json.dumps(cfg.to_dict()["sim"]),
                    "data_config": json.dumps(cfg.to_dict()["data"]),
                    "wall_seconds": round(time.perf_counter() - t0, 1),
                    "command": shlex.join(["negrec", "bounds", str(spec_path)]),
                    **{
                        k: v
                        for k, v in provenance().items()
                        if k in ("commit", "dirty", "hardware")
                    },
                }
            )
    df = pd.DataFrame(rows)
    Path(out).mkdir(parents=True, exist_ok=True)
    table = Path(out) / f"{spec.name}_bounds.csv"
    with file_lock(table):
        atomic_write_text(table, df.to_csv(index=False))
    return df
