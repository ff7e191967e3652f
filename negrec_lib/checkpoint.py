"""Checkpoints: the file format, writing it atomically, reading it as data, resuming with it.

A checkpoint is a ``torch.save`` dict, read back with ``torch.load(weights_only=True)`` (data,
never code). Every checkpoint holds ``version`` (`CHECKPOINT_VERSION`), ``config`` (the
`ExperimentConfig` as a dict), ``vocab_size``, ``n_features`` and ``model`` (the encoder's
state dict); a run's ``last.pt`` adds the training state that `negrec_lib.train.Trainer`
resumes from (optimiser, scheduler, scaler, random generators, position in the epoch).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import ExperimentConfig
from .errors import CheckpointError, ConfigError, display_path, file_error
from .model import SessionEncoder

if TYPE_CHECKING:
    from .data.sessions import SessionData
    from .train import Trainer

__all__ = [
    "CHECKPOINT_VERSION",
    "SAFE_ON_RESUME",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
    "reconcile_config",
    "resume_checkpoint",
    "training_checkpoint",
    "restore_training",
]

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


# Keys that may differ from the checkpoint's when resuming: always (they change nothing that is
# computed), or with ``allow_config_change`` (recorded in the run's ``config_changes``).
# data_dir only says where the data is now: the data itself is checked (vocabulary, sessions).
_FREE_ON_RESUME = frozenset({"out_dir", "data_dir", "train.progress"})
SAFE_ON_RESUME = frozenset(
    {
        "name",
        "train.epochs",
        "train.patience",
        "train.eval_every",
        "train.eval_batch_size",
        "train.device",
        "train.tensorboard",
    }
)


# What a key missing from a checkpoint written before the key existed meant.
_LEGACY_MISSING = {"model.init": "gpt"}  # the initialisation before model.init existed


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def reconcile_config(
    ckpt: dict, cfg: ExperimentConfig, allow: bool, path: Path
) -> tuple[ExperimentConfig, list[dict[str, Any]]]:
    """The configuration a resumed run trains on, and the recorded changes.

    A key that an older checkpoint lacks takes the value it had then (`_LEGACY_MISSING`), else
    its default (settings added later, whose default is the earlier behaviour).

    Parameters
    ----------
    ckpt : dict
        The run's ``last.pt`` (from `load_checkpoint`).
    cfg : ExperimentConfig
        The configuration asked for now.
    allow : bool
        Accept differences in `SAFE_ON_RESUME` keys (``allow_config_change``).
    path : Path
        The checkpoint file, named in errors.

    Returns
    -------
    (ExperimentConfig, list of dict)
        ``cfg`` and one ``{"key", "from", "to", "after_epoch"}`` entry per changed key.

    Raises
    ------
    ConfigError
        A key differs that cannot change mid-run, or a safe one differs without ``allow``.

    Examples
    --------
    >>> cfg = ExperimentConfig()
    >>> ckpt = {"config": cfg.to_dict(), "state": {"epoch": 4}}
    >>> more = ExperimentConfig().override(["train.epochs=40"])
    >>> reconcile_config(ckpt, more, allow=True, path=Path("last.pt"))[1]
    [{'key': 'train.epochs', 'from': 25, 'to': 40, 'after_epoch': 4}]
    """
    stored = _flat(ckpt["config"])
    old = _flat(ExperimentConfig.from_dict(ckpt["config"], source="checkpoint").to_dict())
    old.update({k: v for k, v in _LEGACY_MISSING.items() if k not in stored})
    new = _flat(cfg.to_dict())
    diff = sorted(
        k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k not in _FREE_ON_RESUME
    )
    if not diff:
        return cfg, []
    shown = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
    unsafe = [
        k
        for k in diff
        if k not in SAFE_ON_RESUME
        # the cosine schedule spans the epoch cap: changing it changes every step's rate
        or (k == "train.epochs" and old.get("train.scheduler") == "cosine")
    ]
    if unsafe:
        raise ConfigError(
            f"cannot resume with a different configuration: {shown}. The run trained with the "
            f"checkpoint's values; {', '.join(unsafe)} cannot change mid-run: resume with the "
            "run's own configuration (its config.yaml) or start a new run elsewhere",
            path,
        )
    if not allow:
        raise ConfigError(
            f"the configuration differs from the checkpoint's: {shown}; pass "
            "allow_config_change=True to continue with the new value(s) (recorded as "
            "config_changes), or resume with the run's own configuration",
            path,
        ).with_cli(
            f"{display_path(path)}: the configuration differs from the checkpoint's: "
            f"{shown}; pass --allow-config-change to continue with the new value(s) "
            "(recorded in metrics.json as config_changes), or resume without --set / "
            "--config (the run's own configuration is then used)"
        )
    state = ckpt.get("state") or {}
    changes = [
        {
            "key": k,
            "from": old.get(k),
            "to": new.get(k),
            "after_epoch": int(state.get("epoch", 0)) if isinstance(state, dict) else 0,
        }
        for k in diff
    ]
    return cfg, changes


# ------------------------------------------------------------------ a run's last.pt
def resume_checkpoint(
    last: Path, cfg: ExperimentConfig, data: SessionData, resume: bool, allow: bool
) -> tuple[dict | None, ExperimentConfig, list[dict[str, Any]]]:
    """What `negrec_lib.train.Trainer` starts from: the run's ``last.pt`` when resuming.

    Resuming trains on with the checkpoint's configuration; a different one is refused unless
    asked for (``allow``, and only for keys that are safe to change), and recorded.

    Parameters
    ----------
    last : Path
        The run folder's ``last.pt``.
    cfg : ExperimentConfig
        The configuration asked for.
    data : SessionData
        The data to train on (checked against the checkpoint's).
    resume, allow : bool
        ``resume`` and ``allow_config_change`` of the Trainer.

    Returns
    -------
    (dict or None, ExperimentConfig, list of dict)
        The checkpoint (None for a fresh run), the configuration to train with, and the
        changes (see `reconcile_config`).

    Raises
    ------
    ConfigError
        ``last.pt`` exists and ``resume`` is False, or the configuration may not change.
    CheckpointError
        The run was trained on other data.

    Examples
    --------
    >>> cfg = ExperimentConfig()
    >>> ckpt, same, changes = resume_checkpoint(Path("no-run") / "last.pt", cfg, None, False, False)
    >>> ckpt, same is cfg, changes  # no last.pt: a fresh run with the configuration asked for
    (None, True, [])
    """
    out = last.parent
    if last.exists() and not resume:
        raise ConfigError(
            f"{display_path(out)} already holds a run (last.pt); pass "
            "resume=True to continue it, or choose another out_dir"
        ).with_cli(
            f"{display_path(out)} already holds a run "
            "(last.pt); pass --resume to continue it, or choose "
            "another --out"
        )
    ckpt = load_checkpoint(last, "cpu") if resume and last.exists() else None
    changes: list[dict[str, Any]] = []
    if ckpt is not None:
        cfg, changes = reconcile_config(ckpt, cfg, allow, last)
        if int(ckpt["vocab_size"]) != data.vocab_size or int(
            ckpt.get("n_sessions", len(data))
        ) != len(data):
            raise CheckpointError(
                f"the run was trained on other data ({ckpt['vocab_size']} "
                f"vocabulary ids, {ckpt.get('n_sessions', '?')} sessions;"
                f" this data has {data.vocab_size} and {len(data)}); "
                "resume it on the data it was trained on",
                last,
            )
    return ckpt, cfg, changes


def training_checkpoint(trainer: Trainer) -> dict:
    """A run's ``last.pt``: the model checkpoint plus everything an exact resume needs.

    The optimiser, scheduler and scaler states, the trainer's progress (epoch, batch, best
    so far), its history, every random generator and the recorded configuration changes.
    `restore_training` reads it back (see `negrec_lib.train.Trainer`'s example for a run).
    """
    t, s = trainer, trainer.state
    return {
        "version": CHECKPOINT_VERSION,
        "config": t.cfg.to_dict(),
        "vocab_size": t.data.vocab_size,
        "n_sessions": len(t.data),
        "n_features": (
            0 if t.model.feature_proj is None else int(t.model.feature_proj.in_features)
        ),
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "scaler": t.scaler.state_dict(),
        "state": {k: getattr(s, k) for k in s.__dataclass_fields__},
        "history": json.dumps(t.history),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "rng_sample": t.sample_gen.get_state(),
        "config_changes": json.dumps(t.config_changes),
    }


def restore_training(trainer: Trainer, ckpt: dict) -> None:
    """Put a trainer back where `training_checkpoint` left it (weights, states, generators)."""
    t = trainer
    t.model.load_state_dict(ckpt["model"])
    t.optimizer.load_state_dict(ckpt["optimizer"])
    t.scheduler.load_state_dict(ckpt["scheduler"])
    t.scaler.load_state_dict(ckpt["scaler"])
    t.state = type(t.state)(**ckpt["state"])
    t.history = json.loads(ckpt["history"])
    torch.set_rng_state(ckpt["rng_cpu"])
    if ckpt["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
    t.sample_gen.set_state(ckpt["rng_sample"])
    t._prior_changes = json.loads(ckpt.get("config_changes", "[]"))
