"""The prepared folder's format: what `prepare` writes and `SessionData.load` reads.

A prepared folder holds ``manifest.json`` (``format_version`` first among what the reader
checks), one ``<name>.npy`` per entry of `ARRAY_FILES` (one row per kept session, with the
dtype of `ARRAY_DTYPES`; ``tracks``, ``skip`` and ``context`` are [N, max_length], the rest
[N]), ``splits.npz`` with the arrays `SPLIT_KEYS`, ``popularity.npy``, ``vocab.parquet``,
``session_ids.parquet`` and, when track features were found, ``features.npy``.
"""

from __future__ import annotations

import numpy as np

FORMAT_VERSION = 1
ARRAY_FILES = ("tracks", "skip", "context", "length", "day", "offset")
ARRAY_DTYPES = {
    "tracks": np.int32,
    "skip": np.int8,
    "context": np.int8,
    "length": np.int16,
    "day": np.int32,
    "offset": np.int16,
}
SPLIT_KEYS = ("train_rows", "train_end", "valid_rows", "valid_pos", "test_rows", "test_pos")
