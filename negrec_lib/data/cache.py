"""Simulated-and-prepared datasets on demand, cached by the configuration that made them.

Chapters and experiments ask for "the data of this profile"; the first call simulates and
prepares it, later calls (with the same simulator and data settings) reuse the folders.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from ..atomic import file_lock
from ..config import DataConfig, SimConfig, cache_key_view


def default_root() -> Path:
    """Where cached datasets live when no root is given: ``$NEGREC_DATA`` or ``./data``.

    ``NEGREC_DATA`` is the user's setting (the shell, or a Colab cell before the setup cell);
    library code passes its root explicitly (a chapter: ``ch.data_root``).
    """
    return Path(os.environ.get("NEGREC_DATA", "data"))


def _key(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def simulated_dir(sim: SimConfig, root: str | Path | None = None) -> Path:
    """The folder of the simulated MSSD files for ``sim``."""
    root = Path(root) if root is not None else default_root()
    return root / f"sim-{sim.sessions}s-{sim.tracks}t-{_key(asdict(sim))}"


def ensure_dataset(
    sim: SimConfig, data: DataConfig, root: str | Path | None = None, progress: bool = True
) -> Path:
    """Simulate (if needed) and prepare (if needed); returns the prepared folder.

    Both steps show a ``tqdm.auto`` bar while they run (``progress=False``: none); in a
    notebook the bar is removed when the step ends.

    Safe when several processes (parallel notebooks, test workers) ask at once: the work is
    done under a lock file in ``root``, by the first process; the others wait and reuse it.
    """
    from ..sim import simulate
    from .prepare import prepare

    raw = simulated_dir(sim, root)
    prepared = raw.parent / f"{raw.name}-prep-{_key(cache_key_view('data', asdict(data)))}"
    if (prepared / "manifest.json").is_file():
        return prepared
    raw.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(raw.parent / ".datasets", what="dataset cache"):
        if not (raw / "ground_truth").is_dir():
            simulate(raw, sim, force=True, progress=progress)
        if not (prepared / "manifest.json").is_file():
            prepare(raw, prepared, data, force=True, progress=progress)
    return prepared
