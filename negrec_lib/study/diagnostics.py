"""What the first training steps do to the track table: the popularity-plateau diagnostic.

A recommender with tied input/output track embeddings first learns what is cheapest, popularity.
Whether it then leaves that plateau depends on how much of each track's identity survives the
first updates. Adam moves every weight by about the learning rate per step whatever the size of
its gradient, so a table initialised at N(0, 0.02) (``model.init=gpt``) has its random
identities overwritten within a few dozen steps (at lr 0.005 one step is a quarter of a typical
coordinate), while N(0, 1/d) (``scaled``, the default) keeps them. `first_steps` measures that;
the training chapter plots it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import ExperimentConfig
from ..tokens import N_RESERVED


def embedding_drift(start: Tensor, now: Tensor, n_pairs: int = 2000) -> dict[str, float]:
    """How far a [V, D] track table has moved from ``start`` and how alike its rows have become.

    Returns ``identity_kept``, the mean cosine between each track's row now and at the start
    (1: unchanged direction), and ``pairwise_cos``, the mean cosine between the rows of the first
    ``n_pairs`` tracks (0 for random vectors; it grows as rows align with a shared direction).
    Reserved ids are left out.

    >>> import torch
    >>> table = torch.randn(100, 8)
    >>> d = embedding_drift(table, table)
    >>> round(d["identity_kept"], 6)
    1.0
    >>> round(embedding_drift(table, table + 100.0)["pairwise_cos"], 2)   # all rows alike now
    1.0
    """
    a, b = start[N_RESERVED:].float(), now[N_RESERVED:].float()  # [V', D]
    kept = F.cosine_similarity(a, b, dim=1).mean()
    unit = F.normalize(b[:n_pairs], dim=1)  # [P, D]
    return {"identity_kept": float(kept), "pairwise_cos": float((unit @ unit.T).mean())}


def first_steps(
    cfg: ExperimentConfig, data: Any, steps: int = 150, every: int = 10, seed_batches: int = 0
) -> pd.DataFrame:
    """Train ``steps`` optimiser steps of ``cfg`` on ``data``, recording the track table's drift.

    The steps are `negrec_lib.train.Trainer.step`, the ones `fit` takes (in fp32). Returns one row
    per ``every`` steps (step 0 included): ``step``, the mean training ``loss`` since the previous
    row, and the two columns of `embedding_drift`. The run folder is temporary; nothing is written.
    """
    from ..train import Trainer

    cfg = cfg.override(["train.progress=false", "train.precision=fp32"])
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, data, out)
        model = trainer.model
        start = model.item_emb.weight.detach().clone()  # [V, D]
        batches = data.train_batches(
            cfg.train.batch_size, torch.Generator().manual_seed(cfg.train.seed + seed_batches)
        )
        losses: list[float] = []
        model.train()
        for step in range(steps + 1):
            if step % every == 0:
                loss = sum(losses) / len(losses) if losses else float("nan")
                rows.append(
                    {
                        "step": step,
                        "loss": loss,
                        **embedding_drift(start, model.item_emb.weight.detach()),
                    }
                )
                losses = []
            if step == steps:
                break
            try:
                batch = next(batches)
            except StopIteration:
                batches = data.train_batches(
                    cfg.train.batch_size, torch.Generator().manual_seed(cfg.train.seed + step)
                )
                batch = next(batches)
            res = trainer.step(batch)
            losses.append(float(res["total"].detach()))
    return pd.DataFrame(rows)


def drift_table(runs: dict[str, pd.DataFrame], at: Sequence[int]) -> pd.DataFrame:
    """`first_steps` runs side by side at the given steps: for each run its kept direction
    (``identity_kept``) and its pairwise cosine, one row per step."""
    cols = {}
    for name, df in runs.items():
        sel = df[df["step"].isin(list(at))].set_index("step")
        cols[f"{name}: kept direction"] = sel["identity_kept"]
        cols[f"{name}: pairwise cosine"] = sel["pairwise_cos"]
    return pd.DataFrame(cols).round(3)


def plateau_curves(runs: pd.DataFrame, metric: str = "valid_hr@10") -> pd.DataFrame:
    """Per variant and epoch: mean, min and max over seeds of a grid's per-epoch validation curve.

    ``runs`` is a results table written by `negrec experiment` (one row per run, the curve as a
    JSON list in ``<metric>_by_epoch``). Returns columns variant, epoch, mean, low, high, n.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"variant": ["a", "a"], "seed": [0, 1],
    ...                      "valid_hr@10_by_epoch": ["[0.1, 0.3]", "[0.2, 0.5]"]})
    >>> table = plateau_curves(runs)[["variant", "epoch", "mean", "low", "high"]]
    >>> print(table.to_string(index=False))
    variant  epoch  mean  low  high
          a      1  0.15  0.1   0.2
          a      2  0.40  0.3   0.5
    """
    import json

    col = f"{metric}_by_epoch"
    long = [
        {"variant": r["variant"], "seed": r["seed"], "epoch": e + 1, "value": v}
        for _, r in runs.iterrows()
        for e, v in enumerate(json.loads(r[col]))
        if v is not None
    ]
    df = pd.DataFrame(long)
    out = (
        df.groupby(["variant", "epoch"], sort=False)["value"]
        .agg(mean="mean", low="min", high="max", n="count")
        .reset_index()
    )
    return out
