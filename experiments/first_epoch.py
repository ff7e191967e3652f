"""Does every profile leave the popularity plateau in its first epoch? (issue 9)

    python experiments/first_epoch.py --out results/first_epoch.json [--profiles ci cpu gpu]

For each profile: its own simulated data and default configuration (unidirectional, no skip
loss), one epoch of training, then validation HR@10 next to what popularity scores on the same
validation examples. Runs on whatever device the Trainer picks (the CPU here). The `gpu` profile
on two CPU cores takes a few minutes (200,000 sessions, d 128).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from negrec_lib.config import profile_config  # noqa: E402
from negrec_lib.data.cache import ensure_dataset  # noqa: E402
from negrec_lib.data.sessions import SessionData  # noqa: E402
from negrec_lib.oracle import popularity_evaluate  # noqa: E402
from negrec_lib.provenance import provenance  # noqa: E402
from negrec_lib.train import Trainer  # noqa: E402


def first_epoch(profile: str, data_root: Path) -> dict:
    """One epoch of the profile's default model; validation HR@10 against popularity's."""
    cfg = profile_config(profile).override(
        ["train.epochs=1", "train.progress=false", "loss.skip_weight=0"]
    )
    data = SessionData.load(ensure_dataset(cfg.sim, cfg.data, data_root))
    popularity = popularity_evaluate(data, "valid").metrics["hr@10"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, data, out)
        trainer.fit()
        hr10 = trainer.history[0]["valid_hr@10"]
        device = str(trainer.device)
    return {
        "profile": profile,
        "sessions": cfg.sim.sessions,
        "tracks": cfg.sim.tracks,
        "d_model": cfg.model.d_model,
        "batch_size": cfg.train.batch_size,
        "lr": cfg.train.lr,
        "steps_in_epoch": -(-data.n_examples("train") // cfg.train.batch_size),
        "valid_hr@10_after_epoch_1": round(hr10, 4),
        "popularity_valid_hr@10": round(popularity, 4),
        "ratio_to_popularity": round(hr10 / popularity, 2),
        "device": device,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", nargs="+", default=["ci", "cpu", "gpu"])
    p.add_argument("--data", default="data", help="folder of the cached datasets")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    rows = []
    for name in args.profiles:
        rows.append(first_epoch(name, Path(args.data)))
        r = rows[-1]
        print(
            f"{name:>4}: valid HR@10 after one epoch {r['valid_hr@10_after_epoch_1']:.4f}, "
            f"popularity {r['popularity_valid_hr@10']:.4f} (x{r['ratio_to_popularity']}), "
            f"{r['steps_in_epoch']} steps, {r['seconds']} s",
            flush=True,
        )
    if args.out:
        record = {
            "command": "python experiments/first_epoch.py " + " ".join(argv or sys.argv[1:]),
            "rows": rows,
            "provenance": provenance(),
        }
        Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
