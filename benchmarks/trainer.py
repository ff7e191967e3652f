"""The Trainer as users run it, next to the bare step, at 10 k, 100 k and 1 M tracks (issue 14).

    python benchmarks/trainer.py                   # CPU, ~12 min on two cores
    python benchmarks/trainer.py --vocabs 10003 --sessions 4000 --out /tmp/t.json   # quick

For every vocabulary (``--vocabs``, ids including the 3 reserved ones), on the same synthetic
MSSD-shaped sessions (`train_step.synthetic_arrays`), in one process, one row after another:

- ``bare dense`` and ``bare lazy``: `train_step.run_ours`, the library's step written out by
  hand (median of ``--steps`` steps after ``--warmup``): the best step this machine does with
  Adam, and with lazy Adam (``train.sparse_embeddings=true``). From
  `negrec_lib.optim.SCATTER_TABLE` ids also ``bare step (ScatterAdam)``: Adam as the Trainer then
  runs it (`optim.ScatterAdam`), the baseline of the as-typed row there.
- ``negrec train as typed``: `negrec_lib.train.Trainer` (what ``negrec train`` runs once the
  prepared folder is loaded) with the paper's configuration (``ExperimentConfig()``: d 128,
  batch 128, sampled softmax with 1,000 negatives, Adam, clipping at 5, progress bar on) for one
  epoch; sessions/s is the Trainer's own figure for the epoch (``history[0]["sessions_per_s"]``:
  every step from the first, batches included; validation excluded).
- ``negrec train, sparse_embeddings=true``: the same with the lazy optimiser chosen.
- ``negrec train, precision=bf16``: as typed, under a bf16 autocast (``train.precision=bf16``);
  ``bf16_over_fp32`` divides its sessions/s by the as-typed row's (fp32 on a CPU).
- At the first vocabulary only: ``negrec train, full softmax`` (``loss.next_loss=full``) with the
  blocked loss (`negrec_lib.losses.blocked_softmax`) and ``... [N, V] logits`` with the loss it
  replaced (``F.cross_entropy`` on the whole logit matrix, patched in for that row).

- The study's model (``--study``, on by default; `experiments/study_base.yaml`: d 64, 4 heads,
  ff 64, lr 0.003, 4,003 ids, sampled softmax with 1,000 negatives) on ONE thread, as the study's
  grids run it (one run per core): ``study model, fp32`` and ``study model, bf16``, one epoch each
  (sessions/s per core).

The ratio column divides the bare step's sessions/s by the Trainer's (1.0 = no overhead). The
JSON (``--out``) holds provenance, hardware and every row. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import record  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import train_step as ts  # noqa: E402

import negrec_lib.losses.next_track as next_track  # noqa: E402
import negrec_lib.optim as optim  # noqa: E402
from negrec_lib.config import ExperimentConfig  # noqa: E402
from negrec_lib.tokens import N_RESERVED  # noqa: E402
from negrec_lib.train import Trainer  # noqa: E402


def matrix_softmax_loss(h: torch.Tensor, y: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The full softmax as it was computed before the blocked loss: the whole [N, V] logits."""
    logits = h @ table.T.to(h.dtype)
    logits = logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits
    logits[:, :N_RESERVED] = float("-inf")
    return F.cross_entropy(logits, y)


def with_eval_rows(data: Any, n_eval: int) -> Any:
    """Validation and test on the first ``n_eval`` sessions only (the rows timed are training)."""
    for split in ("valid", "test"):
        data.splits[f"{split}_rows"] = data.splits[f"{split}_rows"][:n_eval]
        data.splits[f"{split}_pos"] = data.splits[f"{split}_pos"][:n_eval]
    return data


def trainer_row(name: str, data: Any, sets: list[str], vocab: int) -> dict[str, Any]:
    """One epoch of `Trainer.fit` with the paper's configuration plus ``sets``."""
    cfg = ExperimentConfig().override(["train.epochs=1", "train.patience=null", *sets])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = Trainer(cfg, data, Path(tmp) / "run").fit()
        wall = time.perf_counter() - t0
        history = json.loads((Path(tmp) / "run" / "history.json").read_text())
    epoch = history[0]
    row = {
        "row": name,
        "vocab": vocab,
        "sets": sets,
        "sessions_per_s": epoch["sessions_per_s"],
        "train_seconds": epoch["train_seconds"],
        "fit_wall_seconds": wall,
        "test_hr@10": result["test"]["hr@10"],
    }
    print(f"  {name:44} {row['sessions_per_s']:8.0f} sessions/s  ({wall:.0f} s)", flush=True)
    return row


def bare_row(
    name: str, data: Any, args: argparse.Namespace, sparse: bool, vocab: int, scatter: bool = False
) -> dict:
    r = ts.run_ours(
        name, data, args, torch.device("cpu"), "fp32", skip=False, sparse=sparse, scatter=scatter
    )
    print(f"  {name:44} {r.sessions_per_s:8.0f} sessions/s", flush=True)
    return {
        "row": name,
        "vocab": vocab,
        "sessions_per_s": r.sessions_per_s,
        "median_step_ms": r.median_ms,
        "phase_median_ms": {p: statistics.median(v) for p, v in r.phases_ms.items()},
    }


