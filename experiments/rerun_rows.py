"""Rerun committed rows of a results table from their recorded commands and compare the metrics.

    python experiments/rerun_rows.py claims_by_day --row bi-base:2
    python experiments/rerun_rows.py claims_paper --sample 2 --seed 0   # two rows drawn at random

Each chosen row's ``command`` (``negrec experiment experiments/<grid>.yaml --only V --seed S``) is
run again with ``--results`` and ``--runs`` pointing into a scratch folder, so nothing committed
is touched, and every metric column of the new row is compared with the committed one. The
committed rows ran with one PyTorch thread per process (``OMP_NUM_THREADS=1``, results/README.md);
the script sets the same, because a different thread count changes the order of floating-point
sums and with it the last digits of the metrics. Exit status 0 when every compared value agrees
within ``--tol`` (default 0: to the last digit).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
METRIC_PREFIXES = ("test_", "sampled_", "ctx_")


def choose(table: pd.DataFrame, rows: list[str], sample: int, seed: int) -> pd.DataFrame:
    """The rows named ``variant:seed``, plus ``sample`` rows drawn at random."""
    picked = []
    for spec in rows:
        variant, _, s = spec.partition(":")
        hit = table[(table["variant"] == variant) & (table["seed"].astype(str) == s)]
        if hit.empty:
            raise SystemExit(f"no row {spec!r} in the table (expected VARIANT:SEED)")
        picked.append(hit)
    if sample:
        picked.append(table.sample(n=min(sample, len(table)), random_state=seed))
    if not picked:
        raise SystemExit("name rows with --row VARIANT:SEED or draw some with --sample N")
    return pd.concat(picked).drop_duplicates(["variant", "seed"])


def rerun(row: pd.Series, scratch: Path) -> pd.Series:
    """Run the row's command into ``scratch`` and return the new row."""
    config = json.loads(row["config"]) if isinstance(row.get("config"), str) else {}
    if config and "init" not in config.get("model", {}):
        raise SystemExit(
            f"{row['experiment']} {row['variant']}:{row['seed']} predates model.init (it trained "
            f"with every weight N(0, 0.02), what model.init=gpt does now), and its experiment file "
            f"now trains the new default; rerun it at its own commit: git checkout {row['commit']}"
        )
    argv = shlex.split(row["command"])
    if argv[:2] != ["negrec", "experiment"]:
        raise SystemExit(f"unexpected command {row['command']!r}")
    argv = [
        sys.executable,
        "-m",
        "negrec_lib.cli",
        *argv[1:],
        "--results",
        str(scratch),
        "--runs",
        str(scratch / "runs"),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{row['command']} failed:\n{done.stdout}{done.stderr}")
    new = pd.read_csv(scratch / f"{row['experiment']}.csv")
    hit = new[(new["variant"] == row["variant"]) & (new["seed"] == row["seed"])]
    return hit.iloc[0]


def compare_rows(old: pd.Series, new: pd.Series, tol: float) -> pd.DataFrame:
    """Every metric column of both rows, with the absolute difference and whether it agrees."""
    cols = [c for c in old.index if c.startswith(METRIC_PREFIXES) and c in new.index]
    a, b = old[cols].astype(float), new[cols].astype(float)
    diff = (a - b).abs()
    same = (diff <= tol) | (a.isna() & b.isna())
    return pd.DataFrame({"committed": a, "rerun": b, "abs diff": diff, "agrees": same})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", help="results table name, e.g. claims_paper")
    parser.add_argument("--row", action="append", default=[], metavar="VARIANT:SEED")
    parser.add_argument("--sample", type=int, default=0, help="also draw N rows at random")
    parser.add_argument("--seed", type=int, default=0, help="random state of --sample")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--tol", type=float, default=0.0, help="largest accepted |difference|")
    args = parser.parse_args(argv)
    path = args.results / f"{args.grid}.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no such results table")
    table = pd.read_csv(path)
    failures = 0
    for _, row in choose(table, args.row, args.sample, args.seed).iterrows():
        with tempfile.TemporaryDirectory(prefix="negrec-rerun-") as tmp:
            new = rerun(row, Path(tmp))
        cmp = compare_rows(row, new, args.tol)
        bad = cmp[~cmp["agrees"]]
        dirty = ", dirty" if row.get("dirty") in (True, "True") else ""
        print(
            f"{args.grid} {row['variant']} seed {row['seed']} (committed at "
            f"{str(row['commit'])[:7]}{dirty}; rerun at {str(new['commit'])[:7]}): "
            f"{int(cmp['agrees'].sum())} of {len(cmp)} metrics agree, largest difference "
            f"{np.nanmax(cmp['abs diff'].to_numpy(float)):.2g}"
        )
        if not bad.empty:
            failures += 1
            print(bad.to_string())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
