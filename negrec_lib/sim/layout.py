"""How the simulated sessions are laid out as MSSD files: days, file names, session and track ids.

Sessions are spread evenly over ``days`` days from `START_DATE`; a day with more than
`MAX_SESSIONS_PER_FILE` sessions is cut into several files, as in MSSD. Ids are version-4 UUIDs
drawn from the random streams: ``t_<uuid>`` for tracks, ``<k>_<uuid>`` for sessions (``k`` the
file index within the day). The writer (`writer.py`) and the ground truth (`truth.py`), which
maps ids back to latent indices, both read this module.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

START_DATE = dt.date(2018, 7, 15)
MAX_SESSIONS_PER_FILE = 200_000  # MSSD files hold about 196 K sessions; at most 10 files a day
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def file_plan(n: int, days: int) -> list[tuple[int, int, int, int]]:
    """(day, file index k, first session, end session) of every log file, in session order.

    Examples
    --------
    >>> file_plan(10, days=3)
    [(0, 0, 0, 4), (1, 0, 4, 7), (2, 0, 7, 10)]
    """
    plan, start = [], 0
    for day in range(days):
        size = n // days + (day < n % days)
        n_files = min(10, math.ceil(size / MAX_SESSIONS_PER_FILE))
        for k in range(n_files):
            plan.append((day, k, start + size * k // n_files, start + size * (k + 1) // n_files))
        start += size
    return plan


def log_name(day: int, k: int) -> str:
    """The MSSD name of log file ``k`` of day ``day``.

    Examples
    --------
    >>> log_name(1, 0)
    'log_0_20180716_000000000000.csv'
    """
    return f"log_{k}_{(START_DATE + dt.timedelta(days=day)).strftime('%Y%m%d')}_000000000000.csv"


def uuid_bytes(raw: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    """[n, 16] random bytes -> [n, p + 36] ASCII of ``prefix`` + a version-4 UUID.

    Examples
    --------
    >>> raw = np.arange(16, dtype=np.uint8)[None]
    >>> uuid_bytes(raw, np.frombuffer(b"t_", np.uint8)[None]).tobytes().decode()
    't_00010203-0405-4607-8809-0a0b0c0d0e0f'
    """
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexd = np.empty((len(raw), 32), np.uint8)
    hexd[:, 0::2], hexd[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    p = prefix.shape[1]
    out = np.full((len(raw), p + 36), ord("-"), np.uint8)
    out[:, :p] = prefix
    for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)):
        shift = p + a + (a > 0) + (a > 8) + (a > 12) + (a > 16)
        out[:, shift : shift + b - a] = hexd[:, a:b]
    return out


def uuid_key(raw: np.ndarray) -> np.ndarray:
    """The first 64 bits of the UUID (after the version bits are set) as uint64.

    Examples
    --------
    >>> f"{int(uuid_key(np.arange(16, dtype=np.uint8)[None])[0]):016x}"   # its 16 hex digits
    '0001020304054607'
    """
    first = raw[:, :8].copy()
    first[:, 6] = (first[:, 6] & 0x0F) | 0x40
    return np.ascontiguousarray(first).view(">u8").ravel().astype(np.uint64)
