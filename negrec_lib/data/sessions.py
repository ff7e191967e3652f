"""A prepared dataset in memory: tensors on the CPU or the GPU, batches by index.

Every batch is a handful of tensor indexing operations on arrays that already live on the
target device: no per-sample Python, no DataLoader workers, no host-to-device copy per step.
Training batches are whole sessions cut at their training end; evaluation batches are
(prefix, next track) pairs from the validation or test split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import PreparedDataError, file_error
from ..tokens import N_RESERVED, PAD_ID
from .prepared_read import read_prepared
from .skips import is_skipped


@dataclass
class TrainBatch:
    """Whole sessions cut at their training end (positions >= lengths are padding).

    Examples
    --------
    >>> import tempfile
    >>> from negrec_lib.config import DataConfig, SimConfig
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> sim = SimConfig(sessions=100, tracks=50, days=2)
    >>> data = SessionData.load(ensure_dataset(sim, DataConfig(), tmp.name, progress=False))
    >>> batch = next(iter(data.train_batches(8, torch.Generator().manual_seed(0))))
    >>> batch.tracks.shape[0], batch.skipped.dtype, batch.lengths.shape
    (8, torch.bool, torch.Size([8]))
    >>> tmp.cleanup()
    """

    tracks: torch.Tensor  # [B, L] long, left-aligned, PAD after the end
    skipped: torch.Tensor  # [B, L] bool, False on padding
    lengths: torch.Tensor  # [B] long
    rows: torch.Tensor  # [B] long, session row in the dataset


@dataclass
class EvalBatch:
    """Prefixes and the track that followed each (one evaluation example per row).

    Examples
    --------
    >>> import tempfile
    >>> from negrec_lib.config import DataConfig, SimConfig
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> sim = SimConfig(sessions=100, tracks=50, days=2)
    >>> data = SessionData.load(ensure_dataset(sim, DataConfig(), tmp.name, progress=False))
    >>> batch = next(iter(data.eval_batches("test", 16)))
    >>> batch.tracks.shape[0], batch.targets.shape, bool((batch.lengths >= 1).all())
    (16, torch.Size([16]), True)
    >>> tmp.cleanup()
    """

    tracks: torch.Tensor  # [B, L] long, the prefix, PAD after it
    lengths: torch.Tensor  # [B] long, prefix length (>= 1)
    targets: torch.Tensor  # [B] long, the next track (OOV_ID when out of vocabulary)
    target_skipped: torch.Tensor  # [B] bool, the listener skipped the target
    context: torch.Tensor  # [B] long, context-type code of the target row
    position: torch.Tensor  # [B] long, 1-based session position of the target
    rows: torch.Tensor  # [B] long, session row in the dataset


class SessionData:
    """A prepared folder (see `negrec_lib.data.prepare`, its format `prepared_format`) as tensors.

    Attributes
    ----------
    tracks : [N, L] int32 token ids (0 = padding), left-aligned
    skip : [N, L] int8 skip strength 0..3
    context : [N, L] int8 context-type code
    length, day, offset : [N] session length kept, date (days since 1970), tracks cut at the front
    splits : dict of the index arrays ``train_rows``, ``train_end``, ``valid_rows``, ...
    popularity : [V] int64 training counts per token id
    features : [V, F] float32 standardised track features, or None

    Examples
    --------
    >>> import tempfile
    >>> from negrec_lib.config import DataConfig, SimConfig
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> sim = SimConfig(sessions=100, tracks=50, days=2)
    >>> data = SessionData.load(ensure_dataset(sim, DataConfig(), tmp.name, progress=False))
    >>> data.vocab_size > N_RESERVED, data.n_examples("test") > 0
    (True, True)
    >>> sum(b.tracks.shape[0] for b in data.eval_batches("test", 32)) == data.n_examples("test")
    True
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        arrays: dict[str, torch.Tensor],
        splits: dict[str, torch.Tensor],
        popularity: torch.Tensor,
        manifest: dict,
        path: Path | None = None,
        features: torch.Tensor | None = None,
    ) -> None:
        self.tracks = arrays["tracks"]
        self.skip = arrays["skip"]
        self.context = arrays["context"]
        self.length = arrays["length"]
        self.day = arrays["day"]
        self.offset = arrays["offset"]
        self.splits = splits
        self.popularity = popularity
        self.features = features
        self.manifest = manifest
        self.path = path
        self.skip_strength = int(manifest["config"]["skip_strength"])
        self.vocab_size = int(manifest["vocab_size"])

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> SessionData:
        """Load a prepared folder onto ``device``.

        Every file is checked: a missing, truncated or damaged file, a manifest without a
        field, arrays of the wrong shape or type, and indices that point outside the data raise
        `PreparedDataError` naming the file.
        """
        path = Path(path)
        manifest, arrays, splits, popularity, features = read_prepared(path)
        data = cls(
            {k: torch.from_numpy(v) for k, v in arrays.items()},
            {k: torch.from_numpy(v) for k, v in splits.items()},
            torch.from_numpy(popularity),
            manifest,
            path,
            None if features is None else torch.from_numpy(features),
        )
        return data.to(device)

    def to(self, device: str | torch.device) -> SessionData:
        """Move every tensor to ``device`` (in place); returns self."""
        device = torch.device(device)
        for name in ("tracks", "skip", "context", "length", "day", "offset", "popularity"):
            setattr(self, name, getattr(self, name).to(device))
        if self.features is not None:
            self.features = self.features.to(device)
        self.splits = {k: v.to(device) for k, v in self.splits.items()}
        return self

    @property
    def device(self) -> torch.device:
        """Where the tensors live."""
        return self.tracks.device

    @property
    def max_length(self) -> int:
        """Width L of the session arrays."""
        return int(self.tracks.shape[1])

    def __len__(self) -> int:
        return int(self.tracks.shape[0])

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{k[:-5]}={len(v)}" for k, v in self.splits.items() if k.endswith("_rows")
        )
        return (
            f"SessionData({len(self)} sessions, vocab_size={self.vocab_size}, "
            f"max_length={self.max_length}, {sizes}, device={self.device})"
        )

    def n_examples(self, split: str) -> int:
        """Number of training sessions (``train``) or evaluation examples (``valid``/``test``)."""
        return int(len(self.splits[f"{split}_rows"]))

    # ------------------------------------------------------------------ batching
    def train_batches(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
        start: int = 0,
    ) -> Iterator[TrainBatch]:
        """Training sessions in random order, cut at their training end.

        ``start`` skips the first ``start`` batches of the epoch's order (to resume mid-epoch
        with the same ``generator`` state the epoch began with).
        """
        rows_all = self.splits["train_rows"]  # [n]
        end_all = self.splits["train_end"]  # [n]
        n = len(rows_all)
        if shuffle:
            order = torch.randperm(n, generator=generator, device="cpu").to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        cols = torch.arange(self.max_length, device=self.device)  # [L]
        for i in range(start * batch_size, n, batch_size):
            idx = order[i : i + batch_size]  # [B]
            rows, end = rows_all[idx], end_all[idx]
            real = cols[None, :] < end[:, None]  # [B, L]
            tracks = torch.where(real, self.tracks[rows], PAD_ID).long()  # [B, L]
            skipped = real & is_skipped(self.skip[rows], self.skip_strength)  # [B, L]
            yield TrainBatch(tracks, skipped, end.long(), rows)

    def n_train_batches(self, batch_size: int) -> int:
        """Batches per epoch."""
        return -(-self.n_examples("train") // batch_size)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[EvalBatch]:
        """(prefix, next track) examples of ``split`` (``valid`` or ``test``), in a fixed order."""
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        rows_all, pos_all = self.splits[f"{split}_rows"], self.splits[f"{split}_pos"]
        cols = torch.arange(self.max_length, device=self.device)
        for i in range(0, len(rows_all), batch_size):
            rows, t = rows_all[i : i + batch_size], pos_all[i : i + batch_size]  # [B], [B]
            full = self.tracks[rows]  # [B, L]
            tracks = torch.where(cols[None, :] < t[:, None], full, PAD_ID).long()
            at = t[:, None]
            target = full.gather(1, at).squeeze(1).long()  # [B]
            skipped = is_skipped(self.skip[rows].gather(1, at).squeeze(1), self.skip_strength)
            context = self.context[rows].gather(1, at).squeeze(1).long()
            position = t + 1 + self.offset[rows].long()
            yield EvalBatch(tracks, t.long(), target, skipped, context, position.long(), rows)

    # ------------------------------------------------------------------ metadata
    def vocab(self):
        """The vocabulary as a DataFrame (id, track_id, count), read from the folder."""
        import pandas as pd

        if self.path is None:
            raise PreparedDataError("this dataset was not loaded from a folder")
        path = self.path / "vocab.parquet"
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # missing, truncated, not parquet
            raise file_error(
                PreparedDataError, path, exc, "vocabulary file", "prepare the folder again"
            ) from None

    def session_ids(self) -> np.ndarray:
        """The MSSD session id of every row."""
        import pyarrow.parquet as pq

        if self.path is None:
            raise PreparedDataError("this dataset was not loaded from a folder")
        path = self.path / "session_ids.parquet"
        try:
            return pq.read_table(path).column(0).to_numpy(zero_copy_only=False)
        except Exception as exc:  # missing, truncated, not parquet
            raise file_error(
                PreparedDataError, path, exc, "session-id file", "prepare the folder again"
            ) from None

    @property
    def n_tracks(self) -> int:
        """Catalogue size (vocabulary without the reserved ids)."""
        return self.vocab_size - N_RESERVED
