"""What each trained model of a grid attends to at skipped positions (issue 10, mechanism).

    python experiments/attention.py study_claims --runs runs  # -> results/<grid>_attention.csv

For every unidirectional run of ``results/<grid>.csv`` whose checkpoint is under ``<runs>/<grid>``
(``best.pt``, the model early stopping kept; found by its test metrics), this runs the
test prefixes of the run's own dataset through the encoder and measures, at the last position of
each prefix (the one whose output scores the held-out track), the mean attention weight one
skipped previous track receives and one kept previous track receives
(`negrec_lib.study.attention.skip_attention`, per-track means, so a session with many skips does
not count more). Per run and layer it writes the two means over sessions and heads, their
ratio (1: no preference; below 1: skipped tracks are attended less), and the sessions used.
Runs already in the table are skipped; the table is rewritten atomically after each run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib.atomic import atomic_write_text  # noqa: E402
from negrec_lib.checkpoint import model_from_checkpoint  # noqa: E402
from negrec_lib.data.sessions import SessionData  # noqa: E402
from negrec_lib.provenance import provenance  # noqa: E402
from negrec_lib.study.attention import prefixes, skip_attention  # noqa: E402
from negrec_lib.study.grids import read_results_table  # noqa: E402


def find_checkpoint(run: pd.Series, grid: str, roots: list[str]) -> Path | None:
    """The ``best.pt`` of the run that wrote this row: its folder's ``metrics.json`` must hold
    the row's test HR@10 and MRR exactly (an interrupted or different run is refused). Run
    folders are ``<root>/<grid>/<variant>-<run_key>`` (`negrec_lib.runs.run_folder`), or
    ``<root>/<grid>/<variant>/seed-<seed>`` for grids trained before 2026-12-06."""
    for root in roots:
        base = Path(root) / grid
        folders = [
            base / run["variant"] / f"seed-{int(run['seed'])}",
            *sorted(base.glob(f"{run['variant']}-*")),
        ]
        for folder in folders:
            try:
                test = json.loads((folder / "metrics.json").read_text())["test"]
            except (OSError, ValueError, KeyError):
                continue
            if (
                test["hr@10"] == run["test_hr@10"]
                and test["mrr"] == run["test_mrr"]
                and (folder / "best.pt").is_file()
            ):
                return folder / "best.pt"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="a grid name with a results table, e.g. study_claims")
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument(
        "--runs",
        action="append",
        help="a folder the grid trained into (repeatable; default: runs/)",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="resolve the rows' relative data folders against this folder",
    )
    p.add_argument("--sessions", type=int, default=4000, help="test prefixes per run")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    runs = read_results_table(Path(args.results) / f"{args.grid}.csv")
    out_path = Path(args.results) / f"{args.grid}_attention.csv"
    done = read_results_table(out_path)
    have = set(zip(done["variant"], done["seed"])) if len(done) else set()
    prov = {k: v for k, v in provenance().items() if k in ("commit", "dirty", "hardware")}
    rows = []
    for _, run in runs.iterrows():
        cfg = json.loads(run["config"])
        if not cfg["model"]["causal"] or (run["variant"], int(run["seed"])) in have:
            continue
        ckpt = find_checkpoint(run, args.grid, args.runs or [str(ROOT / "runs")])
        if ckpt is None:
            print(
                f"{run['variant']} seed {int(run['seed'])}: no finished run folder with this "
                "row's test metrics under --runs; skipped"
            )
            continue
        data_dir = Path(args.data_root) / run["data"] if args.data_root else Path(run["data"])
        data = SessionData.load(data_dir)
        model, _ = model_from_checkpoint(ckpt, data)
        stats = skip_attention(model, prefixes(data, "test", args.sessions), queries="last")
        for layer, g in stats.groupby("layer"):
            rows.append(
                {
                    "variant": run["variant"],
                    "seed": int(run["seed"]),
                    "data_seed": int(run["data_seed"]),
                    "layer": int(layer),
                    "skipped": float(g["skipped"].mean()),
                    "kept": float(g["kept"].mean()),
                    "ratio": float(g["skipped"].mean() / g["kept"].mean()),
                    "sessions": int(g["session"].nunique()),
                    "command": shlex.join(["python", "experiments/attention.py", args.grid]),
                    **prov,
                }
            )
        print(
            f"{run['variant']} seed {int(run['seed'])}: skipped/kept attention per layer "
            + ", ".join(f"{r['ratio']:.3f}" for r in rows[-stats["layer"].nunique() :]),
            flush=True,
        )
        table = (
            pd.concat([done, pd.DataFrame(rows)], ignore_index=True)
            if len(done)
            else pd.DataFrame(rows)
        )
        atomic_write_text(out_path, table.to_csv(index=False))
    print(f"{len(rows)} new rows; {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
