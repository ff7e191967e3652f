"""What MSSD-format listening sessions look like: the data chapter's statistics.

Every function takes the DataFrame that `negrec_lib.data.mssd.read_log` returns (one row per
played track, MSSD's column names), so the same calls describe simulated and real logs; the
figures of `negrec_lib.viz.data` draw these tables.

`marginals` compares a log with the statistics measured on two small real MSSD samples
(book/paper.md section 6, kept here as `REAL_MARGINALS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Reference",
    "REAL_MARGINALS",
    "POINT_TOLERANCE",
    "LATE_POSITIONS",
    "CONTEXT",
    "R_START",
    "R_END",
    "START",
    "END",
    "session_rows",
    "skip_strength",
    "marginals",
    "skip_rate_by_fit",
    "play_counts",
    "top_share",
    "manifest_summary",
]

MSSD_MAX_LENGTH = 20  # MSSD sessions have 10-20 tracks
POINT_TOLERANCE = 0.03  # a value stated as "about v" is read as [v - 0.03, v + 0.03]
LATE_POSITIONS = (16, 20)  # "late in the session" for the skip_2-by-position statistic
START, END = "hist_user_behavior_reason_start", "hist_user_behavior_reason_end"


# ---------------------------------------------------------------------------------- references
@dataclass(frozen=True)
class Reference:
    """One statistic of the real MSSD samples: its range and how book/paper.md states it."""

    group: str
    statistic: str
    low: float
    high: float
    text: str


def _fmt(x: float) -> str:
    """Two decimals, or three where the value needs them (0.035)."""
    return f"{x:.2f}" if round(x, 2) == x else f"{x:.3f}"


def _span(group: str, statistic: str, low: float, high: float) -> Reference:
    return Reference(group, statistic, low, high, f"{_fmt(low)}-{_fmt(high)}")


def _about(group: str, statistic: str, value: float) -> Reference:
    return Reference(
        group,
        statistic,
        max(value - POINT_TOLERANCE, 0.0),
        value + POINT_TOLERANCE,
        f"~{_fmt(value)}",
    )


CONTEXT, R_START, R_END = "context share of sessions", "reason_start share", "reason_end share"
REAL_MARGINALS: tuple[Reference, ...] = (
    _span("skips", "skip_1 rate", 0.34, 0.36),
    _span("skips", "skip_2 rate", 0.41, 0.49),
    _span("skips", "skip_3 rate", 0.51, 0.65),
    _span("skips", "not_skipped rate", 0.34, 0.45),
    _span("skips", "not_skipped = not skip_3", 0.95, 0.99),
    _span("skips by position", "skip_2 rate at position 1", 0.30, 0.40),
    _span("skips by position", "skip_2 rate at positions 16-20", 0.50, 0.60),
    _span("sessions", "shuffle rate", 0.28, 0.32),
    _span("sessions", "premium rate", 0.82, 0.90),
    _span("sessions", "context_switch rate", 0.035, 0.046),
    _about("sessions", "share of sessions with 20 tracks", 0.45),
    _about(CONTEXT, "user_collection", 0.36),
    _about(CONTEXT, "editorial_playlist", 0.24),
    _about(CONTEXT, "catalog", 0.20),
    _about(CONTEXT, "radio", 0.14),
    _about(CONTEXT, "personalized_playlist", 0.05),
    _about(CONTEXT, "charts", 0.02),
    _span(R_START, "fwdbtn", 0.40, 0.47),
    _span(R_START, "trackdone", 0.35, 0.43),
    _span(R_START, "clickrow", 0.08, 0.10),
    _about(R_START, "backbtn", 0.07),
    _span(R_END, "fwdbtn", 0.39, 0.49),
    _span(R_END, "trackdone", 0.34, 0.45),
    _span(R_END, "endplay", 0.08, 0.09),
    _span(R_END, "backbtn", 0.07, 0.08),
)
"""book/paper.md section 6, one entry per statistic; rates are shares of rows unless named."""


# ---------------------------------------------------------------------------------- statistics
def skip_strength(df: pd.DataFrame) -> pd.Series:
    """Skip strength skip_1 + skip_2 + skip_3 of every row (0 = played ... 3 = skipped at once)."""
    s = df["skip_1"].astype("int8") + df["skip_2"].astype("int8") + df["skip_3"].astype("int8")
    return s.rename("skip_strength")


def session_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The first row of every session (session-level columns are constant within a session)."""
    return df.drop_duplicates("session_id", keep="first")