STUDY_VOCAB = 4_003  # the study's 4,000 tracks and the 3 reserved ids
STUDY_SETS = ["model.d_model=64", "model.n_heads=4", "model.d_ff=64", "train.lr=0.003"]


def study_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The study's model on one thread (one run per core, as its grids run), fp32 and bf16."""
    print(f"study model (d 64, V = {STUDY_VOCAB:,}), one thread")
    arrays = ts.synthetic_arrays(args.sessions, STUDY_VOCAB, args.seed)
    data = with_eval_rows(
        ts.synthetic_session_data(arrays, STUDY_VOCAB, torch.device("cpu")), args.eval_sessions
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fp32 = trainer_row("study model, fp32", data, STUDY_SETS, STUDY_VOCAB)
        bf16 = trainer_row(
            "study model, bf16", data, [*STUDY_SETS, "train.precision=bf16"], STUDY_VOCAB
        )
    finally:
        torch.set_num_threads(threads)
    fp32["threads"] = bf16["threads"] = 1
    bf16["bf16_over_fp32"] = bf16["sessions_per_s"] / fp32["sessions_per_s"]
    return [fp32, bf16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocabs", default="10003,100003,1000003")
    ap.add_argument("--sessions", type=int, default=20_000, help="training sessions per epoch")
    ap.add_argument("--eval-sessions", type=int, default=2_000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-full", action="store_true", help="skip the full-softmax rows")
    ap.add_argument("--no-study", action="store_true", help="skip the study-model rows")
    ap.add_argument(
        "--scatter-table",
        type=int,
        default=optim.SCATTER_TABLE,
        help="ids from which the Trainer takes ScatterAdam (lower it to test that row)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_trainer.json")
    args = ap.parse_args(argv)
    args.batch, args.negatives = 128, 1000  # run_ours reads these: the paper's
    optim.SCATTER_TABLE = args.scatter_table  # make_optimizer reads it at call time
    vocabs = [int(v) for v in args.vocabs.split(",")]
    start = record.started()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, vocabularies {vocabs}")
    rows: list[dict[str, Any]] = []
    for i, vocab in enumerate(vocabs):
        print(f"V = {vocab:,}")
        arrays = ts.synthetic_arrays(args.sessions, vocab, args.seed)
        data = with_eval_rows(
            ts.synthetic_session_data(arrays, vocab, torch.device("cpu")), args.eval_sessions
        )
        dense = bare_row("bare dense step (Adam)", data, args, False, vocab)
        exact = dense  # the exact-Adam step the Trainer takes at this size
        if vocab >= args.scatter_table:
            exact = bare_row("bare step (ScatterAdam)", data, args, False, vocab, scatter=True)
        lazy = bare_row("bare lazy step (lazy Adam)", data, args, True, vocab)
        typed = trainer_row("negrec train as typed", data, [], vocab)
        chosen = trainer_row(
            "negrec train, sparse_embeddings=true",
            data,
            ["train.sparse_embeddings=true"],
            vocab,
        )
        typed["bare_over_trainer"] = exact["sessions_per_s"] / typed["sessions_per_s"]
        chosen["bare_over_trainer"] = lazy["sessions_per_s"] / chosen["sessions_per_s"]
        best = max(exact["sessions_per_s"], lazy["sessions_per_s"])
        typed["best_bare_over_trainer"] = best / typed["sessions_per_s"]
        chosen["best_bare_over_trainer"] = best / chosen["sessions_per_s"]
        bf16 = trainer_row("negrec train, precision=bf16", data, ["train.precision=bf16"], vocab)
        bf16["bf16_over_fp32"] = bf16["sessions_per_s"] / typed["sessions_per_s"]
        rows += [dense, *([exact] if exact is not dense else []), lazy, typed, chosen, bf16]
        if i == 0 and not args.no_full:
            full = ["loss.next_loss=full"]
            blocked = trainer_row("negrec train, full softmax (blocked)", data, full, vocab)
            original = next_track.blocked_softmax_loss
            next_track.blocked_softmax_loss = matrix_softmax_loss  # type: ignore[assignment]
            try:
                matrix = trainer_row(
                    "negrec train, full softmax ([N, V] logits)", data, full, vocab
                )
            finally:
                next_track.blocked_softmax_loss = original
            blocked["speedup_vs_matrix"] = blocked["sessions_per_s"] / matrix["sessions_per_s"]
            rows += [blocked, matrix]
            for prec in ("bf16",):
                sets = [*full, f"train.precision={prec}"]
                b = trainer_row(f"negrec train, full softmax (blocked), {prec}", data, sets, vocab)
                b["speedup_vs_fp32_matrix"] = b["sessions_per_s"] / matrix["sessions_per_s"]
                rows.append(b)
        del data, arrays
        gc.collect()
    if not args.no_study:
        rows += study_rows(args)
    record.write(args.out, "trainer", args, start, {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
