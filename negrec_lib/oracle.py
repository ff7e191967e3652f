"""The best any recommender could do on simulated data: rank by the true next-track distribution.

The simulator knows, for every session, the listener's latent taste, the context and the
previous track, and from them the exact probability of every next track
(`SimulationTruth.next_track_probs`). Ranking the catalogue by that probability maximises the
expected hit rate at every cut-off, so its HR@K is an upper bound for any model that sees the
same information (and more: the model never sees the latent taste). Evaluated exactly like a
model: the same examples, the same vocabulary (out-of-vocabulary targets are misses for both),
ties counted against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .data.sessions import SessionData
from .errors import PreparedDataError
from .metrics import DEFAULT_KS, EvalResult, RankAccumulator, target_ranks
from .sim import SimulationTruth
from .tokens import N_RESERVED, OOV_ID


def load_truth(data: SessionData) -> SimulationTruth:
    """The simulator's ground truth of a prepared folder made from simulated data."""
    root = data.manifest.get("ground_truth")
    if not root:
        raise PreparedDataError(
            f"{data.path}: not prepared from simulated data (no ground "
            "truth); the oracle exists only for the simulator's output"
        )
    path = Path(root)
    if not path.is_absolute() and data.path is not None:  # relative to the prepared folder
        path = Path(data.path) / path
    return SimulationTruth.load(path.parent)


def oracle_evaluate(
    data: SessionData,
    split: str = "test",
    truth: SimulationTruth | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 512,
) -> EvalResult:
    """Rank every example of ``split`` by the true next-track probability (see module doc).

    An example whose previous track is out of the vocabulary (possible with the by-day split)
    has no known latent identity here; it is scored as if it had no previous track, and the
    number of such examples is reported as ``metrics["oracle_approx"]``.
    """
    truth = truth or load_truth(data)
    vocab = data.vocab()
    latent = truth.track_index(vocab["track_id"].tolist())  # [n_tracks]
    lat_of_id = np.full(data.vocab_size, -1, np.int64)
    lat_of_id[vocab["id"].to_numpy()] = latent
    sess_lat = truth.session_index(list(data.session_ids()))  # [N]
    acc = RankAccumulator(ks)
    approx = 0
    for b in data.eval_batches(split, batch_size):
        rows = b.rows.cpu().numpy()
        prev_id = b.tracks.gather(1, (b.lengths - 1)[:, None]).squeeze(1).cpu().numpy()
        prev = lat_of_id[prev_id]  # -1 for OOV
        approx += int((prev_id == OOV_ID).sum())
        probs = truth.next_track_probs(sess_lat[rows], prev, b.position.cpu().numpy())
        scores = torch.full((len(rows), data.vocab_size), float("-inf"))
        scores[:, N_RESERVED:] = torch.from_numpy(probs[:, latent])  # [B, V] in vocab order
        ranks = target_ranks(scores, b.targets.cpu())
        acc.add(
            ranks,
            context=b.context.cpu(),
            position=b.position.cpu(),
            target_skipped=b.target_skipped.cpu(),
            rows=b.rows.cpu(),
        )
    return acc.result("full", split, extra={"oracle_approx": approx})


def popularity_evaluate(
    data: SessionData, split: str = "test", ks: Sequence[int] = DEFAULT_KS, batch_size: int = 1024
) -> EvalResult:
    """The popularity baseline: rank every track by its training count, the same for everyone."""
    acc = RankAccumulator(ks)
    pop = data.popularity.float().cpu()
    pop[:N_RESERVED] = float("-inf")
    for b in data.eval_batches(split, batch_size):
        scores = pop.expand(len(b.targets), -1)
        acc.add(
            target_ranks(scores, b.targets.cpu()),
            context=b.context.cpu(),
            position=b.position.cpu(),
            target_skipped=b.target_skipped.cpu(),
            rows=b.rows.cpu(),
        )
    return acc.result("full", split)
