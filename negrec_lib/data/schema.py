"""The MSSD file schema: column names, their order, and the allowed values.

Shared by the reader (`mssd/`), the simulator (`sim/`) and preparation (`prepare.py`),
so the three can never disagree about the format. See book/paper.md section 6 for the meaning of
every column.
"""

from __future__ import annotations

# Session-log columns, in file order.
LOG_COLUMNS: tuple[str, ...] = (
    "session_id",
    "session_position",
    "session_length",
    "track_id_clean",
    "skip_1",
    "skip_2",
    "skip_3",
    "not_skipped",
    "context_switch",
    "no_pause_before_play",
    "short_pause_before_play",
    "long_pause_before_play",
    "hist_user_behavior_n_seekfwd",
    "hist_user_behavior_n_seekback",
    "hist_user_behavior_is_shuffle",
    "hour_of_day",
    "date",
    "premium",
    "context_type",
    "hist_user_behavior_reason_start",
    "hist_user_behavior_reason_end",
)

# Boolean columns spelled true/false (or True/False) in the files.
LOG_BOOL_COLUMNS: tuple[str, ...] = (
    "skip_1",
    "skip_2",
    "skip_3",
    "not_skipped",
    "hist_user_behavior_is_shuffle",
    "premium",
)
# 0/1 flag columns (booleans are accepted there too).
LOG_FLAG_COLUMNS: tuple[str, ...] = (
    "context_switch",
    "no_pause_before_play",
    "short_pause_before_play",
    "long_pause_before_play",
)
# Non-negative integer columns, with their inclusive bounds (None = unbounded above).
LOG_INT_COLUMNS: dict[str, tuple[int, int | None]] = {
    "session_position": (1, None),
    "session_length": (1, None),
    "hist_user_behavior_n_seekfwd": (0, None),
    "hist_user_behavior_n_seekback": (0, None),
    "hour_of_day": (0, 23),
}

# Categorical columns: the code of a value is its index in the tuple (stable across versions:
# append only, never reorder).
CONTEXT_TYPES: tuple[str, ...] = (
    "editorial_playlist",
    "user_collection",
    "charts",
    "radio",
    "catalog",
    "personalized_playlist",
)
REASONS_START: tuple[str, ...] = (
    "trackdone",
    "fwdbtn",
    "backbtn",
    "clickrow",
    "playbtn",
    "appload",
    "remote",
    "trackerror",
    "popup",
    "clickside",
    "uriopen",
    "endplay",
)
REASONS_END: tuple[str, ...] = (
    "trackdone",
    "fwdbtn",
    "backbtn",
    "endplay",
    "logout",
    "remote",
    "trackerror",
    "appload",
    "clickside",
    "popup",
    "uriopen",
    "clickrow",
)
LOG_CATEGORICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "context_type": CONTEXT_TYPES,
    "hist_user_behavior_reason_start": REASONS_START,
    "hist_user_behavior_reason_end": REASONS_END,
}

# Accepted spellings of booleans (flag columns also accept these).
TRUE_SPELLINGS: tuple[str, ...] = ("true", "True", "TRUE", "1")
FALSE_SPELLINGS: tuple[str, ...] = ("false", "False", "FALSE", "0")

# Track-feature columns, in file order.
TF_COLUMNS: tuple[str, ...] = (
    "track_id",
    "duration",
    "release_year",
    "us_popularity_estimate",
    "acousticness",
    "beat_strength",
    "bounciness",
    "danceability",
    "dyn_range_mean",
    "energy",
    "flatness",
    "instrumentalness",
    "key",
    "liveness",
    "loudness",
    "mechanism",
    "mode",
    "organism",
    "speechiness",
    "tempo",
    "time_signature",
    "valence",
    *(f"acoustic_vector_{i}" for i in range(8)),
)
TF_MODES: tuple[str, ...] = ("major", "minor")
# Numeric track-feature columns (everything but track_id and mode).
TF_NUMERIC_COLUMNS: tuple[str, ...] = tuple(c for c in TF_COLUMNS if c not in ("track_id", "mode"))

# Skip strength = skip_1 + skip_2 + skip_3 (the flags are cumulative), so:
#   3 = skipped very early (skip_1), 2 = skipped early (skip_2, the paper's label),
#   1 = skipped late (skip_3 only), 0 = not skipped.
MAX_SKIP_STRENGTH = 3
