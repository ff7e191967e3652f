"""Training targets per epoch of every dataset of a grid, for comparisons at equal budgets.

    python experiments/targets.py experiments/study_claims.yaml     # -> results/study_targets.csv

One row per dataset (``data``, ``data_seed``): training sessions, and the training targets one
epoch gives the unidirectional model (every position but the last: L - 1 per session) and the
bidirectional cloze model (expected: the last position plus each other with probability
``model.mask_prob``, 1 + p (L - 1)), computed from the prepared folder's training ends
(`negrec_lib.study.curves.targets_per_session`). Chapter 6 divides the two to compare the
models at equal numbers of training targets. Datasets already in the table are skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib.atomic import atomic_write_text  # noqa: E402
from negrec_lib.data.cache import ensure_dataset  # noqa: E402
from negrec_lib.data.sessions import SessionData  # noqa: E402
from negrec_lib.study.curves import targets_per_session  # noqa: E402
from negrec_lib.study.grids import load_spec, read_results_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", help="experiment file, e.g. experiments/study_claims.yaml")
    p.add_argument("--out", default=str(ROOT / "results" / "study_targets.csv"))
    args = p.parse_args(argv)
    spec = load_spec(args.spec)
    done = read_results_table(Path(args.out), ("experiment", "data"))
    have = set(zip(done["experiment"], done["data"].astype(str)))
    rows = []
    for _variant, _seed, cfg in spec.datasets():
        prepared = str(cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, progress=False))
        if (spec.name, prepared) in have or any(r["data"] == prepared for r in rows):
            continue
        ends = SessionData.load(prepared).splits["train_end"].numpy()
        rows.append(
            {
                "experiment": spec.name,
                "data": prepared,
                "data_seed": cfg.sim.seed,
                "train_sessions": len(ends),
                "uni_targets": targets_per_session(ends, causal=True),
                "bi_targets": targets_per_session(
                    ends, causal=False, mask_prob=cfg.model.mask_prob
                ),
                "mask_prob": cfg.model.mask_prob,
            }
        )
        print(
            f"{Path(prepared).name}: {len(ends):,} training sessions, "
            f"uni/bi targets {rows[-1]['uni_targets'] / rows[-1]['bi_targets']:.2f}"
        )
    if rows:
        out = pd.concat([done, pd.DataFrame(rows)], ignore_index=True)
        atomic_write_text(Path(args.out), out.to_csv(index=False))
    print(f"{len(rows)} new rows; {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
