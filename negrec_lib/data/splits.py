"""Pass 2 of preparation: the train / validation / test split of the kept sessions.

``paper``: leave-last-out inside every session (the last track is the test target, the
second-last the validation target, the rest the training input). ``by_day``: whole sessions
of earlier days train; the last ``valid_days`` before the last ``test_days`` validate, and
those test. The split is row indices per part (`prepared_format.SPLIT_KEYS`).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from ..config import DataConfig
from ..errors import ConfigError


def split_sessions(a: dict[str, np.ndarray], cfg: DataConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Row indices of the train / valid / test parts, and a description of the split."""
    n = len(a["length"])
    length = a["length"].astype(np.int64)
    rows = np.arange(n, dtype=np.int64)
    if cfg.split == "paper":
        split = {
            "train_rows": rows,
            "train_end": length - 2,
            "valid_rows": rows,
            "valid_pos": length - 2,
            "test_rows": rows,
            "test_pos": length - 1,
        }
        info = {"kind": "paper"}
    elif cfg.split == "by_day":
        days = np.unique(a["day"])
        need = cfg.valid_days + cfg.test_days + 1
        if len(days) < need:
            raise ConfigError(
                f"data.split=by_day needs at least {need} distinct days "
                f"(valid_days={cfg.valid_days}, test_days={cfg.test_days}, and one "
                f"to train on); the data has {len(days)}"
            )
        test_from = days[-cfg.test_days]
        valid_from = days[-cfg.test_days - cfg.valid_days]
        train = rows[a["day"] < valid_from]
        valid = rows[(a["day"] >= valid_from) & (a["day"] < test_from)]
        test = rows[a["day"] >= test_from]

        def targets(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if cfg.eval_targets == "last":
                return part, length[part] - 1
            reps = length[part] - 1  # targets at 1..len-1
            r = np.repeat(part, reps)
            first = np.cumsum(np.concatenate([[0], reps[:-1]]))
            t = np.arange(reps.sum()) - np.repeat(first, reps) + 1
            return r, t

        vr, vp = targets(valid)
        tr, tp = targets(test)
        split = {
            "train_rows": train,
            "train_end": length[train],
            "valid_rows": vr,
            "valid_pos": vp,
            "test_rows": tr,
            "test_pos": tp,
        }
        info = {
            "kind": "by_day",
            "train_days": [_day(d) for d in days if d < valid_from],
            "valid_days": [_day(d) for d in days if valid_from <= d < test_from],
            "test_days": [_day(d) for d in days if d >= test_from],
        }
    else:  # pragma: no cover - DataConfig validation rejects other values
        raise ConfigError(f"data.split: unknown split {cfg.split!r}")
    return {k: np.asarray(v, np.int64) for k, v in split.items()}, info


def _day(d: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(d))).isoformat()
