"""Track features for a prepared folder: standardised, one row per vocabulary id.

MSSD's `tf_*` files give each track numeric features and a mode; each numeric column (and
``mode_major``) is standardised over the feature rows, and the rows are aligned with the
vocabulary (reserved ids and tracks without features: zeros).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import MSSDFormatError, NegrecError
from ..tokens import N_RESERVED
from . import schema
from .mssd import ReadReport, find_tf_files, read_track_features


def track_features(
    input_path: Path, vocab_names: pa.Array, vocab_size: int, on_error: str = "raise"
) -> tuple[np.ndarray | None, dict]:
    """Standardised track features aligned with the vocabulary, when tf files exist.

    Looked for in a folder input (and its ``track_features/``), or, for a single log file in an
    MSSD layout (``.../training_set/log_*.csv``), in the dataset root next to it. With
    ``on_error="drop"`` malformed feature rows are dropped and counted (``rows_dropped``), and
    a feature file that cannot be read at all disables the features with a warning.
    """
    where = (
        input_path
        if input_path.is_dir()
        else (input_path.parent.parent if input_path.parent.name == "training_set" else None)
    )
    if where is None:
        return None, {"available": False}
    try:
        tf_files = find_tf_files(where)
    except MSSDFormatError:
        return None, {"available": False}
    import pandas as pd

    tf_report = ReadReport()
    try:
        frames = [read_track_features(f, on_error=on_error, report=tf_report) for f in tf_files]
        tf = pd.concat(frames, ignore_index=True)
        dup = tf["track_id"].duplicated(keep="first")  # across files
        if dup.any():
            if on_error == "raise":
                raise MSSDFormatError(
                    f"track_id {tf['track_id'][dup].iloc[0]!r} appears in "
                    "more than one track-feature file",
                    tf_files[-1],
                    column="track_id",
                )
            tf_report.sessions_dropped["duplicate_track_id"] += int(dup.sum())
            tf = tf[~dup]
    except NegrecError as exc:
        if on_error == "raise":
            raise
        # features are optional: under on_error="drop" an unreadable file disables them
        warnings.warn(f"track features disabled: {exc}", stacklevel=3)
        return None, {"available": False, "error": str(exc)}
    tf = tf.set_index("track_id")
    if len(tf) == 0:
        warnings.warn(
            f"track features disabled: no valid row in {len(tf_files)} feature file(s)",
            stacklevel=3,
        )
        return None, {
            "available": False,
            "error": "no valid feature row",
            "rows_dropped": {k: int(v) for k, v in tf_report.sessions_dropped.items()},
        }
    cols = [c for c in schema.TF_NUMERIC_COLUMNS]
    x = tf[cols].to_numpy(np.float64)
    x = np.column_stack([x, (tf["mode"].astype(str) == "major").to_numpy(np.float64)])
    mu, sd = x.mean(0), x.std(0)
    x = (x - mu) / np.where(sd > 0, sd, 1.0)
    feats = np.zeros((vocab_size, x.shape[1]), np.float32)
    pos = tf.index.get_indexer(pd.Index(vocab_names.to_pylist()))  # tf row of each vocab track
    have = pos >= 0
    feats[N_RESERVED:][have] = x[pos[have]]
    return feats, {
        "available": True,
        "files": [str(f) for f in tf_files],
        "columns": cols + ["mode_major"],
        "missing": int((~have).sum()),
        "rows_dropped": {k: int(v) for k, v in tf_report.sessions_dropped.items()},
    }
