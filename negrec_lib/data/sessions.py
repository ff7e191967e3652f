"""A prepared dataset in memory: tensors on the CPU or the GPU, batches by index.

Every batch is a handful of tensor indexing operations on arrays that already live on the
target device: no per-sample Python, no DataLoader workers, no host-to-device copy per step.
Training batches are whole sessions cut at their training end; evaluation batches are
(prefix, next track) pairs from the validation or test split.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import PreparedDataError, file_error
from ..tokens import N_RESERVED, PAD_ID
from .prepared_format import ARRAY_DTYPES, ARRAY_FILES, FORMAT_VERSION, SPLIT_KEYS

_MANIFEST_FIELDS = {"format_version": int, "vocab_size": int, "config": dict, "sessions_kept": int}


def _read_manifest(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(
            PreparedDataError, path, exc, "manifest", "prepare the folder again"
        ) from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreparedDataError(
            f"not valid JSON ({exc.msg}, column {exc.colno}); the file is "
            "damaged: prepare the folder again",
            path,
            exc.lineno,
        ) from None
    if not isinstance(manifest, dict):
        raise PreparedDataError("expected a JSON object; prepare the folder again", path)
    for key, kind in _MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise PreparedDataError(
                f"field '{key}' is missing or not a {kind.__name__}; the "
                "manifest is damaged: prepare the folder again",
                path,
                column=key,
            )
    if manifest["format_version"] != FORMAT_VERSION:
        raise PreparedDataError(
            f"format_version {manifest['format_version']}, expected "
            f"{FORMAT_VERSION}; prepare the data again",
            path,
        )
    skip = manifest["config"].get("skip_strength")
    if isinstance(skip, bool) or not isinstance(skip, int) or not 1 <= skip <= 3:
        raise PreparedDataError(
            f"config.skip_strength is {skip!r}, expected 1, 2 or 3; the "
            "manifest is damaged: prepare the folder again",
            path,
        )
    if manifest["vocab_size"] < N_RESERVED + 1:
        raise PreparedDataError(
            f"vocab_size {manifest['vocab_size']} leaves no tracks; prepare the folder again",
            path,
            column="vocab_size",
        )
    return manifest


def _load_array(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # truncated, damaged, missing, a folder, an object array
        raise file_error(
            PreparedDataError,
            path,
            exc,
            "prepared array",
            "prepare the folder again (prepare(..., force=True) / negrec prepare --force)",
        ) from None
    if not isinstance(arr, np.ndarray):
        raise PreparedDataError("expected one array (.npy); prepare the folder again", path)
    return arr


def _load_splits(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in SPLIT_KEYS if k not in z.files]
            if missing:
                raise PreparedDataError(
                    f"missing split array(s) {', '.join(missing)}; prepare the folder again", path
                )
            return {k: np.asarray(z[k]) for k in SPLIT_KEYS}
    except PreparedDataError:
        raise
    except Exception as exc:  # BadZipFile, truncated members, CRC errors, missing file
        raise file_error(
            PreparedDataError, path, exc, "split file (splits.npz)", "prepare the folder again"
        ) from None


def _check_arrays(
    path: Path,
    manifest: dict,
    arrays: dict[str, np.ndarray],
    splits: dict[str, np.ndarray],
    popularity: np.ndarray,
    features: np.ndarray | None,
) -> None:
    """Shapes, types and index ranges of a prepared folder's arrays."""

    def bad(name: str, why: str) -> PreparedDataError:
        return PreparedDataError(
            f"{why}; the folder is inconsistent: prepare it again", path / name
        )

    tracks = arrays["tracks"]
    if tracks.ndim != 2 or tracks.shape[1] < 1:
        raise bad(
            "tracks.npy", f"expected a 2-d array [sessions, length], got shape {tracks.shape}"
        )
    n, L = tracks.shape
    vocab = manifest["vocab_size"]
    for key, dtype in ARRAY_DTYPES.items():
        a = arrays[key]
        if a.dtype != dtype:
            raise bad(f"{key}.npy", f"dtype {a.dtype}, expected {np.dtype(dtype)}")
        want = (n, L) if key in ("tracks", "skip", "context") else (n,)
        if a.shape != want:
            raise bad(f"{key}.npy", f"shape {a.shape}, expected {want}")
    if n == 0:
        raise PreparedDataError(
            "the folder holds no sessions (every session was dropped?); "
            "prepare it again with other settings",
            path,
        )
    if int(tracks.min()) < 0 or int(tracks.max()) >= vocab:
        raise bad("tracks.npy", f"a track id lies outside [0, vocab_size={vocab})")
    length = arrays["length"].astype(np.int64)
    if int(length.min()) < 1 or int(length.max()) > L:
        raise bad("length.npy", f"a session length lies outside [1, {L}]")
    if int(arrays["skip"].min()) < 0 or int(arrays["skip"].max()) > 3:
        raise bad("skip.npy", "a skip strength lies outside 0..3")
    if int(arrays["context"].min()) < 0:
        raise bad("context.npy", "a context code is negative")
    for key, value in splits.items():
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise bad("splits.npz", f"{key}: expected a 1-d integer array")
    for part, pos in (("train", "train_end"), ("valid", "valid_pos"), ("test", "test_pos")):
        rows, at = splits[f"{part}_rows"], splits[pos]
        if len(rows) != len(at):
            raise bad("splits.npz", f"{part}_rows and {pos} differ in length")
        if len(rows) == 0:
            raise PreparedDataError(
                f"the {part} split is empty; prepare the folder again with "
                "more data or other split settings",
                path / "splits.npz",
            )
        if int(rows.min()) < 0 or int(rows.max()) >= n:
            raise bad("splits.npz", f"{part}_rows points outside the {n} sessions")
        # train_end: the training input's length (1..length); *_pos: the target's 0-based
        # position, after a prefix of at least one track (1..length - 1)
        hi = length[rows] - (0 if part == "train" else 1)
        if int((at < 1).sum()) or int((at > hi).sum()):
            raise bad("splits.npz", f"{pos} lies outside the sessions it indexes")
    if popularity.shape != (vocab,) or popularity.dtype.kind not in "iu":
        raise bad(
            "popularity.npy",
            f"expected an integer array of shape ({vocab},), got "
            f"{popularity.dtype} {popularity.shape}",
        )
    if features is not None and (
        features.ndim != 2
        or features.shape[0] != vocab
        or features.dtype != np.float32
        or not np.isfinite(features).all()
    ):
        raise bad(
            "features.npy",
            f"expected finite float32 [{vocab}, F], got {features.dtype} {features.shape}",
        )


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
        man_path = path / "manifest.json"
        if not path.is_dir():
            raise PreparedDataError(
                "no such prepared folder"
                if not path.exists()
                else "is a file, expected a prepared folder (written by prepare / negrec prepare)",
                path,
            )
        if not man_path.is_file():
            raise PreparedDataError(
                "no manifest.json: not a complete prepared folder (written "
                "by prepare / negrec prepare); prepare it again",
                path,
            )
        manifest = _read_manifest(man_path)
        arrays = {k: _load_array(path / f"{k}.npy") for k in ARRAY_FILES}
        splits = _load_splits(path / "splits.npz")
        popularity = _load_array(path / "popularity.npy")
        feat_file = path / "features.npy"
        features = _load_array(feat_file) if feat_file.exists() else None
        _check_arrays(path, manifest, arrays, splits, popularity, features)
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
            skipped = real & (self.skip[rows] >= self.skip_strength)  # [B, L]
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
            skipped = self.skip[rows].gather(1, at).squeeze(1) >= self.skip_strength
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
