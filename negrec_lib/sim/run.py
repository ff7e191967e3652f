"""`simulate`: check a `SimConfig`, write the simulation to a temporary folder, put it in place.

The one entry point of the simulator. The folder appears whole or not at all: it is written to a
hidden sibling and renamed at the end (`negrec_lib.atomic.replace_dir`), so a kill at any moment
leaves the old dataset or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import replace_dir
from ..config import SimConfig
from ..errors import ConfigError, NegrecError, display_path
from .params import ModelParams
from .streams import BLOCK
from .writer import write_simulation


class OutputExistsError(NegrecError, FileExistsError):
    """The output folder exists and is not empty (pass ``force=True`` to replace it)."""


@dataclass
class SimulationSummary:
    """What `simulate` wrote."""

    out_dir: Path
    sessions: int
    rows: int
    tracks: int
    files: list[str]
    bytes: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"simulated {self.sessions:,} sessions ({self.rows:,} rows, {self.tracks:,} tracks) "
            f"into {len(self.files)} files, {self.bytes / 1e6:.1f} MB, in {self.seconds:.1f} s "
            f"-> {self.out_dir}"
        )


def check_config(cfg: SimConfig) -> SimConfig:
    """``cfg`` with plain int and float fields, or a `ConfigError` naming the bad field.

    Examples
    --------
    >>> check_config(SimConfig(sessions=10, tracks=5, skip_signal=1)).skip_signal
    1.0
    >>> check_config(SimConfig(days=0))
    Traceback (most recent call last):
    ...
    negrec_lib.errors.ConfigError: simulate: days must be an integer >= 1, got 0
    """
    for name, low in (("sessions", 1), ("tracks", 1), ("seed", 0), ("days", 1), ("max_length", 2)):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"simulate: {name} must be an integer >= {low}, got {value!r}")
    if cfg.max_length > 10_000:
        raise ConfigError(f"simulate: max_length must be at most 10000, got {cfg.max_length}")
    s = cfg.skip_signal
    if not (isinstance(s, (int, float)) and 0.0 <= float(s) <= 1.0):
        raise ConfigError(f"simulate: skip_signal must be a number in [0, 1], got {s!r}")
    return SimConfig(
        sessions=int(cfg.sessions),
        tracks=int(cfg.tracks),
        skip_signal=float(s),
        days=int(cfg.days),
        max_length=int(cfg.max_length),
        seed=int(cfg.seed),
    )


def simulate(
    out_dir: str | Path,
    config: SimConfig | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    chunk_sessions: int | None = None,
    params: ModelParams | None = None,
    **fields: object,
) -> SimulationSummary:
    """Simulate listening sessions and write them in MSSD format, with their ground truth.

    Parameters
    ----------
    out_dir : folder to create; gets ``training_set/``, ``track_features/``, ``ground_truth/``
        and ``SIMULATED.md``. Written to a temporary sibling and renamed at the end.
    config : the sizes (`negrec_lib.config.SimConfig`: sessions, tracks, skip_signal, seed,
        days, max_length); None: ``SimConfig()``. The same config gives byte-identical files.
    force : replace a non-empty ``out_dir`` (otherwise `OutputExistsError`).
    progress : show a progress bar (only when stderr is a terminal).
    chunk_sessions : sessions generated and written at a time (memory); results do not depend on it.
    params : model knobs (`ModelParams`); the defaults are calibrated to MSSD.
    **fields : `SimConfig` fields that replace those of ``config``:
        ``simulate(out, sessions=300)`` is ``simulate(out, SimConfig(sessions=300))``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     summary = simulate(Path(d) / "sim", SimConfig(sessions=100, tracks=50, days=2),
    ...                        progress=False)
    >>> summary.sessions, summary.files[0]
    (100, 'training_set/log_0_20180715_000000000000.csv')
    """
    t0 = time.perf_counter()
    config = config if config is not None else SimConfig()
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(SimConfig)})
    if unknown:
        raise TypeError(f"simulate() got unexpected keyword argument(s) {unknown}")
    cfg = check_config(dataclasses.replace(config, **fields))
    P = params or ModelParams()
    out_dir = Path(out_dir)
    if out_dir.exists() and not force and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputExistsError(
            f"{display_path(out_dir)} exists and is not empty; choose another "
            "folder or pass force=True to replace it"
        ).with_cli(
            f"{display_path(out_dir)} exists and is not empty; choose another --out or pass "
            "--force to replace it"
        )
    chunk = chunk_sessions or max(BLOCK, 32 * BLOCK * 20 // cfg.max_length)
    chunk = max(BLOCK, -(-int(chunk) // BLOCK) * BLOCK)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rows, files = write_simulation(tmp, cfg, P, chunk, progress)
        if out_dir.exists() and not out_dir.is_dir():
            out_dir.unlink()
        # the old folder is moved aside before the new one takes its name, and deleted after:
        # a kill at any moment leaves the old dataset or the new one, never half of one
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return SimulationSummary(
        out_dir, cfg.sessions, rows, cfg.tracks, files, size, time.perf_counter() - t0
    )