def _simulated_value(df: pd.DataFrame, ref: Reference) -> float:
    pos = df["session_position"]
    if ref.group == "skips":
        if ref.statistic == "not_skipped = not skip_3":
            return float((df["not_skipped"].to_numpy(bool) != df["skip_3"].to_numpy(bool)).mean())
        return float(df[ref.statistic.removesuffix(" rate")].mean())
    if ref.group == "skips by position":
        lo, hi = (1, 1) if ref.statistic.endswith("position 1") else LATE_POSITIONS
        return float(df.loc[pos.between(lo, hi), "skip_2"].mean())
    if ref.group == "sessions":
        column = {
            "shuffle rate": "hist_user_behavior_is_shuffle",
            "premium rate": "premium",
            "context_switch rate": "context_switch",
        }.get(ref.statistic)
        if column is not None:
            return float(df[column].mean())
        return float((session_rows(df)["session_length"] == MSSD_MAX_LENGTH).mean())
    if ref.group == CONTEXT:
        return float((session_rows(df)["context_type"].astype(str) == ref.statistic).mean())
    column = START if ref.group == R_START else END
    return float((df[column].astype(str) == ref.statistic).mean())


def marginals(df: pd.DataFrame, references: tuple[Reference, ...] = REAL_MARGINALS) -> pd.DataFrame:
    """The statistics of book/paper.md section 6 computed on ``df``, beside the real ranges.

    Returns
    -------
    DataFrame with one row per statistic: group, statistic, simulated (the value in ``df``),
    real (the range as text; "~v" where book/paper.md says "about v"), low, high (the range it
    is compared with; a value stated as "about v" becomes v +- POINT_TOLERANCE) and inside
    (low <= simulated <= high, with
    simulated rounded to three decimals, the precision the book prints).
    """
    rows = []
    for ref in references:
        value = _simulated_value(df, ref)
        rows.append(
            {
                "group": ref.group,
                "statistic": ref.statistic,
                "simulated": value,
                "real": ref.text,
                "low": ref.low,
                "high": ref.high,
                "inside": bool(ref.low <= round(value, 3) <= ref.high),
            }
        )
    return pd.DataFrame(rows)


def skip_rate_by_fit(fit: np.ndarray, skipped: np.ndarray, bins: int = 20) -> pd.DataFrame:
    """Skip rate in ``bins`` equal-count bins of the listener-track fit.

    Returns a DataFrame with one row per bin, worst fit first: fit (mean fit in the bin),
    percentile (mean percentile rank of the fit in the bin, 0-100), skip_rate, rows.
    """
    fit = np.asarray(fit, np.float64)
    frame = pd.DataFrame(
        {
            "fit": fit,
            "skipped": np.asarray(skipped, np.float64),
            "percentile": 100.0
            * (pd.Series(fit).rank(method="average").to_numpy() - 0.5)
            / max(len(fit), 1),
        }
    )
    frame["bin"] = pd.qcut(frame["fit"], bins, labels=False, duplicates="drop")
    out = frame.groupby("bin").agg(
        fit=("fit", "mean"),
        percentile=("percentile", "mean"),
        skip_rate=("skipped", "mean"),
        rows=("skipped", "size"),
    )
    return out.reset_index(drop=True)


def play_counts(df: pd.DataFrame) -> pd.Series:
    """Plays of every track, most played first (index: track_id_clean)."""
    counts = df["track_id_clean"].value_counts(sort=False)
    return counts.sort_values(ascending=False, kind="stable")


def top_share(df: pd.DataFrame, share: float = 0.01) -> float:
    """Share of all plays that go to the most played ``share`` of the tracks played at all."""
    counts = play_counts(df).to_numpy()
    k = max(1, int(round(share * len(counts))))
    return float(counts[:k].sum() / counts.sum())


def manifest_summary(manifest: dict) -> pd.DataFrame:
    """What preparation kept and dropped, the vocabulary and the split, as a two-column table."""
    rows: list[tuple[str, str]] = [("sessions read", f"{manifest['sessions_read']:,}")]
    for reason, count in sorted(manifest["sessions_dropped"].items(), key=lambda kv: -kv[1]):
        rows.append((f"  dropped: {reason}", f"{count:,}"))
    kept, read = manifest["sessions_kept"], max(manifest["sessions_read"], 1)
    sizes = manifest["split_sizes"]
    rows += [
        ("sessions kept", f"{kept:,} ({kept / read:.1%})"),
        ("tracks in the vocabulary", f"{manifest['n_tracks']:,}"),
        ("vocab_size (with reserved ids)", f"{manifest['vocab_size']:,}"),
        (f"split ({manifest['split']['kind']}): training sessions", f"{sizes['train_sessions']:,}"),
        ("  training targets (next tracks)", f"{sizes['train_targets']:,}"),
        ("  validation examples", f"{sizes['valid']:,}"),
        ("  test examples", f"{sizes['test']:,}"),
        (
            f"skip rate of kept tracks (strength >= {manifest['config']['skip_strength']})",
            f"{manifest['skip_rate']:.3f}",
        ),
    ]
    return pd.DataFrame(rows, columns=["quantity", "value"])
