"""The vocabulary of a prepared folder: track ids in decreasing frequency, after the reserved ids.

The counts come from every session for the ``paper`` split (as the paper: every track of the
sample) and from the training days only for ``by_day`` (a track first heard on a test day is
out-of-vocabulary, as it would be in production). Tracks seen fewer than ``min_count`` times
become `OOV_ID`; with ``oov="drop_session"`` the sessions that contain one are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..config import DataConfig
from ..tokens import N_RESERVED, OOV_ID, PAD_ID


def _train_mask(a: dict[str, np.ndarray], split: dict[str, np.ndarray]) -> np.ndarray:
    """[N, L] True at the positions the model sees during training."""
    L = a["tracks"].shape[1]
    end = np.zeros(len(a["length"]), np.int64)
    end[split["train_rows"]] = split["train_end"]
    return np.arange(L)[None, :] < end[:, None]


@dataclass
class Vocabulary:
    """The vocabulary and the tracks renumbered into it."""

    tracks: np.ndarray  # int32 [N, L] the sessions' tracks in vocabulary ids
    names: pa.Array  # string [n_tracks] track id of each vocabulary track, in id order
    counts: np.ndarray  # int64 [n_tracks] how often each was counted
    popularity: np.ndarray  # int64 [V] plays of each id at training positions (0: reserved)

    @property
    def size(self) -> int:
        """V: the vocabulary tracks and the reserved ids."""
        return len(self.counts) + N_RESERVED


def vocabulary(
    a: dict[str, np.ndarray], split: dict, cfg: DataConfig, names: pa.Array
) -> Vocabulary:
    """The frequency-ordered vocabulary of the kept sessions `a`, whose tracks are first-seen
    ids + 1 into `names` (0: padding)."""
    n_names = len(names)
    tracks = a["tracks"]  # [N, L] first-seen ids + 1
    counted = tracks if cfg.split == "paper" else tracks[split["train_rows"]]
    # padding (0) is counted too, and cut off: cheaper than selecting the real positions
    counts = np.bincount(counted.ravel(), minlength=n_names + 1)[1:]  # [n_names] by first seen
    order = np.argsort(-counts, kind="stable")  # most frequent first, ties by first seen
    in_vocab = counts[order] >= max(cfg.min_count, 1)
    order = order[in_vocab]
    old_to_new = np.full(n_names + 1, OOV_ID, np.int32)
    old_to_new[PAD_ID] = PAD_ID
    old_to_new[order + 1] = np.arange(len(order), dtype=np.int32) + N_RESERVED
    vocab_counts = counts[order]
    new_tracks = old_to_new[tracks]
    train = _train_mask(a, split)
    popularity = np.bincount(new_tracks[train], minlength=len(order) + N_RESERVED)
    popularity[:N_RESERVED] = 0
    return Vocabulary(
        new_tracks,
        names.take(pa.array(order, pa.int64())),
        vocab_counts,
        popularity.astype(np.int64),
    )


def drop_oov_sessions(
    a: dict[str, np.ndarray], session_ids: pa.Array, split: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], pa.Array, int]:
    """Drop the sessions with an out-of-vocabulary track: (the arrays and session ids left, how
    many were dropped); `split`'s row indices are renumbered in place."""
    has_oov = (a["tracks"] == OOV_ID).any(1)
    if not has_oov.any():
        return a, session_ids, 0
    keep_rows = np.flatnonzero(~has_oov)
    remap = np.full(len(has_oov), -1, np.int64)
    remap[keep_rows] = np.arange(len(keep_rows))
    a = {k: v[keep_rows] for k, v in a.items()}
    session_ids = session_ids.take(pa.array(keep_rows, pa.int64()))
    for part, pos in (("train", "train_end"), ("valid", "valid_pos"), ("test", "test_pos")):
        r = remap[split[f"{part}_rows"]]
        split[f"{part}_rows"], split[pos] = r[r >= 0], split[pos][r >= 0]
    return a, session_ids, int(has_oov.sum())
