"""Resuming a run from its ``last.pt``: the training state, and the configuration checks.

A run's ``last.pt`` adds to the checkpoint format (`checkpoint.format`) the training state that
`negrec_lib.train.Trainer` resumes from (optimiser, scheduler, scaler, random generators,
position in the epoch); `reconcile_config` says which settings may change on resuming.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..config import ExperimentConfig
from ..errors import CheckpointError, ConfigError, display_path

if TYPE_CHECKING:
    from ..data.sessions import SessionData
    from ..train import Trainer
from .format import CHECKPOINT_VERSION, load_checkpoint

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
