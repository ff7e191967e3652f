"""`Trainer`: one configuration trained on one prepared dataset (see `negrec_lib.train`)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ..atomic import atomic_write_text
from ..checkpoint import (
    load_checkpoint,
    restore_training,
    resume_checkpoint,
    save_checkpoint,
    training_checkpoint,
)
from ..config import ExperimentConfig
from ..data.sessions import SessionData
from ..errors import CheckpointError, ConfigError, NegrecError
from ..losses import make_sampler
from ..metrics import evaluate
from ..optim import clip_grad_norm_, dense_table_note, make_optimizer
from ..progress import ProgressSlot, epoch_summary
from ..provenance import provenance
from ..runtime import (
    Distributed,
    Precision,
    init_distributed,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from ..step import LossModule, build_model
from .epoch import broadcast_stop, train_epoch
from .history import call_hook, log_scalars, write_history
from .state import _State


class Trainer:
    """Train one configuration on one prepared dataset (see the module docstring).

    Examples
    --------
    >>> from negrec_lib.config import example_config
    >>> cfg = example_config()  # the ci profile at 100 sessions, d=8, one epoch
    >>> import tempfile
    >>> from negrec_lib.data.cache import ensure_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> data = SessionData.load(ensure_dataset(cfg.sim, cfg.data, tmp.name, progress=False))
    >>> result = Trainer(cfg, data, Path(tmp.name) / "run").fit()
    >>> result["epochs_run"], 0.0 <= result["test"]["hr@10"] <= 1.0
    (1, True)
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        cfg: ExperimentConfig,
        data: SessionData,
        out_dir: str | Path,
        resume: bool = False,
        checkpoint_every: int | None = None,
        allow_config_change: bool = False,
    ) -> None:
        cfg.validate("config")
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise ConfigError(
                f"checkpoint_every={checkpoint_every!r}: expected an integer >= 1 "
                "(batches between checkpoints) or None"
            ).with_cli(f"--checkpoint-every {checkpoint_every}: expected an integer >= 1")
        self.out = Path(out_dir)
        last = self.out / "last.pt"
        self._prior_changes: list[dict[str, Any]] = []  # recorded in last.pt, when resuming
        ckpt, cfg, self.config_changes = resume_checkpoint(
            last, cfg, data, resume, allow_config_change
        )
        self.cfg = cfg
        self.device = resolve_device(cfg.train.device)
        self.dist: Distributed = init_distributed(self.device)
        self.precision: Precision = resolve_precision(cfg.train.precision, self.device)
        self.checkpoint_every = checkpoint_every  # also checkpoint every N batches
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        self.data = data.to(self.device)
        self.model = build_model(cfg, self.data).to(self.device)
        if cfg.train.sparse_embeddings and (self.dist.world > 1 or cfg.train.compile):
            raise ConfigError(
                "train.sparse_embeddings=true needs one process and train.compile=false"
            )
        # sets the model's sparse flag; a large table on the CPU may keep sparse gradients
        # through Adam (ScatterAdam) where nothing else needs them dense
        sparse_ok = self.dist.world == 1 and not cfg.train.compile and not self.precision.scaler
        self.optimizer = make_optimizer(self.model, cfg.train, sparse_table_ok=sparse_ok)
        sampler = make_sampler(cfg.loss, self.data.vocab_size, self.data.popularity)
        if sampler is not None and hasattr(sampler, "to"):
            sampler = sampler.to(self.device)
        self.loss_module = LossModule(self.model, cfg, sampler)
        self.step_module: nn.Module = self.loss_module
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DDP(self.loss_module, device_ids=ids)
        if cfg.train.compile:
            self.step_module = cast(nn.Module, torch.compile(self.step_module))
        self.steps_per_epoch = -(
            -data.n_examples("train") // (cfg.train.batch_size * self.dist.world)
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.scaler)
        self.sample_gen = torch.Generator(device=self.device)
        self.sample_gen.manual_seed(cfg.train.seed + 1_000_003 * (self.dist.rank + 1))
        self.state = _State()
        self.history: list[dict[str, Any]] = []
        self.writer: Any = None  # a tensorboard SummaryWriter once train.tensorboard logs
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if ckpt is None:  # a fresh run: nothing of an earlier one may be taken for it
                for stale in ("metrics.json", "best.pt", "history.json", "history.csv"):
                    (self.out / stale).unlink(missing_ok=True)
            atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        if ckpt is not None:
            try:
                self._restore(load_checkpoint(last, self.device))
            except NegrecError:
                raise
            except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
                raise CheckpointError(
                    f"cannot resume from it: the stored training state does "
                    f"not fit this run ({' '.join(str(exc).split())[:200]})",
                    last,
                ) from None
            self.config_changes = self._prior_changes + self.config_changes
            if self.dist.main and self.state.epoch < cfg.train.epochs and not self.state.stopped:
                # training goes on: an earlier metrics.json no longer describes this run
                (self.out / "metrics.json").unlink(missing_ok=True)

    # ------------------------------------------------------------------ schedule
    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        warm = min(1.0, (step + 1) / t.warmup_steps) if t.warmup_steps else 1.0
        if t.scheduler == "cosine":
            total = max(1, t.epochs * self.steps_per_epoch)
            return warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return warm

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self) -> dict:
        return training_checkpoint(self)

    def _restore(self, ckpt: dict) -> None:
        restore_training(self, ckpt)

    def _save(self, name: str) -> None:
        if self.dist.main:
            save_checkpoint(self._checkpoint(), self.out / name)

    # ------------------------------------------------------------------ loop
    def step(self, batch: Any) -> dict[str, torch.Tensor]:
        """One optimiser step on a training batch (this process's share of it); its losses.

        Forward under the run's precision, backward through the gradient scaler, clipping,
        the optimiser and the learning-rate schedule: the step `fit` takes, for code that needs
        single steps (`negrec_lib.study.diagnostics.first_steps`, the benchmarks).
        """
        t, world, rank = self.cfg.train, self.dist.world, self.dist.rank
        tracks, lengths, skipped = (
            x[rank::world] for x in (batch.tracks, batch.lengths, batch.skipped)
        )
        with self.precision.autocast(self.device):
            out = self.step_module(tracks, lengths, skipped, self.sample_gen)
        # Dense: keep the [V, d] gradient buffer between steps (refilled in place, not
        # reallocated); sparse (lazy Adam): start from None.
        self.optimizer.zero_grad(set_to_none=t.sparse_embeddings)
        self.scaler.scale(out["total"]).backward()
        if t.grad_clip:
            self.scaler.unscale_(self.optimizer)
            clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return out

    def _train_epoch(self) -> dict[str, float]:
        return train_epoch(self)

    def evaluate(self, split: str, protocol: str = "full") -> Any:
        """Evaluate the current model on ``split`` (``valid`` or ``test``).

        The sampled protocol draws its candidates per evaluation batch (the batch's targets
        plus random tracks), so its batch size is part of the protocol: it uses
        ``train.sampled_eval_batch_size`` (the paper's training batch, 128), not the full
        protocol's ``eval_batch_size``, which only trades memory for speed.
        """
        t = self.cfg.train
        size = t.sampled_eval_batch_size if protocol == "sampled" else t.eval_batch_size
        return evaluate(
            self.model, self.data, split=split, protocol=protocol, batch_size=size, seed=t.seed
        )

    def fit(self, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
        """Train until the epoch budget or early stopping; then test the best model once.

        With ``train.progress`` each epoch shows a ``tqdm.auto`` bar with the running loss, and
        one summary line stays after it (epoch, train loss, validation metric, seconds).
        ``callbacks`` are objects with any of ``on_fit_start(trainer)``,
        ``on_epoch_end(trainer, row)`` (``row``: the epoch's history entry) and
        ``on_fit_end(trainer, result)``, called on the main process; for example
        `negrec_lib.viz.live.LiveCurve`, a learning curve drawn as the model trains.
        """
        t = self.cfg.train
        show = bool(t.progress and self.dist.main)
        callbacks = list(callbacks) if self.dist.main else []
        for cb in callbacks:
            call_hook(cb, "on_fit_start", self)
        note = dense_table_note(self.data.vocab_size, t, self.device)
        if show and note and self.state.epoch < t.epochs:
            print(note, flush=True)
        self._slot = ProgressSlot(show)
        try:
            result = self._fit_loop(callbacks, show)
        finally:
            self._slot.close()
        for cb in callbacks:
            call_hook(cb, "on_fit_end", self, result)
        return result

    def _fit_loop(self, callbacks: list[Any], show: bool) -> dict[str, Any]:
        s, t = self.state, self.cfg.train
        while s.epoch < t.epochs and not s.stopped:
            started = time.perf_counter()
            row = {"epoch": s.epoch + 1, **self._train_epoch()}
            s.epoch += 1
            s.batch = 0
            if self.dist.main and (s.epoch % t.eval_every == 0 or s.epoch == t.epochs):
                val = self.evaluate("valid").metrics
                if t.select_metric not in val:
                    raise ConfigError(
                        f"train.select_metric={t.select_metric!r} is not a "
                        f"metric; choose one of {sorted(val)}"
                    )
                row.update({f"valid_{k}": v for k, v in val.items()})
                score = val[t.select_metric]
                improved = score > s.best
                if improved:
                    s.best, s.best_epoch, s.bad_epochs = score, s.epoch, 0
                else:
                    s.bad_epochs += 1
                self.history.append(row)
                if improved:
                    self._save("best.pt")
                if t.patience is not None and s.bad_epochs >= t.patience:
                    s.stopped = True
                self._log(row)
            else:
                self.history.append(row)
            if show:
                line = epoch_summary(
                    {**row, "epoch_seconds": time.perf_counter() - started},
                    t.epochs,
                    t.select_metric,
                    best=s.best_epoch == s.epoch,
                )
                print(line, flush=True)
            for cb in callbacks:
                call_hook(cb, "on_epoch_end", self, row)
            s.stopped = broadcast_stop(self, s.stopped)
            self._save("last.pt")
        return self._finish() if self.dist.main else {}

    def _log(self, row: dict[str, Any]) -> None:
        if self.cfg.train.tensorboard:
            self.writer = log_scalars(self.writer, self.out, row)
        self._write_history()

    def _write_history(self) -> None:
        write_history(self.out, self.history)

    def _finish(self) -> dict[str, Any]:
        best = self.out / "best.pt"
        if best.exists():
            self.model.load_state_dict(load_checkpoint(best, self.device)["model"])
        full = self.evaluate("test", "full")
        sampled = self.evaluate("test", "sampled")
        self._write_history()
        result = {
            "name": self.cfg.name,
            "best_epoch": self.state.best_epoch,
            "epochs_run": self.state.epoch,
            "valid_best": self.state.best,
            "test": full.metrics,
            "test_sampled": sampled.metrics,
            "test_by_context": full.to_dict().get("by_context"),
            "provenance": provenance(self.device, self.precision.name),
        }
        if self.config_changes:
            result["config_changes"] = self.config_changes
        # metrics.json marks the run finished: written last, atomically
        atomic_write_text(self.out / "metrics.json", json.dumps(result, indent=2, default=float))
        if self.writer is not None:
            self.writer.close()
        return result
