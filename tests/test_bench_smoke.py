"""benchmarks/trainer.py and benchmarks/evaluate.py at tiny sizes: they run and write their JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *argv: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_trainer_benchmark_rows(tmp_path):
    out = tmp_path / "trainer.json"
    _run(
        "trainer.py", "--vocabs", "503", "--sessions", "600", "--eval-sessions", "100",
        "--steps", "2", "--warmup", "1", "--scatter-table", "500", "--out", str(out),
    )  # fmt: skip
    r = json.loads(out.read_text())
    names = [row["row"] for row in r["rows"]]
    assert names[:6] == [
        "bare dense step (Adam)",
        "bare step (ScatterAdam)",  # the table is above --scatter-table
        "bare lazy step (lazy Adam)",
        "negrec train as typed",
        "negrec train, sparse_embeddings=true",
        "negrec train, precision=bf16",
    ]
    assert "negrec train, full softmax ([N, V] logits)" in names
    for row in r["rows"]:
        assert row["vocab"] in (503, 4003) and math.isfinite(row["sessions_per_s"])
        assert row["sessions_per_s"] > 0
    typed = r["rows"][3]
    assert math.isclose(
        typed["bare_over_trainer"], r["rows"][1]["sessions_per_s"] / typed["sessions_per_s"]
    )
    study = [row for row in r["rows"] if row["row"].startswith("study model")]
    assert [row["row"] for row in study] == ["study model, fp32", "study model, bf16"]
    assert all(row["threads"] == 1 and row["vocab"] == 4003 for row in study)
    bf16 = r["rows"][5]
    assert bf16["sets"] == ["train.precision=bf16"]
    assert math.isclose(bf16["bf16_over_fp32"], bf16["sessions_per_s"] / typed["sessions_per_s"])
    assert "commit" in r and r["hardware"]["torch"]


def test_evaluate_benchmark_ranks_agree(tmp_path):
    out = tmp_path / "evaluate.json"
    _run("evaluate.py", "--sessions", "300", "--vocab", "2003", "--repeats", "1", "--out", str(out))
    r = json.loads(out.read_text())
    assert r["examples"] == 300
    assert r["ranks_differing"] <= 3  # only near-ties may move (float32 rounding of the states)
    assert [row["variant"] for row in r["rows"]] == ["[B, V] matrix", "blocked"]
    assert r["speedup_blocked_vs_matrix"] > 0
