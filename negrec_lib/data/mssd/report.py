"""What a read saw, kept and dropped (`ReadReport`), and the kinds of violation it counts.

Every violation of the format has a reason (a key of `ReadReport.sessions_dropped`; a bad value
is ``bad_value:<column>``) and a priority: when several violations sit on one line, the lowest
priority's message is the one reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAX_EXAMPLES = 5

# Drop reasons (keys of ReadReport.sessions_dropped); bad values are "bad_value:<column>".
MALFORMED, BLANK = "malformed_row", "blank_line"
POSITION, OVER, LENGTH = "position_out_of_order", "position_exceeds_length", "length_changes"
SHORT, REAPPEARS, SKIPS = "session_ends_early", "session_not_contiguous", "skips_not_cumulative"
PARTIAL = "partial_session"  # the file starts or ends inside a session
# Which message wins when several violations sit on one line (lower first).
PRIO_BLANK, PRIO_VALUE = 1, 10  # + column index (0 is a malformed line: csv_columns)
PRIO_SHORT, PRIO_REAPPEARS, PRIO_POSITION, PRIO_LENGTH = 50, 51, 52, 53
PRIO_OVER, PRIO_SKIPS, PRIO_SHORT_EOF = 54, 55, 60


@dataclass
class ReadReport:
    """What a read saw and kept, and what it dropped (with `on_error="drop"`) by reason.

    For track features the session counters count tracks (rows).
    """

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    sessions_kept: int = 0
    sessions_dropped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["file:line", ...]

    def count_drop(self, reason: str, path: Path, line: int) -> None:
        """Count one dropped session (track) by `reason`, keeping a few example locations."""
        self.sessions_dropped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(f"{path}:{line}")

    def summary(self) -> str:
        """A human-readable, multi-line account of the read."""
        n_drop = sum(self.sessions_dropped.values())
        out = [
            f"files read: {len(self.files)}",
            f"rows read: {self.rows_read:,}, kept: {self.rows_kept:,}",
            f"sessions kept: {self.sessions_kept:,}, dropped: {n_drop:,}",
        ]
        for reason, count in self.sessions_dropped.most_common():
            out.append(f"  {reason}: {count:,} (e.g. {', '.join(self.examples.get(reason, []))})")
        return "\n".join(out)

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return {
            "files": list(self.files),
            "rows_read": int(self.rows_read),
            "rows_kept": int(self.rows_kept),
            "sessions_kept": int(self.sessions_kept),
            "sessions_dropped": {k: int(v) for k, v in self.sessions_dropped.items()},
            "examples": {k: list(v) for k, v in self.examples.items()},
        }
