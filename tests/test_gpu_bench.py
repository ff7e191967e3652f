"""benchmarks/gpu.py (`make gpu-check`): its CPU dry run writes the JSON a GPU run writes."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_dry_run_writes_the_gpu_report(tmp_path):
    ok = _notebook(
        tmp_path / "ok.ipynb",
        "%matplotlib inline\nimport os\nfrom pathlib import Path\n"
        "assert os.environ['NEGREC_PROFILE'] == 'ci'\n"
        "assert (Path.cwd().parent / 'pyproject.toml').is_file()\n"
        "assert Path(os.environ['NEGREC_DATA']).parent == Path.cwd().parent\n",
    )
    bad = _notebook(tmp_path / "bad.ipynb", "raise ValueError('planted failure')")
    out = tmp_path / "deep" / "bench_gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu.py"),
            "--dry-run",
            "--batches",
            "32",
            "--out",
            str(out),
            "--chapters",
            "--chapter-executor",
            "script",
            "--chapter-profile",
            "ci",
            "--chapter-notebooks",
            f"{ok},{bad}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())

    assert r["benchmark"] == "gpu" and r["complete"] is True and r["dry_run"] is True
    assert "--dry-run" in r["command"] and "gpu.py" in r["command_line"]
    prov = r["provenance"]
    for key in ("commit", "dirty", "hardware", "torch", "python", "source_digest"):
        assert key in prov
    assert re.fullmatch(r"[0-9a-f]{64}", prov["source_digest"])
    assert r["hardware"]["cuda_available"] in (True, False) and r["hardware"]["torch"]
    assert _positive(r["seconds"])

    assert _positive(r["gemm"]["flops_per_s"]["bf16"])
    assert r["gemm"]["flops_per_s"]["fp16"] is None  # no fp16 on a CPU
    rows = r["training"]
    assert {(x["precision"], x["mode"]) for x in rows} == {
        (p, m) for p in ("bf16", "fp16") for m in ("eager", "compiled")
    }
    for x in rows:
        assert x["status"] in ("ok", "skipped", "failed")
        assert x["tracks"] == 1000 and x["vocab"] == 1003 and x["batch"] == 32
        if x["status"] != "ok":
            assert x["reason"]
    ok_rows = [x for x in rows if x["status"] == "ok"]
    assert {x["mode"] for x in ok_rows} == {"eager", "compiled"}
    assert all(x["precision"] == "bf16" for x in ok_rows)
    for x in ok_rows:
        for key in (
            "sessions_per_s",
            "median_step_ms",
            "flops_per_step",
            "flops_per_s",
            "fraction_of_gemm_peak",
            "peak_memory_gb",
            "warmup_s",
        ):
            assert _positive(x[key]), (key, x[key])
        assert x["loss_finite"] and math.isfinite(x["final_loss"])
        assert math.isclose(x["sessions_per_s"], 32 / (x["median_step_ms"] / 1e3), rel_tol=1e-6)
    compiled = next(x for x in ok_rows if x["mode"] == "compiled")
    assert compiled["dynamo"]["unique_graphs"] >= 1 and compiled["compile_backend"] == "eager"
    assert all(isinstance(x["graphs_compiled_while_timed"], int) for x in ok_rows)
    assert all("CUDA" in x["reason"] for x in rows if x["precision"] == "fp16")

    target = r["target"]
    assert target["sessions_per_s"] == 1_000_000 and target["asserted"] is False
    best = max(ok_rows, key=lambda x: x["sessions_per_s"])
    assert target["best"]["overall"]["sessions_per_s"] == best["sessions_per_s"]

    (ev,) = r["evaluation"]  # one vocabulary in the dry run
    assert ev["status"] == "ok" and ev["vocab"] == 1003 and ev["examples"] == 200
    assert _positive(ev["seconds"]) and _positive(ev["examples_per_s"])

    ch = r["chapters"]
    assert ch["status"] == "ran" and ch["executor"] == "script" and ch["profile"] == "ci"
    assert [i["status"] for i in ch["items"]] == ["ok", "failed"]
    assert all(_positive(i["wall_s"]) for i in ch["items"])
    assert "planted failure" in ch["items"][1]["log_tail"]
    assert ch["scratch"] is None  # removed afterwards

    assert "sess/s" in proc.stdout and "not asserted" in proc.stdout


def test_make_gpu_check_runs_the_script():
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\ngpu-check:", 1)[1].split("\n\n", 1)[0]
    assert "benchmarks/gpu.py --out results/bench_gpu.json" in recipe
    assert re.search(r"^\.PHONY:.*\bgpu-check\b", text, re.M)
