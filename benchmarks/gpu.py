"""The GPU run (issue 14, item 5): the Trainer's step at 10 k, 100 k and 1 M tracks; chapters 3-4.

    make gpu-check          # = python benchmarks/gpu.py --out results/bench_gpu.json
    PYTHONPATH=. python3 benchmarks/gpu.py --out $OUT/bench_gpu.json
    python benchmarks/gpu.py --dry-run --out /tmp/bench_gpu.json  # CPU, tiny, no chapters (< 1 min)

Training rows: the paper's configuration (`negrec_lib.config.ExperimentConfig` defaults: d 128, 8
heads, 2 layers, ffn 128, dropout 0.2, Adam lr 0.005, sampled softmax with 1,000 uniform negatives)
on synthetic MSSD-shaped sessions (`benchmarks/train_step.py`'s generator), for every combination of
vocabulary (``--vocabs``), batch (``--batches``: the paper's 128 and larger ones for throughput),
precision (bf16 autocast; fp16 autocast with a GradScaler) and mode (eager, or the step module
``torch.compile``d). Each combination builds a `negrec_lib.train.Trainer` (its model,
`make_optimizer`'s Adam, `LossModule` around `compute_losses`, sampler, precision and scaler) and
times ``Trainer.step``, the step of ``Trainer.fit``: autocast forward, ``zero_grad``, scaled
backward, unscale, `negrec_lib.optim.clip_grad_norm_` (5), ``scaler.step``, ``scaler.update``, the
LR scheduler, and the batches from ``SessionData.train_batches``. ``--warmup`` steps (the
compilation included, reported as ``warmup_s``) are followed by ``--repeats`` blocks of ``--steps``
steps, each block timed with CUDA events and one synchronisation at its end (the median block is
reported). Reported per row: sessions/s, ms/step, model FLOPs (analytic, as in train_step.py) and
their fraction of a bf16/fp16 matrix product measured in the same run, and peak memory
(``torch.cuda.max_memory_allocated``, reset per row). A combination that fails, runs out of memory
or does not fit in ``--budget-s`` is recorded with its reason; the run goes on.

Evaluation rows (``--evaluate``, on by default; `gpu_eval.py`): full-catalogue evaluation of
``--eval-sessions`` test sessions at each vocabulary, seconds and peak GPU memory.

Chapters 3 and 4 are then executed in order under ``NEGREC_PROFILE=gpu`` in a scratch copy of the
repository layout (fresh ``data/`` and ``runs/``, so nothing is replayed from a cache; the
committed notebooks are never written), with nbclient when nbclient and ipykernel are installed,
else as plain Python scripts of their code cells; each chapter's wall time is recorded.

The JSON (``--out``, rewritten after every row, ``"complete": true`` at the end) holds the
provenance (commit, dirty, GPU, CUDA, torch, the command). The issue's target (1 M training
sessions/s on one H100 at the paper's configuration) is printed next to the best measured
figure; it is not asserted. Nothing is downloaded.

On a machine with a per-command time limit, run the two halves in separate calls and keep both
files: ``--no-chapters --budget-s 360`` (training rows, cheapest first: all eager rows, then the
compiled ones; then the evaluation rows), then ``--no-train --no-evaluate --chapter-timeout 300``
(a chapter still running at its timeout is recorded as ``timeout`` with the seconds it ran).
Where the copied tree has no ``.git``, set ``NEGREC_COMMIT=<sha>`` so that the JSON names the
commit (``source_digest`` identifies the code either way). ``--vocabs``, ``--batches``,
``--precisions`` and ``--modes`` narrow the grid.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):  # negrec_lib and train_step, however this is launched
    if _p not in sys.path:
        sys.path.insert(0, _p)

import torch  # noqa: E402
import train_step as ts  # noqa: E402
from gpu_eval import evaluation_rows  # noqa: E402

from negrec_lib.atomic import atomic_write_text  # noqa: E402
from negrec_lib.config import ExperimentConfig  # noqa: E402
from negrec_lib.provenance import provenance  # noqa: E402
from negrec_lib.train import Trainer  # noqa: E402

TARGET_SESSIONS_PER_S = 1_000_000
TARGET_TEXT = (
    "issue 14: at least 1,000,000 training sessions/s on one H100 at the paper's configuration"
)
CHAPTERS = ("notebooks/03_training.ipynb", "notebooks/04_negative_feedback.ipynb")
SCHEMA = 1


# ---------------------------------------------------------------------- provenance
def source_digest() -> str:
    """sha256 of the code that produces the numbers (negrec_lib/ and benchmarks/ *.py files).

    Identifies the code where no git checkout is at hand (a copied working tree): compare it
    with the digest of a checkout.
    """
    h = hashlib.sha256()
    for folder in ("negrec_lib", "benchmarks"):
        for f in sorted((ROOT / folder).rglob("*.py")):
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def run_provenance(device: torch.device) -> dict[str, Any]:
    """`negrec_lib.provenance.provenance` plus where the commit came from and the source digest."""
    prov = provenance(device)
    prov["commit_source"] = "git" if prov.get("commit") else None
    if not prov.get("commit") and os.environ.get("NEGREC_COMMIT"):
        prov["commit"] = os.environ["NEGREC_COMMIT"]  # a copied tree without .git
        prov["commit_source"] = "NEGREC_COMMIT"
    prov["source_digest"] = source_digest()
    return prov


def gpu_info(device: torch.device) -> dict[str, Any]:
    """train_step's hardware record, plus what decides the GPU's precision and kernels."""
    info = ts.hardware(device)
    info["cuda_available"] = torch.cuda.is_available()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_multiprocessors=props.multi_processor_count,
            bf16_supported=torch.cuda.is_bf16_supported(),
            cudnn=torch.backends.cudnn.version(),
            gpu_count=torch.cuda.device_count(),
        )
        try:
            import triton

            info["triton"] = triton.__version__
        except ImportError:
            info["triton"] = None
    return info


# ---------------------------------------------------------------------- training rows
def sync(device: torch.device) -> None:
    """Wait for the GPU (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` cannot run on ``device`` (None: it can)."""
    if precision == "fp16" and device.type != "cuda":
        return "fp16 autocast with a GradScaler needs CUDA (the library refuses fp16 on a CPU)"
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "this GPU does not support bf16 (torch.cuda.is_bf16_supported() is False)"
    return None


def make_trainer(
    args: argparse.Namespace, data: Any, device: torch.device, precision: str, out_dir: Path
) -> Trainer:
    """A Trainer of the paper's configuration on ``data`` (compilation is done by the caller)."""
    cfg = ExperimentConfig()
    cfg.loss.n_negatives = args.negatives
    cfg.loss.skip_weight = args.skip_weight
    cfg.train.device = str(device)
    cfg.train.precision = precision
    cfg.train.compile = False
    cfg.train.progress = False
    cfg.train.seed = args.seed
    return Trainer(cfg, data, out_dir)


def time_row(
    trainer: Trainer,
    step_module: Any,
    data: Any,
    batch: int,
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """Warm up, then time ``--repeats`` blocks of ``--steps`` steps of the Trainer's step."""
    model = trainer.model
    trainer.step_module = step_module  # eager, or its compiled form: Trainer.step uses it
    batches = ts.endless_batches(data, batch, args.seed)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    last: dict[str, torch.Tensor] = {}

    def step() -> None:
        b = next(batches)
        out = trainer.step(b)
        seen.append((b.tracks, b.lengths))
        last["loss"] = out["total"]

    model.train()
    mem_kind = ts.reset_peak_memory(device)
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - t0
    seen.clear()
    graphs0 = int(dynamo_counters().get("stats", {}).get("unique_graphs", 0))
    block_ms, wall_ms = [], []
    for _ in range(args.repeats):
        w0 = time.perf_counter()
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(args.steps):
                step()
            end.record()
            torch.cuda.synchronize(device)
            block_ms.append(start.elapsed_time(end) / args.steps)
        else:
            for _ in range(args.steps):
                step()
            block_ms.append((time.perf_counter() - w0) * 1e3 / args.steps)
        wall_ms.append((time.perf_counter() - w0) * 1e3 / args.steps)
    loss = float(last["loss"].detach().float())
    compiled_while_timed = int(dynamo_counters().get("stats", {}).get("unique_graphs", 0)) - graphs0
    peak_gb = ts.peak_memory_gb(device)
    flops = []
    for tracks, lengths in seen:  # outside the timed blocks (host syncs)
        n_rows = int((lengths - 1).clamp(min=0).sum())
        cols = torch.arange(tracks.shape[1] - 1, device=tracks.device)
        targets = tracks[:, 1:][cols < (lengths - 1)[:, None]]
        n_cols = int(torch.unique(targets).numel()) + args.negatives
        flops.append(ts.step_flops(batch, tracks.shape[1], n_rows, n_cols, args.skip_weight > 0))
    ms = statistics.median(block_ms)
    return {
        "median_step_ms": ms,
        "block_step_ms": block_ms,
        "wall_step_ms": wall_ms,
        "sessions_per_s": batch / (ms / 1e3),
        "warmup_s": warmup_s,
        "flops_per_step": statistics.median(flops),
        "flops_per_s": statistics.median(flops) / (ms / 1e3),
        "peak_memory_gb": peak_gb,
        "memory_kind": mem_kind,
        "final_loss": loss,
        "loss_finite": math.isfinite(loss),
        "scaler_scale": (
            float(trainer.scaler.get_scale()) if trainer.scaler.is_enabled() else None
        ),
        "graphs_compiled_while_timed": compiled_while_timed,
        "note": (
            f"torch.compile compiled {compiled_while_timed} graph(s) during the timed "
            "steps: raise --warmup"
            if compiled_while_timed
            else None
        ),
    }


def dynamo_counters() -> Any:
    """torch._dynamo's counters (graphs, graph breaks, recompiles)."""
    from torch._dynamo.utils import counters

    return counters


def dynamo_summary() -> dict[str, Any]:
    """Graphs compiled and graph breaks so far in this configuration (its most frequent reasons)."""
    c = dynamo_counters()
    breaks = c.get("graph_break", {})
    top = sorted(breaks.items(), key=lambda kv: -kv[1])[:5]
    return {
        "unique_graphs": int(c.get("stats", {}).get("unique_graphs", 0)),
        "graph_breaks": int(sum(breaks.values())),
        "top_graph_breaks": [
            {"reason": " ".join(str(k).split())[:300], "count": int(v)} for k, v in top
        ],
    }


def short_error(exc: BaseException) -> str:
    """The exception's type and first 400 characters, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


def is_oom(exc: BaseException) -> bool:
    """True for an out-of-memory error (CUDA's, or an allocator's message)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def free_memory(device: torch.device) -> None:
    """Drop unreferenced tensors and return cached GPU blocks."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def training_rows(
    args: argparse.Namespace, device: torch.device, report: dict[str, Any], save: Any
) -> None:
    """Every (mode, precision, vocab, batch) combination, cheapest first: report["training"]."""
    rows: list[dict[str, Any]] = report["training"]
    deadline = time.perf_counter() + args.budget_s
    datasets: dict[int, Any] = {}
    scratch = Path(tempfile.mkdtemp(prefix="negrec-gpu-runs-"))
    try:
        for mode in args.modes:
            for precision in args.precisions:
                for vocab in args.vocabs:
                    base = {
                        "vocab": vocab,
                        "tracks": vocab - ts.N_RESERVED,
                        "precision": precision,
                        "mode": mode,
                    }
                    reason = precision_problem(precision, device)
                    trainer = step_module = None
                    failed_at = oom_at = None
                    for batch in args.batches:
                        row = {**base, "batch": batch, "status": "skipped", "reason": None}
                        if reason:
                            row["reason"] = reason
                        elif failed_at is not None:
                            row["reason"] = f"the same configuration failed at batch {failed_at}"
                        elif oom_at is not None and batch > oom_at:
                            row["reason"] = f"larger than batch {oom_at}, which ran out of memory"
                        elif time.perf_counter() > deadline:
                            row["reason"] = f"time budget (--budget-s {args.budget_s:g}) spent"
                        else:
                            t0 = time.perf_counter()
                            try:
                                if vocab not in datasets:
                                    datasets.clear()
                                    free_memory(device)
                                    arrays = ts.synthetic_arrays(args.sessions, vocab, args.seed)
                                    datasets[vocab] = ts.synthetic_session_data(
                                        arrays, vocab, device
                                    )
                                data = datasets[vocab]
                                if trainer is None:
                                    out = scratch / f"{mode}-{precision}-{vocab}"
                                    trainer = make_trainer(args, data, device, precision, out)
                                    step_module = trainer.step_module
                                    if mode == "compiled":
                                        # a fresh dynamo cache per configuration: recompiles of
                                        # earlier ones would count against its recompile limit
                                        # (past it dynamo runs the frame eagerly, silently)
                                        torch._dynamo.reset()
                                        dynamo_counters().clear()
                                        step_module = torch.compile(
                                            step_module, backend=args.compile_backend
                                        )
                                row.update(
                                    time_row(trainer, step_module, data, batch, args, device)
                                )
                                if mode == "compiled":
                                    row["dynamo"] = dynamo_summary()
                                row["status"] = "ok"
                                if not row["loss_finite"]:
                                    row["reason"] = "the loss was not finite at the last step"
                            except Exception as exc:  # recorded, the run goes on
                                row["status"] = "failed"
                                row["reason"] = (
                                    "out of memory: " if is_oom(exc) else ""
                                ) + short_error(exc)
                                row["traceback_tail"] = traceback.format_exc()[-1500:]
                                if is_oom(exc):
                                    oom_at = batch
                                else:
                                    failed_at = batch
                                    trainer = step_module = None
                            row["seconds"] = time.perf_counter() - t0
                            free_memory(device)
                        if row["status"] == "ok":
                            peak = report["gemm"]["flops_per_s"].get(precision)
                            row["fraction_of_gemm_peak"] = (
                                row["flops_per_s"] / peak if peak and math.isfinite(peak) else None
                            )
                            row["compile_backend"] = (
                                args.compile_backend if mode == "compiled" else None
                            )
                        rows.append(row)
                        print_row(row)
                        save()
                    del trainer, step_module
                    free_memory(device)
    finally:
        datasets.clear()
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------- chapters
def chapter_executor(choice: str) -> tuple[str, str]:
    """(executor, why): nbclient when it and ipykernel are installed, else the script runner."""
    if choice == "script":
        return "script", "asked for (--chapter-executor script)"
    missing = []
    for mod in ("nbformat", "nbclient", "ipykernel"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if not missing:
        return "nbclient", "nbclient and ipykernel are installed"
    if choice == "nbclient":
        return "unavailable", f"--chapter-executor nbclient, but {', '.join(missing)} not installed"
    return "script", (
        f"{', '.join(missing)} not installed: the code cells run as one Python "
        "script (IPython magics dropped, figures on the Agg backend)"
    )


def make_scratch(scratch: Path, notebooks: list[Path]) -> None:
    """The repository layout the chapters expect: fresh data/ and runs/, copied notebooks."""
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "pyproject.toml", scratch / "pyproject.toml")
    for name in ("negrec_lib", "results", "experiments", "book"):
        link = scratch / name
        if (ROOT / name).exists() and not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    (scratch / "notebooks").mkdir(exist_ok=True)
    for nb in notebooks:
        shutil.copy2(nb, scratch / "notebooks" / nb.name)
    kernel = scratch / "jupyter" / "kernels" / "negrec-bench"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "negrec benchmark",
                "language": "python",
            }
        )
    )


def notebook_script(nb_path: Path) -> str:
    """The code cells of a notebook as one script (magics and shell escapes dropped)."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = [
        "import matplotlib\nmatplotlib.use('Agg')\n"
        "try:\n    from IPython.display import display\nexcept ImportError:\n"
        "    def display(*args, **kwargs):\n        pass\n"
    ]
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        parts.append(f"print('--- cell {i}', flush=True)\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def execute_notebook(src: Path, dst: Path, timeout: int) -> int:
    """Child process: run ``src`` with nbclient in its folder, save the executed copy to ``dst``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="negrec-bench",
        allow_errors=False,
        resources={"metadata": {"path": str(src.parent)}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, dst)
    return 0


def run_chapters(args: argparse.Namespace, report: dict[str, Any], save: Any) -> None:
    """Execute the chapters in order in one scratch copy; record each one's wall time."""
    section = report["chapters"]
    executor, why = chapter_executor(args.chapter_executor)
    notebooks = [Path(p) if Path(p).is_absolute() else ROOT / p for p in args.chapter_notebooks]
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="negrec-gpu-chapters-"))
    section.update(
        executor=executor,
        executor_reason=why,
        profile=args.chapter_profile,
        scratch=str(scratch),
        timeout_s=args.chapter_timeout,
        items=[],
    )
    if executor == "unavailable":
        section.update(status="skipped", reason=why)
        save()
        return
    make_scratch(scratch, notebooks)
    env = dict(os.environ)
    env.update(
        NEGREC_PROFILE=args.chapter_profile,
        NEGREC_DATA=str(scratch / "data"),
        JUPYTER_PATH=str(scratch / "jupyter"),
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(
            [str(ROOT)]
            + [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    section["status"] = "ran"
    section.pop("reason", None)
    for nb in notebooks:
        copy = scratch / "notebooks" / nb.name
        item = {
            "notebook": str(nb.relative_to(ROOT)) if nb.is_relative_to(ROOT) else str(nb),
            "status": None,
        }
        if executor == "nbclient":
            executed = scratch / "notebooks" / f"{nb.stem}.executed.ipynb"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--execute-notebook",
                str(copy),
                str(executed),
                "--chapter-timeout",
                str(args.chapter_timeout),
            ]
            item["executed_copy"] = str(executed)
        else:
            script = scratch / "notebooks" / f"{nb.stem}.py"
            script.write_text(notebook_script(copy), encoding="utf-8")
            cmd = [sys.executable, str(script)]
            item["script"] = str(script)
        log = scratch / f"{nb.stem}.log"
        print(
            f"chapter {item['notebook']}: executing ({executor}, NEGREC_PROFILE="
            f"{args.chapter_profile}, timeout {args.chapter_timeout} s) ...",
            flush=True,
        )
        t0 = time.perf_counter()
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                cmd,
                cwd=scratch / "notebooks",
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=args.chapter_timeout)
                item["status"] = "ok" if rc == 0 else "failed"
                item["returncode"] = rc
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                item["status"] = "timeout"
                item["reason"] = f"still running after {args.chapter_timeout} s (--chapter-timeout)"
        item["wall_s"] = time.perf_counter() - t0
        if item["status"] != "ok":
            item["log_tail"] = log.read_text(errors="replace")[-3000:]
            item.setdefault("reason", f"exit status {item.get('returncode')}; see log_tail")
        section["items"].append(item)
        print(f"chapter {item['notebook']}: {item['status']} in {item['wall_s']:.0f} s", flush=True)
        save()
    if not args.keep_scratch and not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        section["scratch"] = None


# ---------------------------------------------------------------------- report
def fmt(x: Any, spec: str) -> str:
    """``x`` formatted, or "-" when it is missing or not finite."""
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "-"


HEAD = (
    f"{'tracks':>9} {'prec':5} {'mode':8} {'batch':>5} {'status':7} {'ms/step':>8} "
    f"{'sess/s':>10} {'TFLOP/s':>8} {'%peak':>6} {'peak GB':>8} {'warmup s':>8}"
)


def print_row(r: dict[str, Any]) -> None:
    """One line of the table (with the reason of a skipped or failed row)."""
    line = (
        f"{r['tracks']:>9,} {r['precision']:5} {r['mode']:8} {r['batch']:>5} {r['status']:7} "
        f"{fmt(r.get('median_step_ms'), '8.2f'):>8} {fmt(r.get('sessions_per_s'), ',.0f'):>10} "
        f"{fmt(r.get('flops_per_s', float('nan')) / 1e12, '8.3f'):>8} "
        f"{fmt(100 * (r.get('fraction_of_gemm_peak') or float('nan')), '6.2f'):>6} "
        f"{fmt(r.get('peak_memory_gb'), '8.2f'):>8} {fmt(r.get('warmup_s'), '8.1f'):>8}"
    )
    if r.get("reason") or r.get("note"):
        line += f"  [{(r.get('reason') or r.get('note'))[:160]}]"
    print(line, flush=True)


def best_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest row overall and at each vocabulary (status ok only)."""
    ok = [r for r in rows if r["status"] == "ok"]

    def pick(rs):
        return max(rs, key=lambda r: r["sessions_per_s"]) if rs else None

    keys = ("vocab", "tracks", "batch", "precision", "mode", "sessions_per_s")
    out = {"overall": None, "by_tracks": {}}
    if ok:
        out["overall"] = {k: pick(ok)[k] for k in keys}
        for t in sorted({r["tracks"] for r in ok}):
            out["by_tracks"][str(t)] = {
                k: pick([r for r in ok if r["tracks"] == t])[k] for k in keys
            }
    return out


def print_summary(report: dict[str, Any]) -> None:
    print()
    print(
        f"GEMM peak ({report['gemm']['size']}^3 torch.mm): "
        + ", ".join(
            f"{p} {v / 1e12:.1f} TFLOP/s" for p, v in report["gemm"]["flops_per_s"].items() if v
        )
    )
    print(HEAD)
    print("-" * len(HEAD))
    for r in report["training"]:
        print_row(r)
    best = report["target"]["best"]
    print()
    print(f"target ({TARGET_TEXT}), not asserted:")
    if best["overall"] is None:
        print("  measured best: none (no row ran)")
    for t, b in best["by_tracks"].items():
        print(
            f"  measured best at {int(t):>9,} tracks: {b['sessions_per_s']:>12,.0f} sessions/s "
            f"(batch {b['batch']}, {b['precision']}, {b['mode']})"
        )
    where = report["hardware"].get("gpu", "no GPU: CPU")
    dry = " (dry run: tiny sizes on the CPU, not a GPU figure)" if report["dry_run"] else ""
    print(f"  on {where}{dry}")
    ch = report["chapters"]
    print()
    if ch.get("status") != "ran":
        print(f"chapters: skipped ({ch.get('reason')})")
    else:
        print(f"chapters (NEGREC_PROFILE={ch['profile']}, executor {ch['executor']}):")
        for item in ch["items"]:
            print(f"  {item['notebook']:40} {item['status']:8} {item['wall_s']:8.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Arguments, with the full-size or dry-run defaults filled in."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--out", default="results/bench_gpu.json", help="the JSON to write (any path)")
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="CPU, tiny sizes (1,000 tracks, a few steps, compile with the 'eager' "
        "backend, no chapters): checks the script, measures nothing of a GPU",
    )
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument(
        "--vocabs",
        default=None,
        help="comma-separated track counts "
        "(default 10000,100000,1000000; dry run 1000); 3 reserved ids are added",
    )
    ap.add_argument(
        "--batches", default=None, help="comma-separated (default 128,1024,4096; dry run 16,64)"
    )
    ap.add_argument("--precisions", default="bf16,fp16", help="comma-separated: bf16, fp16")
    ap.add_argument("--modes", default="eager,compiled", help="comma-separated: eager, compiled")
    ap.add_argument(
        "--compile-backend",
        default=None,
        help="torch.compile backend (default inductor, as the Trainer; dry run: eager)",
    )
    ap.add_argument(
        "--sessions",
        type=int,
        default=None,
        help="synthetic sessions (default 200,000; dry run 2,000)",
    )
    ap.add_argument(
        "--negatives",
        type=int,
        default=None,
        help="sampled negatives (default 1000, the paper's; dry run 100)",
    )
    ap.add_argument(
        "--skip-weight",
        type=float,
        default=0.0,
        help="lambda of the skip loss (0: ExperimentConfig's default, the baseline)",
    )
    ap.add_argument(
        "--warmup", type=int, default=None, help="untimed steps per row (default 8; dry run 2)"
    )
    ap.add_argument(
        "--steps", type=int, default=None, help="steps per timed block (default 20; dry run 2)"
    )
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed blocks per row (default 3; dry run 1)"
    )
    ap.add_argument(
        "--gemm-size", type=int, default=None, help="n of the n^3 GEMM (default 8192; dry run 256)"
    )
    ap.add_argument(
        "--budget-s",
        type=float,
        default=480.0,
        help="seconds for the training rows; rows not started by then are recorded as skipped",
    )
    ap.add_argument(
        "--train", action=argparse.BooleanOptionalAction, default=True, help="run the training rows"
    )
    ap.add_argument(
        "--chapters",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="execute chapters 3 and 4 (default: yes, except in a dry run)",
    )
    ap.add_argument(
        "--chapter-notebooks", default=",".join(CHAPTERS), help="comma-separated, run in order"
    )
    ap.add_argument("--chapter-profile", default="gpu", help="NEGREC_PROFILE for the chapters")
    ap.add_argument("--chapter-timeout", type=int, default=1800, help="seconds per chapter")
    ap.add_argument("--chapter-executor", choices=["auto", "nbclient", "script"], default="auto")
    ap.add_argument(
        "--scratch",
        default=None,
        help="folder for the chapters' copy (default: a temporary folder, removed afterwards)",
    )
    ap.add_argument("--keep-scratch", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--verbose", action="store_true", help="keep torch.compile's graph-break warnings"
    )
    ap.add_argument(
        "--evaluate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time full-catalogue evaluation at each vocabulary (benchmarks/gpu_eval.py)",
    )
    ap.add_argument(
        "--eval-sessions", type=int, default=None, help="test sessions (default 20,000; dry 200)"
    )
    ap.add_argument("--eval-batch", type=int, default=4096, help="evaluate's batch_size")
    ap.add_argument("--execute-notebook", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    dry = args.dry_run
    defaults = {
        "vocabs": "1000" if dry else "10000,100000,1000000",
        "batches": "16,64" if dry else "128,1024,4096",
        "compile_backend": "eager" if dry else "inductor",
        "sessions": 2_000 if dry else 200_000,
        "negatives": 100 if dry else 1000,
        "warmup": 2 if dry else 8,
        "steps": 2 if dry else 20,
        "repeats": 1 if dry else 3,
        "gemm_size": 256 if dry else 8192,
        "eval_sessions": 200 if dry else 20_000,
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.chapters is None:
        args.chapters = not dry
    args.vocabs = [int(v) + ts.N_RESERVED for v in str(args.vocabs).split(",") if v.strip()]
    args.batches = [int(b) for b in str(args.batches).split(",") if b.strip()]
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.chapter_notebooks = [p.strip() for p in args.chapter_notebooks.split(",") if p.strip()]
    if not set(args.precisions) <= {"bf16", "fp16"}:
        ap.error(f"--precisions: expected bf16 and/or fp16, got {args.precisions}")
    if not set(args.modes) <= {"eager", "compiled"}:
        ap.error(f"--modes: expected eager and/or compiled, got {args.modes}")
    if min(args.warmup, args.steps - 1, args.repeats - 1) < 0:
        ap.error("--steps and --repeats must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Training rows, then chapters; the JSON is rewritten after each row and chapter."""
    args = parse_args(argv)
    if not args.verbose:  # dynamo's graph-break warnings: counted in the JSON instead
        import logging

        logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    if args.execute_notebook:
        return execute_notebook(
            Path(args.execute_notebook[0]), Path(args.execute_notebook[1]), args.chapter_timeout
        )
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu.py: --device cuda, but CUDA is not available", file=sys.stderr)
        return 2
    if args.device == "cpu" and not args.dry_run:
        print(
            "gpu.py: no CUDA device. This run is meant for a GPU; on a CPU use --dry-run "
            "(tiny sizes), or --device cpu --dry-run with larger --vocabs/--batches",
            file=sys.stderr,
        )
        return 2
    device = torch.device(args.device)
    started = time.time()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "gpu",
        "schema": SCHEMA,
        "complete": False,
        "dry_run": args.dry_run,
        "command": [sys.executable, *sys.argv],
        "command_line": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "args": {k: v for k, v in vars(args).items() if k != "execute_notebook"},
        "config": {
            "model": "ExperimentConfig().model (d 128, 8 heads, 2 layers, ffn 128, "
            "dropout 0.2, causal)",
            "optimizer": "make_optimizer: Adam lr 0.005 (fused where available), clip 5",
            "loss": f"sampled softmax, batch targets + {args.negatives} uniform negatives, "
            f"skip_weight {args.skip_weight:g}",
        },
        "provenance": run_provenance(device),
        "hardware": gpu_info(device),
        "started_unix": started,
        "seconds": None,
        "gemm": {"size": args.gemm_size, "flops_per_s": {}},
        "training": [],
        "target": {
            "text": TARGET_TEXT,
            "sessions_per_s": TARGET_SESSIONS_PER_S,
            "asserted": False,
            "best": best_rows([]),
        },
        "chapters": {"status": "skipped", "reason": "dry run" if args.dry_run else "--no-chapters"},
    }

    def save() -> None:
        report["seconds"] = time.time() - started
        report["target"]["best"] = best_rows(report["training"])
        atomic_write_text(out, json.dumps(report, indent=1, default=str))

    prov = report["provenance"]
    print(
        f"negrec GPU check{' (DRY RUN: CPU, tiny sizes)' if args.dry_run else ''}: "
        f"{report['hardware'].get('gpu', 'CPU')}, torch {torch.__version__}, CUDA "
        f"{torch.version.cuda}, commit {prov.get('commit')} (dirty {prov.get('dirty')})",
        flush=True,
    )
    if args.train:
        for p in args.precisions:
            if precision_problem(p, device):
                report["gemm"]["flops_per_s"][p] = None  # its rows are skipped
                continue
            dtype = torch.bfloat16 if p == "bf16" else torch.float16
            try:
                report["gemm"]["flops_per_s"][p] = ts.measure_gemm(
                    device, args.gemm_size, dtype, 20 if device.type == "cuda" else 3
                )
            except Exception as exc:
                report["gemm"]["flops_per_s"][p] = float("nan")
                report["gemm"].setdefault("errors", {})[p] = short_error(exc)
        print(
            "GEMM peak: "
            + ", ".join(
                f"{p} {v / 1e12:.2f} TFLOP/s" for p, v in report["gemm"]["flops_per_s"].items() if v
            ),
            flush=True,
        )
        save()
        print(HEAD, flush=True)
        training_rows(args, device, report, save)
    if args.evaluate:
        evaluation_rows(args, device, report, save)
    if args.chapters:
        run_chapters(args, report, save)
    report["complete"] = True
    save()
    print_summary(report)
    print(f"\nwrote {out} ({time.time() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
