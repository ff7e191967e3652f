"""One epoch of training (`train_epoch`), its batch order, and the stop decision shared by
every process; `Trainer` runs them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from ..progress import ProgressSlot

if TYPE_CHECKING:
    from .trainer import Trainer


def epoch_order(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders an epoch's training batches.

    Examples
    --------
    >>> a, b = epoch_order(0, 1), epoch_order(0, 1)
    >>> torch.equal(torch.randperm(5, generator=a), torch.randperm(5, generator=b))
    True
    """
    g = torch.Generator()
    g.manual_seed(seed * 1000 + epoch)
    return g


def train_epoch(trainer: Trainer) -> dict[str, float]:
    """One epoch of training from the run's position (``trainer.state``); its history row.

    Batches in the epoch's seeded order (`epoch_order`), a progress bar with the running
    loss, a checkpoint every ``checkpoint_every`` batches; the loss sums stay on the device.
    """
    s, t = trainer.state, trainer.cfg.train
    trainer.model.train()
    world = trainer.dist.world
    batches = trainer.data.train_batches(
        t.batch_size * world, epoch_order(t.seed, s.epoch), start=s.batch
    )
    slot = getattr(trainer, "_slot", None) or ProgressSlot(t.progress and trainer.dist.main)
    bar = slot.bar(
        batches,
        total=trainer.steps_per_epoch,
        initial=s.batch,
        desc=f"epoch {s.epoch + 1}/{t.epochs}",
        unit="batch",
    )
    # The running loss is a host sync: show it about 20 times an epoch, not every step.
    every = max(1, min(20, trainer.steps_per_epoch // 20))
    # Running sums stay on the device (no host sync per step) and in the checkpoint, so a
    # resumed epoch reports the same averages as an uninterrupted one.
    sums = torch.tensor(s.sums, dtype=torch.float64, device=trainer.device)  # [loss, next, skip]
    t0 = time.perf_counter() - s.seconds
    for batch in bar:
        out = trainer.step(batch)
        sums += torch.stack([out["total"], out["next"], out["skip"]]).detach().double()
        s.batch += 1
        s.step += 1
        s.sessions += len(batch.rows)
        if s.batch % every == 0 and bar.disable is False:
            rate = s.sessions / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{float(sums[0]) / s.batch:.3f}", sess_s=f"{rate:,.0f}")
        if trainer.checkpoint_every and s.batch % trainer.checkpoint_every == 0:
            s.sums, s.seconds = sums.tolist(), time.perf_counter() - t0
            trainer._save("last.pt")
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


def broadcast_stop(trainer: Trainer, stopped: bool) -> bool:
    """Whether to stop, as the main process decided: the same answer on every process."""
    if trainer.dist.world == 1:
        return stopped
    import torch.distributed as dist

    flag = torch.tensor(
        [int(stopped)], device=trainer.device if trainer.device.type == "cuda" else "cpu"
    )
    dist.broadcast(flag, src=0)
    return bool(flag.item())
