"""Full-catalogue evaluation: ranks a block of columns at a time against the [B, V] score matrix.

    python benchmarks/evaluate.py          # 20 k test sessions over 89 k tracks (~2 min, CPU)

`negrec_lib.metrics.evaluate` ranks an encoder's targets with `table_target_ranks` (the model's
``dot_table``: scores a block of rows and columns at a time, compared and counted while in the
cache), and the encoder computes its last layer only at the scored position
(``next_track_hidden``). The row ``[B, V] matrix`` is evaluation as it was before both: the
hidden states from the full forward pass (every layer at every position), then ``score`` writes
the [batch, V] matrix and `target_ranks` compares and sums it, the path every `Scorer` without
``dot_table`` still takes (the model is wrapped so that it hides ``dot_table``). Both evaluate
the same randomly initialised paper model (d 128) on the same synthetic sessions
(`train_step.synthetic_arrays`), in one process, alternating, ``--repeats`` times each (the
median is reported), and their ranks are compared example by example: the hidden states agree
to float32 rounding, so a rank may move by one where two tracks' scores nearly tie.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import record  # noqa: E402
import torch  # noqa: E402
import train_step as ts  # noqa: E402

from negrec_lib.config import ModelConfig  # noqa: E402
from negrec_lib.metrics import evaluate  # noqa: E402
from negrec_lib.model import SessionEncoder  # noqa: E402


class MatrixScorer:
    """Evaluation as it was: the encoder without ``dot_table`` (`evaluate` takes the [B, V]
    score-matrix path), and its hidden states from the full forward pass."""

    def __init__(self, model: SessionEncoder) -> None:
        self.model = model

    @property
    def training(self) -> bool:
        return self.model.training

    def next_track_hidden(self, tracks: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # as evaluate did before: every layer at every position, then the last real one
        rows = torch.arange(tracks.shape[0])
        return self.model(tracks).hidden[rows, (lengths - 1).clamp(min=0)]  # causal model

    def score(self, hidden: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.score(hidden, candidates)

    def eval(self) -> MatrixScorer:
        self.model.eval()
        return self

    def train(self, mode: bool = True) -> MatrixScorer:
        self.model.train(mode)
        return self

    def parameters(self):
        return self.model.parameters()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20_000, help="test examples")
    ap.add_argument("--vocab", type=int, default=89_003, help="ids incl. the 3 reserved ones")
    ap.add_argument("--batch-size", type=int, default=1024, help="evaluate's batch_size")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_evaluate.json")
    args = ap.parse_args(argv)
    start = record.started()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    data = ts.synthetic_session_data(
        ts.synthetic_arrays(args.sessions, args.vocab, args.seed), args.vocab, torch.device("cpu")
    )
    torch.manual_seed(args.seed)
    model = SessionEncoder(ModelConfig(), args.vocab)
    variants: dict[str, Any] = {"[B, V] matrix": MatrixScorer(model), "blocked": model}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    ranks: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, scorer in variants.items():
            t0 = time.perf_counter()
            res = evaluate(scorer, data, "test", batch_size=args.batch_size)
            seconds[name].append(time.perf_counter() - t0)
            ranks[name] = np.asarray(res.ranks)
            print(f"  {name:14} {seconds[name][-1]:6.2f} s", flush=True)
    same = bool(np.array_equal(ranks["[B, V] matrix"], ranks["blocked"]))
    differ = int((ranks["[B, V] matrix"] != ranks["blocked"]).sum())
    med = {name: statistics.median(s) for name, s in seconds.items()}
    speedup = med["[B, V] matrix"] / med["blocked"]
    print(f"median: {med}; speedup {speedup:.2f}x; ranks identical: {same} ({differ} differ)")
    record.write(
        args.out,
        "evaluate",
        args,
        start,
        {
            "rows": [
                {"variant": name, "median_seconds": med[name], "seconds": seconds[name]}
                for name in variants
            ],
            "speedup_blocked_vs_matrix": speedup,
            "ranks_identical": same,
            "ranks_differing": differ,
            "examples": int(ranks["blocked"].size),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
