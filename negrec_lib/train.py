"""The training loop: seeds, mixed precision, checkpoints and exact resume, early stopping.

``Trainer(cfg, data, out_dir).fit()`` trains, selects the best epoch on the validation split,
evaluates the test split once with that model, and leaves in ``out_dir``:

- ``config.yaml``: the full configuration;
- ``last.pt`` / ``best.pt``: checkpoints, written atomically, loaded with
  ``torch.load(weights_only=True)`` (a checkpoint is data, never code);
- ``history.json`` / ``history.csv``: loss, throughput and validation metrics per epoch;
- ``metrics.json``: test metrics of the selected model (full catalogue and the paper's
  sampled protocol), with the run's provenance.

A run interrupted at any point resumes with ``resume=True`` (``negrec train --resume``) and
ends with the same weights and metrics as an uninterrupted run: the checkpoint holds the
optimiser, scheduler, scaler, every random-number generator and the position in the epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from .atomic import atomic_write_text
from .checkpoint import (
    load_checkpoint,
    restore_training,
    resume_checkpoint,
    save_checkpoint,
    training_checkpoint,
)
from .config import ExperimentConfig
from .data.sessions import SessionData
from .errors import CheckpointError, ConfigError, NegrecError
from .losses import make_sampler
from .metrics import evaluate
from .optim import clip_grad_norm_, make_optimizer
from .progress import ProgressSlot, epoch_summary
from .provenance import provenance
from .runtime import (
    Distributed,
    Precision,
    init_distributed,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from .step import LossModule, build_model


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done inside the current epoch
    step: int = 0  # optimiser steps in total
    best: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0.0])  # epoch loss sums so far
    seconds: float = 0.0  # training seconds of the current epoch so far
    sessions: int = 0  # sessions seen in the current epoch so far


class Trainer:
    """Train one configuration on one prepared dataset (see the module docstring).

    Examples
    --------
    >>> from negrec_lib.config import profile_config
    >>> cfg = profile_config("ci").override(["sim.sessions=100", "sim.tracks=50", "sim.days=2",
    ...     "model.d_model=8", "model.d_ff=8", "model.n_heads=2", "loss.n_negatives=10",
    ...     "train.epochs=1", "train.batch_size=32", "train.progress=false"])
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
        self.optimizer = make_optimizer(self.model, cfg.train)  # sets the model's sparse flag
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
    def _epoch_order(self, epoch: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(self.cfg.train.seed * 1000 + epoch)
        return g

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
        s, t = self.state, self.cfg.train
        self.model.train()
        world = self.dist.world
        batches = self.data.train_batches(
            t.batch_size * world, self._epoch_order(s.epoch), start=s.batch
        )
        slot = getattr(self, "_slot", None) or ProgressSlot(t.progress and self.dist.main)
        bar = slot.bar(
            batches,
            total=self.steps_per_epoch,
            initial=s.batch,
            desc=f"epoch {s.epoch + 1}/{t.epochs}",
            unit="batch",
        )
        # The running loss is a host sync: show it about 20 times an epoch, not every step.
        every = max(1, min(20, self.steps_per_epoch // 20))
        # Running sums stay on the device (no host sync per step) and in the checkpoint, so a
        # resumed epoch reports the same averages as an uninterrupted one.
        sums = torch.tensor(s.sums, dtype=torch.float64, device=self.device)  # [loss, next, skip]
        t0 = time.perf_counter() - s.seconds
        for batch in bar:
            out = self.step(batch)
            sums += torch.stack([out["total"], out["next"], out["skip"]]).detach().double()
            s.batch += 1
            s.step += 1
            s.sessions += len(batch.rows)
            if s.batch % every == 0 and bar.disable is False:
                rate = s.sessions / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{float(sums[0]) / s.batch:.3f}", sess_s=f"{rate:,.0f}")
            if self.checkpoint_every and s.batch % self.checkpoint_every == 0:
                s.sums, s.seconds = sums.tolist(), time.perf_counter() - t0
                self._save("last.pt")
        slot.done(bar)
        seconds = time.perf_counter() - t0
        k = max(s.batch, 1)
        loss, nxt, skip = (v / k for v in sums.tolist())
        row = {
            "loss": loss,
            "next_loss": nxt,
            "skip_loss": skip,
            "train_seconds": seconds,
            "sessions_per_s": s.sessions / seconds if seconds > 0 else float("nan"),
        }
        s.sums, s.seconds, s.sessions = [0.0, 0.0, 0.0], 0.0, 0
        return row

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
            _call(cb, "on_fit_start", self)
        self._slot = ProgressSlot(show)
        try:
            result = self._fit_loop(callbacks, show)
        finally:
            self._slot.close()
        for cb in callbacks:
            _call(cb, "on_fit_end", self, result)
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
                _call(cb, "on_epoch_end", self, row)
            s.stopped = self._broadcast_stop(s.stopped)
            self._save("last.pt")
        return self._finish() if self.dist.main else {}

    def _broadcast_stop(self, stopped: bool) -> bool:
        if self.dist.world == 1:
            return stopped
        import torch.distributed as dist

        flag = torch.tensor(
            [int(stopped)], device=self.device if self.device.type == "cuda" else "cpu"
        )
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def _log(self, row: dict[str, Any]) -> None:
        if self.cfg.train.tensorboard:
            if self.writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(self.out / "tensorboard")
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(k, v, row["epoch"])
        self._write_history()

    def _write_history(self) -> None:
        atomic_write_text(self.out / "history.json", json.dumps(self.history, indent=1))
        keys = sorted({k for r in self.history for k in r}, key=lambda k: (k != "epoch", k))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.history)
        atomic_write_text(self.out / "history.csv", buf.getvalue())

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


def _call(callback: Any, hook: str, *args: Any) -> None:
    """Call ``callback.hook(*args)`` when the callback has that hook."""
    method = getattr(callback, hook, None)
    if method is not None:
        method(*args)
