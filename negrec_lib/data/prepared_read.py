"""Reading a prepared folder from disk, every file checked (`SessionData.load` calls it).

A missing, truncated or damaged file, a manifest without a field, arrays of the wrong shape or
type, and indices that point outside the data raise `PreparedDataError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PreparedDataError, file_error
from ..tokens import N_RESERVED
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


def read_prepared(
    path: str | Path,
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """A prepared folder's manifest, arrays, splits, popularity and features (or None), checked.

    Examples
    --------
    >>> from negrec_lib.errors import PreparedDataError
    >>> try:
    ...     read_prepared("no/such/folder")
    ... except PreparedDataError as exc:
    ...     print(exc)
    no/such/folder: no such prepared folder
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
    return manifest, arrays, splits, popularity, features
