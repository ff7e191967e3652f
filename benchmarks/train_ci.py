"""Wall time of a `ci`-profile training run from the command line, both directions, +- skip loss.

    python benchmarks/train_ci.py --out results/bench_train_ci.json

The target (issue: model, losses, training): a CPU training run of the ``ci`` profile finishes in
under a minute. Each of the four runs is ``negrec train --profile ci`` in a fresh process (so the
time includes Python start-up, imports, loading the prepared data, training, validation every
epoch and the final test), into a scratch folder. The profile's simulated data are generated and
prepared once beforehand and timed separately, since every later run reuses them. Speed is
measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "uni": ["model.causal=true", "loss.skip_weight=0"],
    "uni + skip loss": ["model.causal=true", "loss.skip_weight=1"],
    "bi": ["model.causal=false", "loss.skip_weight=0"],
    "bi + skip loss": ["model.causal=false", "loss.skip_weight=1"],
}


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from negrec_lib.provenance import provenance

    with tempfile.TemporaryDirectory(prefix="negrec-bench-ci-") as tmp:
        env = {**os.environ, "NEGREC_DATA": str(Path(tmp) / "data")}
        base = [sys.executable, "-m", "negrec_lib.cli", "train", "--profile", "ci"]
        data_s = timed([*base, "--out", str(Path(tmp) / "warm"), "--set", "train.epochs=1"], env)
        rows = []
        for name, sets in VARIANTS.items():
            run = [*base, "--out", str(Path(tmp) / name.replace(" ", "_"))]
            for s in sets:
                run += ["--set", s]
            seconds = timed(run, env)
            rows.append({"variant": name, "seconds": round(seconds, 1)})
            print(f"{name:>16}: {seconds:5.1f} s")
    prov = provenance()
    report = {
        "benchmark": "train_ci",
        "command": "python benchmarks/train_ci.py",
        "first_run_with_data_generation_seconds": round(data_s, 1),
        "runs": rows,
        "slowest_seconds": max(r["seconds"] for r in rows),
        "commit": prov["commit"],
        "dirty": prov["dirty"],
        "hardware": prov["hardware"],
        "cpu_count": os.cpu_count(),
        "torch": prov["torch"],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_after": os.getloadavg(),
        "python": platform.python_version(),
    }
    print(
        f"data generation + preparation + one epoch: {data_s:.1f} s; "
        f"slowest full run: {report['slowest_seconds']} s"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
