"""The GPU run's evaluation rows (`benchmarks/gpu.py`): full-catalogue evaluation per vocabulary.

For every vocabulary of the run, the paper's model (randomly initialised: the cost of ranking does
not depend on the weights) evaluates ``--eval-sessions`` synthetic test sessions over the whole
catalogue with `negrec_lib.metrics.evaluate` (the encoder's ``dot_table`` path: ranks a block of
rows and columns at a time, scores in float32). Reported per row: seconds (after one untimed
pass, synchronised), test examples per second, and peak GPU memory. A row that fails or runs out
of memory is recorded with its reason; the run goes on.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import train_step as ts

from negrec_lib.config import ModelConfig
from negrec_lib.metrics import evaluate
from negrec_lib.model import SessionEncoder


def evaluation_rows(args: Any, device: torch.device, report: dict[str, Any], save: Any) -> None:
    """One row per vocabulary into ``report["evaluation"]`` (the JSON is saved after each)."""
    rows: list[dict[str, Any]] = report.setdefault("evaluation", [])
    for vocab in args.vocabs:
        row: dict[str, Any] = {"vocab": vocab, "tracks": vocab - ts.N_RESERVED}
        row["sessions"] = args.eval_sessions
        try:
            arrays = ts.synthetic_arrays(args.eval_sessions, vocab, args.seed)
            data = ts.synthetic_session_data(arrays, vocab, device)
            torch.manual_seed(args.seed)
            model = SessionEncoder(ModelConfig(), vocab).to(device)
            evaluate(model, data, "test", batch_size=args.eval_batch)  # warm-up, untimed
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            res = evaluate(model, data, "test", batch_size=args.eval_batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            row.update(
                status="ok",
                seconds=seconds,
                examples=int(res.metrics["n"]),
                examples_per_s=res.metrics["n"] / seconds,
                peak_memory_gb=(
                    torch.cuda.max_memory_allocated(device) / 2**30
                    if device.type == "cuda"
                    else None
                ),
            )
            print(
                f"evaluate {vocab - ts.N_RESERVED:>9,} tracks: {int(res.metrics['n']):,} "
                f"examples in {seconds:.2f} s",
                flush=True,
            )
            del model, data
        except Exception as exc:  # recorded, the run goes on
            row.update(status="failed", reason=f"{type(exc).__name__}: {str(exc)[:300]}")
            print(f"evaluate {vocab - ts.N_RESERVED:>9,} tracks: failed ({row['reason']})")
        rows.append(row)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        save()
