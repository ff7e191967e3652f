"""What every benchmark's JSON starts with, and how it is written (shared by the CPU benchmarks)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import train_step as ts

from negrec_lib.atomic import atomic_write_text
from negrec_lib.provenance import provenance


def started() -> dict[str, Any]:
    """The clock and load average at the start (pass to `write`)."""
    return {"time": time.time(), "load": os.getloadavg()}


def write(out: str | Path, name: str, args: Any, start: dict[str, Any], body: dict) -> Path:
    """Write ``body`` under the common header (command, args, commit, hardware, load, seconds)."""
    result = {
        "benchmark": name,
        "command": [sys.executable, *sys.argv],
        "args": vars(args),
        **{k: v for k, v in provenance().items() if k in ("commit", "dirty")},
        "hardware": ts.hardware(torch.device("cpu")),
        "load_average_before": start["load"],
        "load_average_after": os.getloadavg(),
        "seconds": time.time() - start["time"],
        **body,
    }
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1))
    print(f"wrote {path} ({result['seconds']:.0f} s)")
    return path
