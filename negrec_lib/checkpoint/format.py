"""The checkpoint file: writing it atomically, reading it as data, rebuilding its model.

A checkpoint is a ``torch.save`` dict, read back with ``torch.load(weights_only=True)`` (data,
never code). Every checkpoint holds ``version`` (`CHECKPOINT_VERSION`), ``config`` (the
`ExperimentConfig` as a dict), ``vocab_size``, ``n_features`` and ``model`` (the encoder's
state dict).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..config import ExperimentConfig
from ..errors import CheckpointError, ConfigError, display_path, file_error
from ..model import SessionEncoder

if TYPE_CHECKING:
    from ..data.sessions import SessionData


CHECKPOINT_VERSION = 1


def save_checkpoint(obj: dict, path: str | Path) -> None:
    """Write a checkpoint atomically: to a temporary sibling, flushed to disk, then renamed.

    Parameters
    ----------
    obj : dict
        The checkpoint (``version``, ``config``, ``vocab_size``, ``n_features``, ``model`` and,
        for a resumable run, the training state `negrec_lib.train.Trainer` adds).
    path : str or Path
        The file to write (``last.pt`` or ``best.pt`` of a run folder). A process killed at any
        moment leaves the old file or the new one, never half of one.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_checkpoint({"version": CHECKPOINT_VERSION, "w": torch.ones(2)}, Path(d) / "a.pt")
    ...     sorted(p.name for p in Path(d).iterdir())  # no temporary file left behind
    ['a.pt']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_CHECKPOINT_KEYS = ("version", "config", "vocab_size", "n_features", "model")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint as data (``weights_only=True``: no code is ever unpickled).

    Parameters
    ----------
    path : str or Path
        A checkpoint file (``best.pt`` / ``last.pt`` of a run folder).
    map_location : str or torch.device
        Where the tensors are loaded (default: the CPU).

    Returns
    -------
    dict
        The checkpoint, its keys and configuration checked.

    Raises
    ------
    CheckpointError
        The file is missing, damaged, foreign or of another checkpoint version (names it).

    Examples
    --------
    >>> import tempfile
    >>> ckpt = {"version": CHECKPOINT_VERSION, "config": ExperimentConfig().to_dict(),
    ...         "vocab_size": 10, "n_features": 0, "model": {"w": torch.ones(2)}}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_checkpoint(ckpt, Path(d) / "a.pt")
    ...     load_checkpoint(Path(d) / "a.pt")["model"]["w"].tolist()
    [1.0, 1.0]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     load_checkpoint(Path(d) / "missing.pt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    negrec_lib.errors.CheckpointError: ...missing.pt: ...
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            "is a folder, expected a checkpoint file (best.pt or last.pt of a run folder)", path
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise file_error(CheckpointError, path, exc, "checkpoint file") from None
    except Exception as exc:  # any failure to deserialise is damage: truncation, bit flips
        raise file_error(
            CheckpointError,
            path,
            exc,
            "checkpoint",
            "use the run's other checkpoint (best.pt / last.pt) or train again",
        ) from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CHECKPOINT_KEYS):
        missing = [k for k in _CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise CheckpointError(f"not a negrec checkpoint (missing {', '.join(missing)})", path)
    if ckpt["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint version {ckpt['version']!r}; this negrec reads "
            f"version {CHECKPOINT_VERSION}",
            path,
        )
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError("the checkpoint's config is not a mapping", path)
    try:
        ExperimentConfig.from_dict(ckpt["config"], source="config")
    except ConfigError as exc:
        raise CheckpointError(f"the stored configuration is invalid ({exc})", path) from None
    for key in ("vocab_size", "n_features"):
        if isinstance(ckpt[key], bool) or not isinstance(ckpt[key], int) or ckpt[key] < 0:
            raise CheckpointError(f"{key} is {ckpt[key]!r}, expected an integer >= 0", path)
    return ckpt


def model_from_checkpoint(
    path: str | Path, data: SessionData | None = None, device: str | torch.device = "cpu"
) -> tuple[SessionEncoder, ExperimentConfig]:
    """Rebuild the encoder stored in a checkpoint, in evaluation mode.

    Parameters
    ----------
    path : str or Path
        A checkpoint file.
    data : SessionData, optional
        The prepared data the model was trained on: it supplies the track features (needed when
        the model uses them) and is checked against the stored vocabulary size.
    device : str or torch.device
        Where the model is placed.

    Returns
    -------
    (SessionEncoder, ExperimentConfig)
        The model and the configuration it was trained with.

    Raises
    ------
    CheckpointError
        The file is damaged or does not fit ``data``.

    Examples
    --------
    >>> import tempfile
    >>> cfg = ExperimentConfig().override(["model.d_model=8", "model.n_heads=2", "model.d_ff=8"])
    >>> model = SessionEncoder(cfg.model, vocab_size=10)
    >>> ckpt = {"version": CHECKPOINT_VERSION, "config": cfg.to_dict(), "vocab_size": 10,
    ...         "n_features": 0, "model": model.state_dict()}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_checkpoint(ckpt, Path(d) / "best.pt")
    ...     again, again_cfg = model_from_checkpoint(Path(d) / "best.pt")
    >>> torch.equal(again.item_emb.weight, model.item_emb.weight), again.training, again_cfg == cfg
    (True, False, True)
    """
    ckpt = load_checkpoint(path, device)
    cfg = ExperimentConfig.from_dict(ckpt["config"], source=display_path(path))
    feats = data.features if (data is not None and cfg.model.use_features) else None
    n_feat = int(ckpt["n_features"])
    if cfg.model.use_features and feats is None:
        raise CheckpointError(
            "the model uses track features; pass the prepared data (data=...) that holds them", path
        )
    if data is not None and int(ckpt["vocab_size"]) != data.vocab_size:
        raise CheckpointError(
            f"the model was trained on a vocabulary of {ckpt['vocab_size']} "
            f"ids, the prepared data {display_path(data.path or '?')} has "
            f"{data.vocab_size}; evaluate it on the data it was trained on",
            path,
        )
    if feats is not None and int(feats.shape[1]) != n_feat:
        raise CheckpointError(
            f"the model expects {n_feat} track features, the data has {int(feats.shape[1])}", path
        )
    try:
        model = SessionEncoder(
            cfg.model, int(ckpt["vocab_size"]), n_features=n_feat, features=feats
        )
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"the stored weights do not fit the stored configuration "
            f"({' '.join(str(exc).split())[:200]}); the file is damaged",
            path,
        ) from None
    return model.to(device).eval(), cfg
