"""Run folders: where a configuration's run lives, its lock, and train-or-resume-or-reuse.

One folder scheme names every run (`run_folder`): ``<root>/<name>-<key>``, ``key`` = `run_key`
of the configuration. Chapters (`run_cached`, `negrec_lib.study.grids.run_grid_cached`) use a
common root, so chapters that ask for the same model share it; ``negrec experiment`` uses
``<runs>/<experiment>`` as the root and the variant as the name, one folder per row of the
results table (the seeds differ, so the keys do). Grids trained before 2026-12-06 kept their runs
in ``<runs>/<experiment>/<variant>/seed-<seed>``; their rows are complete and need no folder.

Every run trains through `train_run` under `run_lock`: a finished run (``metrics.json``) is
reused, a cut one (``last.pt``) resumes, and parallel processes never train one folder twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, cache_key_view

__all__ = ["run_key", "run_folder", "run_lock", "train_run", "run_cached"]


def run_key(cfg: ExperimentConfig) -> str:
    """The 10-hex-digit hash of everything in ``cfg`` that changes what a run computes.

    Left out: ``out_dir`` and ``train.progress`` (where and how visibly a run trains), and the
    data settings that do not change the prepared data (`negrec_lib.config.cache_key_view`).

    Parameters
    ----------
    cfg : ExperimentConfig
        The run's configuration.

    Returns
    -------
    str
        The key that `run_cached` appends to the run's name.

    Examples
    --------
    >>> from negrec_lib.config import profile_config
    >>> cfg = profile_config("ci")
    >>> quiet = profile_config("ci")
    >>> quiet.train.progress = not cfg.train.progress
    >>> run_key(cfg) == run_key(quiet), len(run_key(cfg))
    (True, 10)
    """
    key_cfg = cfg.to_dict()
    key_cfg["data"] = cache_key_view("data", key_cfg["data"])
    key_cfg.pop("out_dir")
    key_cfg["train"].pop("progress")
    return hashlib.sha256(json.dumps(key_cfg, sort_keys=True).encode()).hexdigest()[:10]


def run_folder(cfg: ExperimentConfig, root: str | Path) -> Path:
    """The folder of ``cfg``'s run under ``root``: ``<root>/<name>-<run_key>``.

    Examples
    --------
    >>> from negrec_lib.config import ExperimentConfig
    >>> run_folder(ExperimentConfig(name="uni-base"), "runs").name.startswith("uni-base-")
    True
    """
    return Path(root) / f"{cfg.name}-{run_key(cfg)}"


@contextlib.contextmanager
def run_lock(run_dir: str | Path, wait: bool = True) -> Iterator[bool]:
    """Hold the inter-process lock of one run folder (``.<folder name>.lock`` beside it).

    Parameters
    ----------
    run_dir : str or Path
        The run folder (it need not exist; its parent is created).
    wait : bool
        Wait for another process to release the lock (default); False: do not wait.

    Yields
    ------
    bool
        True while this process holds the lock; False when ``wait`` is False and another
        process holds it (nothing is held then).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with run_lock(Path(d) / "run") as held:
    ...         with run_lock(Path(d) / "run", wait=False) as again:
    ...             held, again  # a second holder is turned away, not made to wait
    (True, False)
    """
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir.parent / f".{run_dir.name}.lock"), timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def train_run(
    cfg: ExperimentConfig, run_dir: str | Path, data_dir: str | Path, callbacks: Sequence[Any] = ()
) -> dict[str, Any]:
    """Train ``cfg`` in ``run_dir`` on the prepared data in ``data_dir``, resuming a cut run.

    Call it under `run_lock` of ``run_dir``. A folder with ``last.pt`` resumes (the
    checkpoint's configuration must match, see `negrec_lib.checkpoint.reconcile_config`).

    Parameters
    ----------
    cfg : ExperimentConfig
        The run's configuration.
    run_dir : str or Path
        The run folder (`negrec_lib.train.Trainer`'s ``out_dir``).
    data_dir : str or Path
        A prepared dataset folder.
    callbacks : sequence
        Passed to `negrec_lib.train.Trainer.fit`.

    Returns
    -------
    dict
        The run's result (what ``metrics.json`` holds).

    Examples
    --------
    >>> from negrec_lib.config import example_config
    >>> cfg = example_config()  # the ci profile at 100 sessions, d=8, one epoch
    >>> import tempfile
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> prepared = ensure_dataset(cfg.sim, cfg.data, tmp.name, progress=False)
    >>> metrics = train_run(cfg, Path(tmp.name) / "run", prepared)
    >>> metrics["epochs_run"], sorted(p.name for p in (Path(tmp.name) / "run").glob("*.pt"))
    (1, ['best.pt', 'last.pt'])
    >>> tmp.cleanup()
    """
    from .data.sessions import SessionData
    from .train import Trainer

    run_dir = Path(run_dir)
    data = SessionData.load(data_dir)
    return Trainer(cfg, data, run_dir, resume=(run_dir / "last.pt").exists()).fit(callbacks)


def run_cached(
    cfg: ExperimentConfig,
    root: str | Path = "runs",
    data_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[dict[str, Any], Path]:
    """Train ``cfg`` unless a finished run of the same configuration exists; resume a cut one.

    Runs live in ``root/<name>-<key>`` (`run_key`), so chapters that ask for the same model
    share it, and re-executing a chapter costs nothing once its runs exist. For a run that is
    already finished, the callbacks with an ``on_cached_run(cfg, history, result)`` hook get its
    saved history instead (a `negrec_lib.viz.live.LiveCurve` then draws the finished run's
    curve).

    Parameters
    ----------
    cfg : ExperimentConfig
        The run's configuration (its ``data_dir``, when set, names the prepared data).
    root : str or Path
        The folder of cached runs.
    data_root : str or Path, optional
        Where `negrec_lib.data.cache.ensure_dataset` keeps datasets (default: its own).
    callbacks : sequence
        Passed to `negrec_lib.train.Trainer.fit` (see `train_run`).

    Returns
    -------
    (dict, Path)
        The run's ``metrics.json`` content and the run folder.

    Examples
    --------
    >>> from negrec_lib.config import example_config
    >>> cfg = example_config()  # the ci profile at 100 sessions, d=8, one epoch
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> metrics, run_dir = run_cached(cfg, Path(tmp.name) / "runs", Path(tmp.name) / "data")
    >>> again, same_dir = run_cached(cfg, Path(tmp.name) / "runs", Path(tmp.name) / "data")
    >>> same_dir == run_dir, again["test"] == metrics["test"]  # the second call trains nothing
    (True, True)
    >>> tmp.cleanup()
    """
    from .data.cache import ensure_dataset

    run_dir = run_folder(cfg, root)
    done = run_dir / "metrics.json"
    if done.is_file():
        return _replay(cfg, run_dir, callbacks), run_dir
    data_dir = cfg.data_dir or ensure_dataset(cfg.sim, cfg.data, data_root)
    with run_lock(run_dir):  # parallel notebooks: train once
        if done.is_file():
            return _replay(cfg, run_dir, callbacks), run_dir
        cfg = ExperimentConfig.from_dict(cfg.to_dict())
        cfg.out_dir = str(run_dir)
        train_run(cfg, run_dir, data_dir, callbacks)
    return json.loads(done.read_text()), run_dir


def _replay(cfg: ExperimentConfig, run_dir: Path, callbacks: Sequence[Any]) -> dict[str, Any]:
    """A finished run's metrics; its history goes to the callbacks' ``on_cached_run``."""
    result = json.loads((run_dir / "metrics.json").read_text())
    history_file = run_dir / "history.json"
    history = json.loads(history_file.read_text()) if history_file.is_file() else []
    for cb in callbacks:
        hook = getattr(cb, "on_cached_run", None)
        if hook is not None:
            hook(cfg, history, result)
    return result
